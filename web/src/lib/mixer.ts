// Pure mixer rules, shared by the live Web Audio graph, the offline (export) render and the
// server's "render on server" (src/burntbeats/separation/mixdown.py implements the same rules).

export interface StemSettings {
  /** Linear gain, 0..MAX_GAIN (1 = unchanged). */
  gain: number;
  /** -1 = hard left, 0 = centre, 1 = hard right (StereoPannerNode, equal power). */
  pan: number;
  mute: boolean;
  solo: boolean;
}

export interface LoopRegion {
  start: number;
  end: number;
}

export interface MixState {
  stems: Record<string, StemSettings>;
  master: number;
  loop: LoopRegion | null;
}

export const MAX_GAIN = 4;
export const MIN_LOOP_S = 0.05;

export const DEFAULT_STEM: StemSettings = { gain: 1, pan: 0, mute: false, solo: false };

export function clamp(value: number, lo: number, hi: number): number {
  if (Number.isNaN(value)) return lo;
  return Math.min(hi, Math.max(lo, value));
}

export function defaultMix(names: readonly string[]): MixState {
  const stems: Record<string, StemSettings> = {};
  for (const name of names) stems[name] = { ...DEFAULT_STEM };
  return { stems, master: 1, loop: null };
}

/** Keep saved settings for the stems that exist, defaults for new ones, drop unknown ones. */
export function reconcileMix(saved: Partial<MixState> | null | undefined, names: readonly string[]): MixState {
  const base = defaultMix(names);
  if (!saved || typeof saved !== "object") return base;
  for (const name of names) {
    const s = saved.stems?.[name];
    if (s) {
      base.stems[name] = {
        gain: clamp(Number(s.gain ?? 1), 0, MAX_GAIN),
        pan: clamp(Number(s.pan ?? 0), -1, 1),
        mute: Boolean(s.mute),
        solo: Boolean(s.solo),
      };
    }
  }
  base.master = clamp(Number(saved.master ?? 1), 0, MAX_GAIN);
  const loop = saved.loop;
  base.loop = loop && loop.end - loop.start >= MIN_LOOP_S ? { start: loop.start, end: loop.end } : null;
  return base;
}

export function anySolo(stems: Record<string, StemSettings>): boolean {
  return Object.values(stems).some((s) => s.solo);
}

/** Mute always wins; when any stem is soloed, only soloed stems are heard. */
export function isAudible(stem: StemSettings, soloActive: boolean): boolean {
  return !stem.mute && (!soloActive || stem.solo);
}

/** The gain each stem's GainNode gets: its own gain when audible, else 0. */
export function effectiveGains(stems: Record<string, StemSettings>): Record<string, number> {
  const soloActive = anySolo(stems);
  const out: Record<string, number> = {};
  for (const [name, s] of Object.entries(stems)) out[name] = isAudible(s, soloActive) ? clamp(s.gain, 0, MAX_GAIN) : 0;
  return out;
}

/**
 * The StereoPannerNode panning law (Web Audio spec), as a matrix: out[L,R] = sum_i in[i] * m[i].
 * Rows are input channels (1 for mono, 2 for stereo), columns the L and R outputs.
 */
export function panMatrix(pan: number, channels: 1 | 2): number[][] {
  const p = clamp(pan, -1, 1);
  if (channels === 1) {
    const x = (p + 1) / 2;
    return [[Math.cos((x * Math.PI) / 2), Math.sin((x * Math.PI) / 2)]];
  }
  if (p <= 0) {
    const x = p + 1;
    // outL = inL + inR * gainL ; outR = inR * gainR
    return [
      [1, 0],
      [Math.cos((x * Math.PI) / 2), Math.sin((x * Math.PI) / 2)],
    ];
  }
  // outL = inL * gainL ; outR = inR + inL * gainR
  return [
    [Math.cos((p * Math.PI) / 2), Math.sin((p * Math.PI) / 2)],
    [0, 1],
  ];
}

