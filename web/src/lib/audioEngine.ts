// The live mixer: every stem is decoded to an AudioBuffer and played by its own
// AudioBufferSourceNode, all started at the same AudioContext time (sample-synchronised).
//   source -> gain (effective: gain x solo/mute) -> StereoPanner -> master gain -> analyser -> speakers
// Waveforms (wavesurfer.js) only draw; they never play audio.

import { apiBytes } from "./api";
import { effectiveGains, type LoopRegion, type MixState, playheadPosition } from "./mixer";

export interface LoadedStem {
  name: string;
  buffer: AudioBuffer;
}

interface Lane {
  name: string;
  buffer: AudioBuffer;
  gain: GainNode;
  panner: StereoPannerNode;
  source: AudioBufferSourceNode | null;
}

export interface MixerSnapshot {
  state: AudioContextState;
  playing: boolean;
  position: number;
  duration: number;
  sampleRate: number;
  master: number;
  loop: LoopRegion | null;
  stems: Record<string, { gain: number; pan: number; channels: number; length: number }>;
  /** The AudioContext time every source of the last play() was started at (one value = in sync). */
  lastStart: { when: number; offset: number; sources: number; startTimes: number[] } | null;
}

const START_LATENCY_S = 0.06;

export class MixerEngine {
  readonly ctx: AudioContext;
  private lanes = new Map<string, Lane>();
  private masterGain: GainNode;
  readonly analyser: AnalyserNode;
  private mix: MixState | null = null;
  private playing = false;
  private startedAt = 0; // ctx time when playback (at `offset`) starts
  private offset = 0;
  private lastStart: MixerSnapshot["lastStart"] = null;
  private endTimer: ReturnType<typeof setTimeout> | null = null;
  duration = 0;
  onEnded: (() => void) | null = null;

  constructor(ctx?: AudioContext) {
    this.ctx = ctx ?? new AudioContext({ latencyHint: "interactive" });
    this.masterGain = this.ctx.createGain();
    this.analyser = this.ctx.createAnalyser();
    this.analyser.fftSize = 2048;
    this.masterGain.connect(this.analyser);
    this.analyser.connect(this.ctx.destination);
  }

  /** Download and decode every stem (in parallel). */
  async load(
    stems: { name: string; url: string }[],
    onProgress?: (done: number, total: number) => void,
    signal?: AbortSignal,
  ): Promise<LoadedStem[]> {
    let done = 0;
    const loaded = await Promise.all(
      stems.map(async ({ name, url }) => {
        const bytes = await apiBytes(url, signal);
        const buffer = await this.ctx.decodeAudioData(bytes);
        onProgress?.(++done, stems.length);
        return { name, buffer };
      }),
    );
    this.setBuffers(loaded);
    return loaded;
  }

  setBuffers(stems: LoadedStem[]): void {
    this.stop();
    for (const lane of this.lanes.values()) {
      lane.gain.disconnect();
      lane.panner.disconnect();
    }
    this.lanes.clear();
    this.duration = 0;
    for (const { name, buffer } of stems) {
      const gain = this.ctx.createGain();
      const panner = this.ctx.createStereoPanner();
      gain.connect(panner);
      panner.connect(this.masterGain);
      this.lanes.set(name, { name, buffer, gain, panner, source: null });
      this.duration = Math.max(this.duration, buffer.duration);
    }
    if (this.mix) this.applyMix(this.mix);
  }

  buffers(): LoadedStem[] {
    return [...this.lanes.values()].map(({ name, buffer }) => ({ name, buffer }));
  }

  applyMix(mix: MixState): void {
    const prevLoop = this.mix?.loop ?? null;
    const pos = this.position();
    this.mix = mix;
    const gains = effectiveGains(mix.stems);
    for (const lane of this.lanes.values()) {
      lane.gain.gain.value = gains[lane.name] ?? 0;
      lane.panner.pan.value = mix.stems[lane.name]?.pan ?? 0;
    }
    this.masterGain.gain.value = mix.master;
    if (!sameLoop(prevLoop, mix.loop) && this.playing) {
      // Restart every source together with the new loop points (keeps them in sync).
      void this.play(pos);
    }
  }

  get isPlaying(): boolean {
    return this.playing;
  }

  position(): number {
    if (!this.playing) return this.offset;
    return playheadPosition(this.offset, this.ctx.currentTime - this.startedAt, this.duration, this.mix?.loop ?? null);
  }

