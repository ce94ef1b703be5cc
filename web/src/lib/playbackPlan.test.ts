import { describe, expect, it } from "vitest";
import { activeLoop, advance, frameAt, nextPiece, planUntil, segmentAt, totalFrames, upcomingSegments, type Segment } from "./playbackPlan";

// Three segments of 100 frames (the last 50), pre-roll 10 after the first, as audio/playback.py lays them out.
const SEGS: Segment[] = [
  { start: 0, frames: 100, preroll: 0, byte_start: 0, byte_end: 10 },
  { start: 100, frames: 100, preroll: 10, byte_start: 10, byte_end: 20 },
  { start: 200, frames: 50, preroll: 10, byte_start: 20, byte_end: 30 },
];

describe("segments", () => {
  it("finds the segment holding a frame", () => {
    expect([0, 99, 100, 199, 200, 249, 999].map((f) => segmentAt(SEGS, f))).toEqual([0, 0, 1, 1, 2, 2, 2]);
    expect(totalFrames(SEGS)).toBe(250);
  });

  it("plays from the middle of a segment, skipping its pre-roll", () => {
    expect(nextPiece(SEGS, { src: 130, at: 1000 }, null)).toEqual({ at: 1000, src: 130, seg: 1, offset: 40, frames: 70 });
  });
});

describe("planning", () => {
  it("covers the timeline gaplessly to the end", () => {
    const { pieces, ended } = planUntil(SEGS, { src: 50, at: 0 }, null, 10_000);
    expect(ended).toBe(true);
    expect(pieces.map((p) => [p.at, p.src, p.seg, p.offset, p.frames])).toEqual([
      [0, 50, 0, 50, 50],
      [50, 100, 1, 10, 100],
      [150, 200, 2, 10, 50],
    ]);
    for (let i = 1; i < pieces.length; i++) expect(pieces[i].at).toBe(pieces[i - 1].at + pieces[i - 1].frames);
  });

  it("wraps a loop on the same frame, across segments", () => {
    const loop = { start: 80, end: 120 };
    const { pieces, ended } = planUntil(SEGS, { src: 90, at: 0 }, loop, 100);
    expect(ended).toBe(false);
    expect(pieces.map((p) => [p.at, p.src, p.frames])).toEqual([
      [0, 90, 10],
      [10, 100, 20],
      [30, 80, 20],
      [50, 100, 20],
      [70, 80, 20],
      [90, 100, 20],
    ]);
    expect(frameAt(pieces, 35)).toBe(85);
    expect(frameAt(pieces, 59)).toBe(109);
  });

  it("ignores a loop the playhead is already past", () => {
    expect(activeLoop({ start: 10, end: 20 }, 30)).toBeNull();
    expect(advance({ at: 0, src: 30, seg: 0, offset: 30, frames: 70 }, { start: 10, end: 20 })).toEqual({ src: 100, at: 70 });
  });

  it("lists the segments needed next, loop-aware", () => {
    expect(upcomingSegments(SEGS, { src: 150, at: 0 }, null, 3)).toEqual([1, 2]);
    expect(upcomingSegments(SEGS, { src: 210, at: 0 }, { start: 50, end: 230 }, 3)).toEqual([2, 0, 1]);
  });
});
