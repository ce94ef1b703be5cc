// A player of whole decoded files (the speech page's A/B player: short takes): every file is decoded to an
// AudioBuffer and played by its own AudioBufferSourceNode, all started at the same AudioContext time
// (sample-synchronised), on the mixer's graph (mixBus.ts). The stems mixer streams instead (audioEngine.ts).

import { apiBytes } from "./api";
import { type LoopRegion, type MixState, playheadPosition } from "./mixer";
import { MixBus, sameLoop, type BusLane } from "./mixBus";
import type { LoadedStem } from "./render";

interface Lane extends BusLane {
  buffer: AudioBuffer;
  source: AudioBufferSourceNode | null;
}

export interface BufferSnapshot {
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

export class BufferMixerEngine extends MixBus {
  protected declare lanes: Lane[];
  private mix: MixState | null = null;
  private startedAt = 0; // ctx time when playback (at `offset`) starts
  private offset = 0;
  private lastStart: BufferSnapshot["lastStart"] = null;
  private endTimer: ReturnType<typeof setTimeout> | null = null;
  onEnded: (() => void) | null = null;

  constructor(ctx?: AudioContext) {
    super(ctx ?? new AudioContext({ latencyHint: "interactive" }));
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
    this.dropLanes();
    this.duration = 0;
    for (const { name, buffer } of stems) {
      this.lanes.push({ ...this.makeLane(name), buffer, source: null });
      this.duration = Math.max(this.duration, buffer.duration);
    }
    if (this.mix) this.applyMix(this.mix);
  }

  buffers(): LoadedStem[] {
    return this.lanes.map(({ name, buffer }) => ({ name, buffer }));
  }

  applyMix(mix: MixState): void {
    const prevLoop = this.mix?.loop ?? null;
    const pos = this.position();
    this.mix = mix;
    this.setGains(mix);
    if (!sameLoop(prevLoop, mix.loop) && this.playing) {
      // Restart every source together with the new loop points (keeps them in sync).
      void this.play(pos);
    }
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
    for (const lane of this.lanes) {
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

  protected park(t: number): void {
    this.offset = t;
  }

  stop(): void {
    this.stopSources();
    this.playing = false;
    this.offset = 0;
  }

  snapshot(): BufferSnapshot {
    const stems: BufferSnapshot["stems"] = {};
    for (const lane of this.lanes) {
      stems[lane.name] = {
        gain: lane.gain.gain.value,
        pan: lane.panner.pan.value,
        channels: lane.buffer.numberOfChannels,
        length: lane.buffer.length,
      };
    }
    return {
      ...this.transportSnapshot(this.position(), this.mix?.loop ?? null),
      stems,
      lastStart: this.lastStart,
    };
  }

  async dispose(): Promise<void> {
    this.stop();
    await this.closeContext();
  }

  private stopSources(): void {
    if (this.endTimer) clearTimeout(this.endTimer);
    this.endTimer = null;
    for (const lane of this.lanes) {
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
