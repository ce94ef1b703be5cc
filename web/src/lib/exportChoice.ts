// Where "Export mix" renders: on the server when it is enabled and estimated faster, else in the browser.
// The rates were measured on a 4:33 song (4 stems): the server mixes and writes a WAV in ~1 s and an MP3 in
// ~1.4 s; the browser fetches and decodes the WAVs, renders (~60x realtime) and encodes MP3 with lamejs (~12x).

import { formatDb } from "./mixer";
import type { PeakControl, PeakFacts } from "./peakControl";

export type Renderer = "server" | "browser";
export type RenderChoice = "auto" | Renderer;

export const SERVER_OVERHEAD_S = 1.5; // submit, queue, polls, fetching the file
export const SERVER_RATE = 250; // x realtime, WAV
export const SERVER_MP3_RATE = 190;
export const BROWSER_RATE = 60; // decode + render
export const BROWSER_MP3_RATE = 12; // + lamejs
export const WAV_BYTES_PER_S = 44100 * 2 * 2; // one 16-bit stereo stem
export const ASSUMED_DOWNLOAD_BPS = 25e6;

export function estimateSeconds(where: Renderer, durationS: number, stems: number, format: "wav" | "mp3", bytesPerSecond = ASSUMED_DOWNLOAD_BPS): number {
  if (where === "server") return SERVER_OVERHEAD_S + durationS / (format === "mp3" ? SERVER_MP3_RATE : SERVER_RATE);
  const download = (durationS * WAV_BYTES_PER_S * stems) / Math.max(1, bytesPerSecond);
  return download + durationS / BROWSER_RATE + (format === "mp3" ? durationS / BROWSER_MP3_RATE : 0);
}

export function chooseRenderer(o: {
  choice: RenderChoice;
  serverEnabled: boolean;
  durationS: number;
  stems: number;
  format: "wav" | "mp3";
  bytesPerSecond?: number;
}): { where: Renderer; why: string } {
  if (o.choice === "browser") return { where: "browser", why: "in your browser, as you chose" };
  if (!o.serverEnabled) return { where: "browser", why: "in your browser: this server does not render mixes" };
  if (o.choice === "server") return { where: "server", why: "on the server, as you chose" };
  const server = estimateSeconds("server", o.durationS, o.stems, o.format, o.bytesPerSecond);
  const browser = estimateSeconds("browser", o.durationS, o.stems, o.format, o.bytesPerSecond);
  return server < browser
    ? { where: "server", why: `on the server: about ${fmt(server)} against ${fmt(browser)} in your browser` }
    : { where: "browser", why: `in your browser: about ${fmt(browser)} against ${fmt(server)} on the server` };
}

function fmt(s: number): string {
  return s < 10 ? `${s.toFixed(1)} s` : `${Math.round(s)} s`;
}

function dbfs(v: number): string {
  return formatDb(v).replace("dB", "dBFS");
}

/** What an export did, in a sentence: where, how long, and what happened to the peaks. */
export function describeResult(name: string, where: Renderer, seconds: number, facts: PeakFacts, control: PeakControl): string {
  const place = where === "server" ? "on the server" : "in your browser";
  const head = `Saved ${name} (rendered ${place} in ${seconds.toFixed(1)} s).`;
  if (control === "off") {
    return facts.clippedSamples
      ? `${head} ${facts.clippedSamples.toLocaleString("en")} samples clipped (peak ${dbfs(facts.peak)}).`
      : `${head} Peak ${dbfs(facts.peak)}, nothing clipped.`;
  }
  const what = control === "limit" ? "limiter" : `normalised by ${formatDb(10 ** ((facts.gainDb ?? 0) / 20))}`;
  const clipped = facts.outputClippedSamples ? `${facts.outputClippedSamples.toLocaleString("en")} samples clipped` : "nothing clipped";
  return `${head} Mix peak ${dbfs(facts.peak)} → ${dbfs(facts.outputPeak)} (${what}), ${clipped}.`;
}