  async play(from?: number): Promise<void> {
    if (this.ctx.state === "suspended") await this.ctx.resume();
    this.stopSources();
    let offset = Math.max(0, Math.min(from ?? this.offset, this.duration));
    const loop = this.mix?.loop ?? null;
    if (loop && (offset >= loop.end || offset >= this.duration)) offset = loop.start;
    if (!loop && offset >= this.duration - 0.01) offset = 0;
    const when = this.ctx.currentTime + START_LATENCY_S;
    const startTimes: number[] = [];
    for (const lane of this.lanes.values()) {
      const src = this.ctx.createBufferSource();
      src.buffer = lane.buffer;
      if (loop) {
        src.loop = true;
        src.loopStart = loop.start;
        src.loopEnd = loop.end;
      }
      src.connect(lane.gain);
      src.start(when, offset);
      startTimes.push(when);
      lane.source = src;
    }
    this.startedAt = when;
    this.offset = offset;
    this.playing = true;
    this.lastStart = { when, offset, sources: startTimes.length, startTimes };
    this.scheduleEnd();
  }

  pause(): void {
    if (!this.playing) return;
    this.offset = this.position();
    this.stopSources();
    this.playing = false;
  }

  async toggle(): Promise<void> {
    if (this.playing) this.pause();
    else await this.play();
  }

  async seek(time: number): Promise<void> {
    const t = Math.max(0, Math.min(time, this.duration));
    if (this.playing) await this.play(t);
    else this.offset = t;
  }

  stop(): void {
    this.stopSources();
    this.playing = false;
    this.offset = 0;
  }

  /** Peak and RMS (linear, 0..1+) of what the master outputs right now. */
  meter(): { peak: number; rms: number } {
    const data = new Float32Array(this.analyser.fftSize);
    this.analyser.getFloatTimeDomainData(data);
    let peak = 0;
    let sum = 0;
    for (const v of data) {
      const a = Math.abs(v);
      if (a > peak) peak = a;
      sum += v * v;
    }
    return { peak, rms: Math.sqrt(sum / data.length) };
  }

  snapshot(): MixerSnapshot {
    const stems: MixerSnapshot["stems"] = {};
    for (const lane of this.lanes.values()) {
      stems[lane.name] = {
        gain: lane.gain.gain.value,
        pan: lane.panner.pan.value,
        channels: lane.buffer.numberOfChannels,
        length: lane.buffer.length,
      };
    }
    return {
      state: this.ctx.state,
      playing: this.playing,
      position: this.position(),
      duration: this.duration,
      sampleRate: this.ctx.sampleRate,
      master: this.masterGain.gain.value,
      loop: this.mix?.loop ?? null,
      stems,
      lastStart: this.lastStart,
    };
  }

  async dispose(): Promise<void> {
    this.stop();
    if (this.ctx.state !== "closed") await this.ctx.close();
  }

  private stopSources(): void {
    if (this.endTimer) clearTimeout(this.endTimer);
    this.endTimer = null;
    for (const lane of this.lanes.values()) {
      if (lane.source) {
        lane.source.onended = null;
        try {
          lane.source.stop();
        } catch {
          /* never started */
        }
        lane.source.disconnect();
        lane.source = null;
      }
    }
  }

  private scheduleEnd(): void {
    if (this.mix?.loop) return;
    const remaining = this.duration - this.offset + START_LATENCY_S;
    this.endTimer = setTimeout(() => {
      if (!this.playing) return;
      this.stopSources();
      this.playing = false;
      this.offset = 0;
      this.onEnded?.();
    }, remaining * 1000 + 30);
  }
}

function sameLoop(a: LoopRegion | null, b: LoopRegion | null): boolean {
  return (a === null && b === null) || (!!a && !!b && a.start === b.start && a.end === b.end);
}

/** Min/max peaks per pixel-bucket for wavesurfer (it only draws; this avoids a second decode). */
export function computePeaks(buffer: AudioBuffer, buckets = 2000): Float32Array[] {
  const out: Float32Array[] = [];
  const channels = Math.min(2, buffer.numberOfChannels);
  const n = Math.max(1, Math.min(buckets, buffer.length));
  const size = buffer.length / n;
  for (let c = 0; c < channels; c++) {
    const data = buffer.getChannelData(c);
    const peaks = new Float32Array(n);
    for (let i = 0; i < n; i++) {
      const from = Math.floor(i * size);
      const to = Math.min(data.length, Math.floor((i + 1) * size));
      let max = 0;
      for (let j = from; j < to; j++) {
        const v = data[j];
        if (v > max) max = v;
        else if (-v > max) max = -v;
      }
      peaks[i] = max;
    }
    out.push(peaks);
  }
  return out;
}
