// The live mixer. Each stem plays from its compressed playback rendition (stemStream.ts): 5-second Opus
// segments decoded just ahead of the playhead, so playback starts once the first segment of every stem is in,
// long before the files are, and memory stays flat in song length. For every piece of the timeline
// (playbackPlan.ts) one AudioBufferSourceNode per stem is started at the same AudioContext frame: the stems
// are sample-synchronised, and a loop wraps every stem on the same frame.
//   source -> gain (effective: gain x solo/mute) -> StereoPanner -> master gain -> analyser -> speakers
// Waveforms are drawn from the server's peaks; nothing here decodes a WAV.

import { api } from "./api";
import type { LoopRegion, MixState } from "./mixer";
import { MixBus, sameLoop, type BusLane } from "./mixBus";
import {
  advance,
  frameAt,
  nextPiece,
  segmentAt,
  totalFrames,
  upcomingSegments,
  type Cursor,
  type FrameLoop,
  type Piece,
  type Segment,
} from "./playbackPlan";
import { StemStream, type StemPlayback } from "./stemStream";

/** The renditions' rate; the AudioContext runs at it too (no resampling). */
export const RATE = 48000;
const START_LATENCY_S = 0.08;
const HORIZON_S = 1.2; // scheduled this far ahead
const DECODE_AHEAD = 3; // segments decoded ahead, per stem
const PUMP_MS = 120;

interface Lane extends BusLane {
  stream: StemStream;
}

export interface MixerSnapshot {
  state: AudioContextState;
  playing: boolean;
  buffering: boolean;
  position: number;
  duration: number;
  sampleRate: number;
  master: number;
  loop: LoopRegion | null;
  stems: Record<string, { gain: number; pan: number; channels: number; length: number; received: number; bytes: number; decoded: number }>;
  /** The AudioContext time every stem's first source of the last play() starts at (one value = in sync). */
  lastStart: { when: number; offset: number; sources: number; startTimes: number[] } | null;
  /** performance.now() at which the first sound of this engine was due to come out (null: not yet). */
  firstSoundAt: number | null;
  sources: number;
}

export class MixerEngine extends MixBus {
  protected declare lanes: Lane[];
  private plan: Segment[] = [];
  private frames = 0;
  private mix: MixState | null = null;
  private buffering = false;
  private offset = 0; // frames: where a paused / buffering playback stands
  private cursor: Cursor | null = null;
  private pieces: Piece[] = [];
  private sources = new Set<AudioBufferSourceNode>();
  private generation = 0;
  private timer: ReturnType<typeof setInterval> | null = null;
  private lastStart: MixerSnapshot["lastStart"] = null;
  private firstSoundAt: number | null = null;
  private downloads = new AbortController();
  onEnded: (() => void) | null = null;
  onError: ((err: unknown) => void) | null = null;

  constructor(ctx?: AudioContext) {
    super(ctx ?? new AudioContext({ latencyHint: "interactive", sampleRate: RATE }));
  }

  /** Fetch every stem's manifest (peaks, segments) and start streaming the renditions. */
  async load(stems: { name: string; playbackUrl: string }[], signal?: AbortSignal): Promise<StemPlayback[]> {
    const manifests = await Promise.all(stems.map((s) => api<StemPlayback>(s.playbackUrl, { signal })));
    this.stop();
    this.dropLanes();
    this.lanes = manifests.map((manifest, i) => ({ ...this.makeLane(stems[i].name), stream: new StemStream(manifest) }));
    const longest = manifests.reduce((a, b) => (totalFrames(b.segments) > totalFrames(a.segments) ? b : a), manifests[0]);
    this.plan = longest?.segments ?? [];
    this.frames = totalFrames(this.plan);
    this.duration = this.frames / RATE;
    signal?.addEventListener("abort", () => this.downloads.abort(), { once: true });
    for (const lane of this.lanes) {
      lane.stream.download(this.downloads.signal).catch((err) => {
        if (!this.downloads.signal.aborted) this.onError?.(err);
      });
    }
    if (this.mix) this.applyMix(this.mix);
    return manifests;
  }

  applyMix(mix: MixState): void {
    const prevLoop = this.mix?.loop ?? null;
    this.mix = mix;
    this.setGains(mix);
    if (!sameLoop(prevLoop, mix.loop) && this.playing) void this.play(this.position()); // every stem restarts together
  }

  /** Seconds on the song's timeline. */
  position(): number {
    return this.positionFrame() / RATE;
  }

  private positionFrame(): number {
    if (!this.playing || this.buffering || !this.pieces.length) return this.offset;
    const now = this.ctx.currentTime * RATE;
    if (now < this.pieces[0].at) return this.pieces[0].src;
    return frameAt(this.pieces, now) ?? this.cursor?.src ?? this.offset;
  }

  private frameLoop(): FrameLoop | null {
    const loop = this.mix?.loop;
    return loop ? { start: Math.round(loop.start * RATE), end: Math.min(this.frames, Math.round(loop.end * RATE)) } : null;
  }

