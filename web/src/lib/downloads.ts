// What a stem (or all of them, as a ZIP) can be downloaded as: the API encodes each format once, on first request.

import type { StemRef } from "./api";

export interface DownloadChoice {
  id: string;
  label: string;
  ext: "wav" | "flac" | "mp3";
  bits: 16 | 24 | null;
  /** Why it cannot be had for this job (null: it can). */
  unavailable: string | null;
}

/** The formats on offer; 24-bit files only from a job whose stems were made at 24 bits (no zero padding). */
export function downloadChoices(storedBits: number): DownloadChoice[] {
  const no24 = storedBits >= 24 ? null : "This job's stems are 16-bit: split again with 24-bit stems for 24-bit files.";
  return [
    { id: "wav24", label: "WAV 24-bit", ext: "wav", bits: 24, unavailable: no24 },
    { id: "wav16", label: "WAV 16-bit", ext: "wav", bits: 16, unavailable: null },
    { id: "flac24", label: "FLAC 24-bit", ext: "flac", bits: 24, unavailable: no24 },
    { id: "flac16", label: "FLAC 16-bit", ext: "flac", bits: 16, unavailable: null },
    { id: "mp3", label: "MP3 320 kbps", ext: "mp3", bits: null, unavailable: null },
  ];
}

function withQuery(url: string, params: Record<string, string>): string {
  const q = new URLSearchParams(params).toString();
  return q ? `${url}${url.includes("?") ? "&" : "?"}${q}` : url;
}

export function stemFileUrl(stem: StemRef, choice: DownloadChoice): string {
  const url = stem.urls[choice.ext] ?? stem.url;
  return choice.bits ? withQuery(url, { bits: String(choice.bits) }) : url;
}

export function archiveUrl(base: string, choice: DownloadChoice): string {
  return withQuery(base, { format: choice.ext, ...(choice.bits ? { bits: String(choice.bits) } : {}) });
}

export function downloadName(base: string, stem: string, choice: DownloadChoice): string {
  return `${base}-${stem}.${choice.ext}`;
}
