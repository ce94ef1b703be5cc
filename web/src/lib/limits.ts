// The server's upload limits (GET /api/limits), shown next to every file picker before anything is sent,
// and the same check on the chosen files' sizes (the duration is only known once the server decodes it).

import { useEffect, useState } from "react";
import { api, type Schemas } from "./api";

export type Limits = Schemas["LimitsPublic"];
/** Which size limit applies: clean speech has its own (SPEECH_MAX_UPLOAD_MB). */
export type UploadFamily = "speech" | "default";

let cached: Promise<Limits> | null = null;

export function getLimits(): Promise<Limits> {
  cached ??= api<Limits>("/api/limits").catch((err) => {
    cached = null; // try again next time
    throw err;
  });
  return cached;
}

/** The limits once loaded (null before, or when the server could not say). */
export function useLimits(): Limits | null {
  const [limits, setLimits] = useState<Limits | null>(null);
  useEffect(() => {
    let stop = false;
    getLimits().then(
      (l) => !stop && setLimits(l),
      () => undefined, // the upload itself still reports a limit it hits
    );
    return () => {
      stop = true;
    };
  }, []);
  return limits;
}

export function maxUploadMb(limits: Limits, family: UploadFamily): number {
  return family === "speech" ? limits.speech_max_upload_mb : limits.max_upload_mb;
}

/** "90 seconds", "30 minutes", "1.5 hours". */
export function formatDuration(seconds: number): string {
  const trim = (v: number) => String(Math.round(v * 10) / 10);
  if (seconds < 120) return `${trim(seconds)} seconds`;
  if (seconds < 2 * 3600) return `${trim(seconds / 60)} minutes`;
  return `${trim(seconds / 3600)} hours`;
}

export function formatMb(bytes: number): string {
  const mb = bytes / (1024 * 1024);
  return mb >= 10 ? `${Math.round(mb)} MB` : `${Math.round(mb * 10) / 10} MB`;
}

/** The sentence shown under a file picker. */
export function limitText(limits: Limits, family: UploadFamily, multiple = false): string {
  const mb = maxUploadMb(limits, family);
  const duration = formatDuration(limits.max_duration_s);
  if (multiple) {
    return `Up to ${mb} MB in all (${limits.midi_max_batch_items} files at most), ${duration} per file.`;
  }
  return `Up to ${mb} MB and ${duration} per file.`;
}

/** Null when the chosen files fit the size limit, else the sentence saying which one does not. */
export function sizeProblem(files: readonly { name: string; size: number }[], limits: Limits, family: UploadFamily): string | null {
  const max = maxUploadMb(limits, family) * 1024 * 1024;
  const big = files.find((f) => f.size > max);
  if (big) return `${big.name} is ${formatMb(big.size)}; this server takes uploads up to ${maxUploadMb(limits, family)} MB.`;
  const total = files.reduce((n, f) => n + f.size, 0);
  if (files.length > 1 && total > max) {
    return `These ${files.length} files are ${formatMb(total)} together; one upload may be up to ${maxUploadMb(limits, family)} MB.`;
  }
  if (files.length > 1 && files.length > limits.midi_max_batch_items) {
    return `That is ${files.length} files; a batch takes at most ${limits.midi_max_batch_items}.`;
  }
  return null;
}