  async play(from?: number): Promise<void> {
    const gen = ++this.generation;
    this.stopSources();
    if (!this.lanes.length) return;
    let src = Math.max(0, Math.min(from === undefined ? this.offset : Math.round(from * RATE), this.frames));
    const loop = this.frameLoop();
    if (loop && (src >= loop.end || src >= this.frames)) src = loop.start;
    if (!loop && src >= this.frames - RATE / 100) src = 0;
    this.offset = src;
    this.playing = true;
    this.buffering = true;
    if (this.ctx.state === "suspended") await this.ctx.resume();
    const seg = segmentAt(this.plan, src);
    await Promise.all(this.lanes.filter((l) => seg < l.stream.segments.length).map((l) => l.stream.decode(seg, this.ctx)));
    if (gen !== this.generation) return;
    this.buffering = false;
    this.cursor = { src, at: Math.ceil((this.ctx.currentTime + START_LATENCY_S) * RATE) };
    this.pieces = [];
    this.lastStart = null;
    this.pump();
    this.timer = setInterval(() => this.pump(), PUMP_MS);
  }

  /** Schedule what is decoded up to the horizon; ask for the next segments; re-sync after a stall. */
  private pump(): void {
    if (!this.playing || this.buffering || !this.cursor) return;
    const loop = this.frameLoop();
    const now = this.ctx.currentTime * RATE;
    while (this.cursor.at < now + HORIZON_S * RATE) {
      const piece = nextPiece(this.plan, this.cursor, loop);
      if (!piece) {
        this.scheduleEnd(this.cursor.at);
        break;
      }
      const buffers = this.lanes.map((l) => (piece.seg < l.stream.segments.length ? l.stream.readyBuffer(piece.seg) : null));
      if (buffers.some((b) => b === undefined)) {
        if (this.cursor.at <= now + 0.02 * RATE) {
          void this.play(this.cursor.src / RATE); // ran dry: wait for the segment, then go on in sync
          return;
        }
        break;
      }
      this.start(piece, buffers);
      this.cursor = advance(piece, loop);
    }
    for (const lane of this.lanes) {
      for (const seg of upcomingSegments(this.plan, this.cursor, loop, DECODE_AHEAD)) {
        if (seg < lane.stream.segments.length) lane.stream.decode(seg, this.ctx).catch((err) => this.onError?.(err));
      }
    }
    this.pieces = this.pieces.filter((p) => p.at + p.frames > now);
  }

  private start(piece: Piece, buffers: (AudioBuffer | null | undefined)[]): void {
    const when = piece.at / RATE;
    const startTimes: number[] = [];
    this.lanes.forEach((lane, i) => {
      const buffer = buffers[i];
      if (!buffer) return; // a shorter stem: silence here
      const node = this.ctx.createBufferSource();
      node.buffer = buffer;
      node.connect(lane.gain);
      node.start(when, piece.offset / RATE, piece.frames / RATE);
      node.onended = () => {
        node.disconnect();
        this.sources.delete(node);
      };
      this.sources.add(node);
      startTimes.push(when);
    });
    this.pieces.push(piece);
    if (!this.lastStart) this.lastStart = { when, offset: piece.src / RATE, sources: startTimes.length, startTimes };
    this.firstSoundAt ??= performance.now() + (when - this.ctx.currentTime) * 1000;
  }

  pause(): void {
    if (!this.playing) return;
    this.offset = this.positionFrame();
    this.generation++;
    this.stopSources();
    this.playing = false;
    this.buffering = false;
  }

  protected park(t: number): void {
    this.offset = Math.round(t * RATE);
  }

  stop(): void {
    this.generation++;
    this.stopSources();
    this.playing = false;
    this.buffering = false;
    this.offset = 0;
  }

  snapshot(): MixerSnapshot {
    const stems: MixerSnapshot["stems"] = {};
    for (const lane of this.lanes) {
      const m = lane.stream.manifest;
      stems[lane.name] = {
        gain: lane.gain.gain.value,
        pan: lane.panner.pan.value,
        channels: m.channels,
        length: m.frames,
        received: lane.stream.received,
        bytes: m.bytes,
        decoded: lane.stream.decodedCount(),
      };
    }
    return {
      ...this.transportSnapshot(this.position(), this.mix?.loop ?? null),
      buffering: this.buffering,
      stems,
      lastStart: this.lastStart,
      firstSoundAt: this.firstSoundAt,
      sources: this.sources.size,
    };
  }

  async dispose(): Promise<void> {
    this.stop();
    this.downloads.abort();
    await this.closeContext();
  }

  private stopSources(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    for (const node of this.sources) {
      node.onended = null;
      try {
        node.stop();
      } catch {
        /* never started */
      }
      node.disconnect();
    }
    this.sources.clear();
    this.pieces = [];
    this.cursor = null;
  }

  private scheduleEnd(atFrame: number): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    const gen = this.generation;
    const ms = Math.max(0, (atFrame / RATE - this.ctx.currentTime) * 1000) + 30;
    setTimeout(() => {
      if (gen !== this.generation || !this.playing) return;
      this.stop();
      this.onEnded?.();
    }, ms);
  }
}

/** The server's peaks as wavesurfer takes them (one array per channel). */
export function manifestPeaks(manifest: StemPlayback): Float32Array[] {
  return manifest.peaks.channels.slice(0, 2).map((ch) => Float32Array.from(ch));
}
