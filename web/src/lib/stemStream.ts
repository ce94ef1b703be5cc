// One stem's playback rendition as it arrives: the Ogg Opus segments (src/burntbeats/audio/playback.py) are
// streamed into one buffer of the file's size; a segment can be decoded as soon as its bytes are in (one far
// ahead of the download is fetched on its own with a Range request). Only a few decoded segments are kept.

import { ApiError, errorMessage, type Schemas } from "./api";

export type StemPlayback = Schemas["StemPlaybackPublic"];

/** Decoded segments kept per stem (5 s each: ~1.9 MB of float samples per stereo segment). */
export const MAX_DECODED = 6;
/** A segment further than this past the downloaded bytes is fetched on its own. */
export const RANGE_AHEAD_BYTES = 256 * 1024;

export class StemStream {
  readonly manifest: StemPlayback;
  private readonly bytes: Uint8Array;
  /** Bytes in from the start of the file. */
  received = 0;
  done = false;
  failed: unknown = null;
  /** performance.now() when the download ended (for tests and the export estimate). */
  finishedAt: number | null = null;
  private readonly fetched = new Set<number>();
  private waiters: (() => void)[] = [];
  private readonly decoded = new Map<number, Promise<AudioBuffer>>();
  private readonly ready = new Map<number, AudioBuffer>();

  constructor(manifest: StemPlayback) {
    this.manifest = manifest;
    this.bytes = new Uint8Array(manifest.bytes);
  }

  get segments() {
    return this.manifest.segments;
  }

  /** Stream the whole file in (resolves when it is all here). */
  async download(signal?: AbortSignal): Promise<void> {
    try {
      const resp = await fetch(this.manifest.url, { signal });
      if (!resp.ok || !resp.body) throw new ApiError(resp.status, errorMessage(resp.status, await resp.text()));
      const reader = resp.body.getReader();
      for (;;) {
        const { done, value } = await reader.read();
        if (done) break;
        const room = Math.min(value.length, this.bytes.length - this.received);
        this.bytes.set(value.subarray(0, room), this.received);
        this.received += room;
        this.wake();
      }
      this.done = true;
      this.finishedAt = performance.now();
    } catch (err) {
      this.failed = err;
      throw err;
    } finally {
      this.wake();
    }
  }

  has(seg: number): boolean {
    return this.segments[seg].byte_end <= this.received || this.fetched.has(seg);
  }

  /** The decoded segment if it is ready now (the scheduler cannot wait). */
  readyBuffer(seg: number): AudioBuffer | undefined {
    return this.ready.get(seg);
  }

  /** Decode a segment (once; kept among the MAX_DECODED most recently asked for). */
  decode(seg: number, ctx: BaseAudioContext, signal?: AbortSignal): Promise<AudioBuffer> {
    let p = this.decoded.get(seg);
    if (p) {
      this.decoded.delete(seg); // most recent last
      this.decoded.set(seg, p);
      return p;
    }
    p = this.segmentBytes(seg, signal).then(async (data) => {
      const buffer = await ctx.decodeAudioData(data);
      if (this.decoded.has(seg)) this.ready.set(seg, buffer);
      return buffer;
    });
    p.catch(() => this.decoded.delete(seg));
    this.decoded.set(seg, p);
    for (const old of this.decoded.keys()) {
      if (this.decoded.size <= MAX_DECODED) break;
      this.decoded.delete(old);
      this.ready.delete(old);
    }
    return p;
  }

  decodedCount(): number {
    return this.ready.size;
  }

  private async segmentBytes(seg: number, signal?: AbortSignal): Promise<ArrayBuffer> {
    const s = this.segments[seg];
    if (!this.has(seg) && s.byte_start - this.received > RANGE_AHEAD_BYTES) await this.fetchRange(seg, signal);
    while (!this.has(seg)) {
      if (this.failed) throw this.failed;
      if (this.done) throw new Error(`The playback file of ${this.manifest.stem} ended early.`);
      await new Promise<void>((resolve) => this.waiters.push(resolve));
    }
    return this.bytes.slice(s.byte_start, s.byte_end).buffer; // a copy: decodeAudioData takes its input over
  }

  private async fetchRange(seg: number, signal?: AbortSignal): Promise<void> {
    const s = this.segments[seg];
    const resp = await fetch(this.manifest.url, { signal, headers: { Range: `bytes=${s.byte_start}-${s.byte_end - 1}` } });
    if (resp.status !== 206) {
      await resp.body?.cancel();
      return; // no range support: wait for the download instead
    }
    const data = new Uint8Array(await resp.arrayBuffer());
    if (data.length !== s.byte_end - s.byte_start) return;
    this.bytes.set(data, s.byte_start);
    this.fetched.add(seg);
  }

  private wake(): void {
    const waiters = this.waiters;
    this.waiters = [];
    for (const w of waiters) w();
  }
}