/** Reference mix of plain sample arrays (what the graph computes); used by tests to pin the rules. */
export function mixSamples(
  stems: Record<string, Float32Array[]>,
  mix: MixState,
): [Float32Array, Float32Array] {
  const length = Math.max(0, ...Object.values(stems).map((ch) => ch[0]?.length ?? 0));
  const left = new Float32Array(length);
  const right = new Float32Array(length);
  const gains = effectiveGains(mix.stems);
  for (const [name, channels] of Object.entries(stems)) {
    const g = (gains[name] ?? 0) * mix.master;
    if (g === 0) continue;
    const m = panMatrix(mix.stems[name]?.pan ?? 0, channels.length >= 2 ? 2 : 1);
    for (let ci = 0; ci < m.length; ci++) {
      const data = channels[ci];
      for (let i = 0; i < data.length; i++) {
        left[i] += data[i] * m[ci][0] * g;
        right[i] += data[i] * m[ci][1] * g;
      }
    }
  }
  return [left, right];
}

export function toggleMute(mix: MixState, name: string): MixState {
  return updateStem(mix, name, { mute: !mix.stems[name]?.mute });
}

export function toggleSolo(mix: MixState, name: string): MixState {
  return updateStem(mix, name, { solo: !mix.stems[name]?.solo });
}

export function updateStem(mix: MixState, name: string, patch: Partial<StemSettings>): MixState {
  const current = mix.stems[name] ?? DEFAULT_STEM;
  const next: StemSettings = { ...current, ...patch };
  next.gain = clamp(next.gain, 0, MAX_GAIN);
  next.pan = clamp(next.pan, -1, 1);
  return { ...mix, stems: { ...mix.stems, [name]: next } };
}

/** A loop region from two times (any order), clamped to [0, duration]; null if too short. */
export function makeLoop(a: number, b: number, duration: number): LoopRegion | null {
  const start = clamp(Math.min(a, b), 0, duration);
  const end = clamp(Math.max(a, b), 0, duration);
  return end - start >= MIN_LOOP_S ? { start, end } : null;
}

/** Where the playhead is after `elapsed` seconds from `offset`, wrapping inside a loop. */
export function playheadPosition(offset: number, elapsed: number, duration: number, loop: LoopRegion | null): number {
  const t = offset + Math.max(0, elapsed);
  if (loop && offset < loop.end && t >= loop.end) {
    const len = loop.end - loop.start;
    return loop.start + ((t - loop.start) % len);
  }
  return Math.min(t, duration);
}

export function gainToDb(gain: number): number {
  return gain <= 0 ? -Infinity : 20 * Math.log10(gain);
}

export function formatDb(gain: number): string {
  const db = gainToDb(gain);
  return Number.isFinite(db) ? `${db >= 0 ? "+" : ""}${db.toFixed(1)} dB` : "-inf dB";
}

export function formatTime(seconds: number): string {
  const s = Math.max(0, seconds);
  const m = Math.floor(s / 60);
  const rest = s - m * 60;
  return `${m}:${rest.toFixed(1).padStart(4, "0")}`;
}

/** The body "render on server" posts (POST /api/stems/server-export). */
export function serverExportBody(jobId: string, token: string, format: "wav" | "mp3", mix: MixState) {
  return { job_id: jobId, job_token: token, format, stems: mix.stems, master_gain: mix.master };
}

/** Loop in ("I") at `t`: keeps the loop's end if it is after `t`, else loops from `t` to the end. */
export function setLoopIn(loop: LoopRegion | null, t: number, duration: number): LoopRegion | null {
  return makeLoop(t, loop && loop.end - t >= MIN_LOOP_S ? loop.end : duration, duration);
}

/** Loop out ("O") at `t`: keeps the loop's start if it is before `t`, else loops from the start to `t`. */
export function setLoopOut(loop: LoopRegion | null, t: number, duration: number): LoopRegion | null {
  return makeLoop(loop && t - loop.start >= MIN_LOOP_S ? loop.start : 0, t, duration);
}

export const SEEK_STEP_S = 5;
export const SEEK_FINE_S = 1;

/** Where a transport key moves the playhead (null: not a seek key). Arrows: 5 s (Shift: 1 s); Home / End. */
export function seekTarget(key: string, shift: boolean, position: number, duration: number): number | null {
  const step = shift ? SEEK_FINE_S : SEEK_STEP_S;
  switch (key) {
    case "ArrowLeft":
    case "ArrowDown":
      return clamp(position - step, 0, duration);
    case "ArrowRight":
    case "ArrowUp":
      return clamp(position + step, 0, duration);
    case "Home":
      return 0;
    case "End":
      return duration;
    default:
      return null;
  }
}
