// Pure scheduling of the segmented playback renditions (src/burntbeats/audio/playback.py): which part of which
// segment plays when. The engine (audioEngine.ts) starts one AudioBufferSourceNode per stem and piece, every
// stem at the same AudioContext frame, so the stems stay sample-synchronised; loops wrap on the same frame.
// All positions are frames of the 48 kHz timeline.

export interface Segment {
  start: number;
  frames: number;
  preroll: number;
  byte_start: number;
  byte_end: number;
}

export interface FrameLoop {
  start: number;
  end: number;
}

/** One stretch of one segment: plays `frames` frames of timeline from `src` at context frame `at`. */
export interface Piece {
  at: number;
  src: number;
  seg: number;
  /** Where in the decoded segment buffer it starts (the pre-roll included). */
  offset: number;
  frames: number;
}

/** Where scheduling goes on from: the next timeline frame and the context frame it plays at. */
export interface Cursor {
  src: number;
  at: number;
}

/** The segment holding timeline frame `frame` (the last one for frames past the end). */
export function segmentAt(segments: readonly Segment[], frame: number): number {
  let lo = 0;
  let hi = segments.length - 1;
  while (lo < hi) {
    const mid = (lo + hi + 1) >> 1;
    if (segments[mid].start <= frame) lo = mid;
    else hi = mid - 1;
  }
  return lo;
}

export function totalFrames(segments: readonly Segment[]): number {
  const last = segments[segments.length - 1];
  return last ? last.start + last.frames : 0;
}

/** A loop in frames that the cursor really wraps in (it must start before the loop's end). */
export function activeLoop(loop: FrameLoop | null, src: number): FrameLoop | null {
  return loop && loop.end > loop.start && src < loop.end ? loop : null;
}

/** The next piece from `cursor`, or null at the end of the song (no loop). */
export function nextPiece(segments: readonly Segment[], cursor: Cursor, loop: FrameLoop | null): Piece | null {
  const total = totalFrames(segments);
  const wrap = activeLoop(loop, cursor.src);
  const stop = wrap ? Math.min(wrap.end, total) : total;
  if (cursor.src >= stop) return null;
  const seg = segmentAt(segments, cursor.src);
  const s = segments[seg];
  const frames = Math.min(s.start + s.frames, stop) - cursor.src;
  if (frames <= 0) return null;
  return { at: cursor.at, src: cursor.src, seg, offset: s.preroll + (cursor.src - s.start), frames };
}

/** The cursor after `piece`: on to the next frame, or back to the loop's start at its end. */
export function advance(piece: Piece, loop: FrameLoop | null): Cursor {
  const wrap = activeLoop(loop, piece.src);
  const src = piece.src + piece.frames;
  return { src: wrap && src >= wrap.end ? wrap.start : src, at: piece.at + piece.frames };
}

/** Every piece from `cursor` that starts before context frame `until`, and the cursor after them. */
export function planUntil(
  segments: readonly Segment[],
  cursor: Cursor,
  loop: FrameLoop | null,
  until: number,
): { pieces: Piece[]; cursor: Cursor; ended: boolean } {
  const pieces: Piece[] = [];
  let c = cursor;
  while (c.at < until) {
    const p = nextPiece(segments, c, loop);
    if (!p) return { pieces, cursor: c, ended: true };
    pieces.push(p);
    c = advance(p, loop);
  }
  return { pieces, cursor: c, ended: false };
}

/** The segments the timeline from `cursor` needs next, in order (loop-aware), at most `count`. */
export function upcomingSegments(segments: readonly Segment[], cursor: Cursor, loop: FrameLoop | null, count: number): number[] {
  const out: number[] = [];
  let c = cursor;
  for (let guard = 0; out.length < count && guard < count * 4 + 4; guard++) {
    const p = nextPiece(segments, c, loop);
    if (!p) break;
    if (!out.includes(p.seg)) out.push(p.seg);
    c = advance(p, loop);
  }
  return out;
}

/** The timeline frame playing at context frame `at`, from the pieces scheduled (null if none covers it). */
export function frameAt(pieces: readonly Piece[], at: number): number | null {
  for (let i = pieces.length - 1; i >= 0; i--) {
    const p = pieces[i];
    if (at >= p.at && at < p.at + p.frames) return p.src + (at - p.at);
  }
  return null;
}
