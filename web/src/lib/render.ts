// Export in the browser: fetch and decode the stems' WAVs, render the current mix with an OfflineAudioContext
// (the same graph and rules as the live mixer), then encode it as WAV (wavefile) or MP3 (lamejs).

import { WaveFile } from "wavefile";
import { apiBytes } from "./api";
import { effectiveGains, type MixState } from "./mixer";

export interface LoadedStem {
  name: string;
  buffer: AudioBuffer;
}

/** The stems' WAVs decoded at their own rate (one at a time, so only one WAV's bytes are held at once). */
export async function fetchStems(
  stems: { name: string; url: string }[],
  sampleRate: number,
  onProgress?: (done: number, total: number) => void,
  signal?: AbortSignal,
): Promise<LoadedStem[]> {
  const decoder = new OfflineAudioContext({ numberOfChannels: 2, length: 1, sampleRate });
  const out: LoadedStem[] = [];
  for (const { name, url } of stems) {
    onProgress?.(out.length, stems.length);
    out.push({ name, buffer: await decoder.decodeAudioData(await apiBytes(url, signal)) });
  }
  onProgress?.(out.length, stems.length);
  return out;
}

export async function renderMix(stems: LoadedStem[], mix: MixState): Promise<AudioBuffer> {
  if (!stems.length) throw new Error("There are no stems to render.");
  const sampleRate = stems[0].buffer.sampleRate;
  const length = Math.max(...stems.map((s) => Math.round(s.buffer.duration * sampleRate)));
  const ctx = new OfflineAudioContext({ numberOfChannels: 2, length, sampleRate });
  const master = ctx.createGain();
  master.gain.value = mix.master;
  master.connect(ctx.destination);
  const gains = effectiveGains(mix.stems);
  for (const { name, buffer } of stems) {
    const g = gains[name] ?? 0;
    if (g === 0) continue;
    const src = ctx.createBufferSource();
    src.buffer = buffer;
    const gain = ctx.createGain();
    gain.gain.value = g;
    const panner = ctx.createStereoPanner();
    panner.pan.value = mix.stems[name]?.pan ?? 0;
    src.connect(gain).connect(panner).connect(master);
    src.start(0);
  }
  return ctx.startRendering();
}

/** Float samples -> 16-bit integers (clipped), the input both encoders take. */
export function floatTo16(data: Float32Array): Int16Array {
  const out = new Int16Array(data.length);
  for (let i = 0; i < data.length; i++) {
    const v = Math.max(-1, Math.min(1, data[i]));
    out[i] = v < 0 ? Math.round(v * 0x8000) : Math.round(v * 0x7fff);
  }
  return out;
}

function channels16(buffer: AudioBuffer): Int16Array[] {
  const chans: Int16Array[] = [];
  for (let c = 0; c < Math.min(2, buffer.numberOfChannels); c++) chans.push(floatTo16(buffer.getChannelData(c)));
  return chans;
}

export function encodeWav(buffer: AudioBuffer): Uint8Array {
  const wav = new WaveFile();
  const chans = channels16(buffer);
  wav.fromScratch(chans.length, buffer.sampleRate, "16", chans);
  return wav.toBuffer();
}

const MP3_BLOCK = 1152;

export async function encodeMp3(buffer: AudioBuffer, kbps = 192, onProgress?: (f: number) => void): Promise<Uint8Array> {
  const { Mp3Encoder } = await import("@breezystack/lamejs"); // large: loaded on first MP3 export
  const chans = channels16(buffer);
  const encoder = new Mp3Encoder(chans.length, buffer.sampleRate, kbps);
  const parts: Uint8Array[] = [];
  const total = chans[0].length;
  for (let i = 0; i < total; i += MP3_BLOCK) {
    const left = chans[0].subarray(i, i + MP3_BLOCK);
    const right = chans[1]?.subarray(i, i + MP3_BLOCK);
    const out = right ? encoder.encodeBuffer(left, right) : encoder.encodeBuffer(left);
    if (out.length) parts.push(new Uint8Array(out));
    if (i % (MP3_BLOCK * 200) === 0) {
      onProgress?.(i / total);
      await new Promise((r) => setTimeout(r, 0)); // keep the page responsive
    }
  }
  const tail = encoder.flush();
  if (tail.length) parts.push(new Uint8Array(tail));
  onProgress?.(1);
  return concat(parts);
}

export function concat(parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

/** Offer bytes as a download (an <a download> click). */
export function saveBytes(data: Uint8Array | Blob, filename: string, type = "application/octet-stream"): void {
  const blob = data instanceof Blob ? data : new Blob([data as BlobPart], { type });
  const url = URL.createObjectURL(blob);
  const a = document.createElement("a");
  a.href = url;
  a.download = filename;
  a.style.display = "none";
  document.body.appendChild(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 60_000);
}

/** Turn a display name into a safe download base name. */
export function baseName(name: string | null | undefined, fallback = "burntbeats"): string {
  const stem = (name ?? "").replace(/\.[^.]+$/, "");
  const safe = stem.replace(/[^A-Za-z0-9._ -]+/g, "_").trim();
  return safe || fallback;
}
