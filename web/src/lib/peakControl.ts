// Peak control of a rendered mix, for the browser's export: the same look-ahead limiter and normalisation to
// -1 dBFS as the server's (src/burntbeats/audio/limiter.py, whose docstring has the formulas).

export type PeakControl = "off" | "limit" | "normalize";

export const CEILING_DB = -1;
export const CEILING = 10 ** (CEILING_DB / 20);
export const LOOKAHEAD_S = 0.005;
export const HOLD_S = 0.05;

export interface PeakFacts {
  /** The mix's peak and its samples over full scale, before peak control. */
  peak: number;
  clippedSamples: number;
  /** The same, of what is written. */
  outputPeak: number;
  outputClippedSamples: number;
  gainDb?: number;
}

/** out[i] = min(a[i .. i + width - 1]) for every full window (van Herk / Gil-Werman, O(n)). */
export function windowMin(a: Float64Array, width: number): Float64Array {
  const n = a.length;
  if (width <= 1) return a.slice();
  if (n < width) return new Float64Array(0);
  const prefix = new Float64Array(n);
  const suffix = new Float64Array(n);
  for (let b = 0; b < n; b += width) {
    const end = Math.min(n, b + width);
    prefix[b] = a[b];
    for (let i = b + 1; i < end; i++) prefix[i] = Math.min(prefix[i - 1], a[i]);
    suffix[end - 1] = a[end - 1];
    for (let i = end - 2; i >= b; i--) suffix[i] = Math.min(suffix[i + 1], a[i]);
  }
  const out = new Float64Array(n - width + 1);
  for (let i = 0; i < out.length; i++) out[i] = Math.min(suffix[i], prefix[i + width - 1]);
  return out;
}

function peakOf(channels: Float32Array[]): { peak: number; over: number } {
  let peak = 0;
  let over = 0;
  for (const ch of channels) {
    for (let i = 0; i < ch.length; i++) {
      const a = Math.abs(ch[i]);
      if (a > peak) peak = a;
      if (a > 1) over++;
    }
  }
  return { peak, over };
}

/** The limiter's gain for every frame of the channels (1 where nothing is near the ceiling). */
export function limiterGain(channels: Float32Array[], sampleRate: number, ceiling = CEILING): Float64Array {
  const n = channels[0]?.length ?? 0;
  const look = Math.max(1, Math.round(LOOKAHEAD_S * sampleRate));
  const hold = Math.max(0, Math.round(HOLD_S * sampleRate));
  const before = look - 1 + hold;
  const r = new Float64Array(n + before + look - 1).fill(1);
  for (let i = 0; i < n; i++) {
    let a = 0;
    for (const ch of channels) a = Math.max(a, Math.abs(ch[i]));
    if (a > ceiling) r[before + i] = ceiling / a;
  }
  const m = windowMin(r, hold + look);
  const g = new Float64Array(n);
  let sum = 0;
  for (let i = 0; i < m.length; i++) {
    sum += m[i];
    if (i >= look) sum -= m[i - look];
    if (i >= look - 1) g[i - look + 1] = Math.min(1, sum / look);
  }
  return g;
}

/** Apply peak control in place; returns the facts the export reports. */
export function applyPeakControl(channels: Float32Array[], sampleRate: number, mode: PeakControl): PeakFacts {
  const before = peakOf(channels);
  let gainDb: number | undefined;
  if (mode === "limit") {
    const g = limiterGain(channels, sampleRate);
    for (const ch of channels) for (let i = 0; i < ch.length; i++) ch[i] *= g[i];
  } else if (mode === "normalize" && before.peak > 0) {
    const gain = CEILING / before.peak;
    gainDb = 20 * Math.log10(gain);
    for (const ch of channels) for (let i = 0; i < ch.length; i++) ch[i] *= gain;
  }
  const after = mode === "off" ? before : peakOf(channels);
  return { peak: before.peak, clippedSamples: before.over, outputPeak: after.peak, outputClippedSamples: after.over, gainDb };
}
