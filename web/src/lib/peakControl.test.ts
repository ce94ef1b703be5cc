import { describe, expect, it } from "vitest";
import { applyPeakControl, CEILING, LOOKAHEAD_S, limiterGain, windowMin } from "./peakControl";

const RATE = 8000;

function tone(seconds: number, amp: number): Float32Array {
  return Float32Array.from({ length: seconds * RATE }, (_, i) => amp * Math.sin((2 * Math.PI * 110 * i) / RATE));
}

describe("window minimum", () => {
  it("matches the brute force", () => {
    const a = Float64Array.from({ length: 300 }, (_, i) => Math.abs(Math.sin(i * 12.9898) * 43758.5453) % 1);
    for (const w of [1, 2, 7, 16, 300]) {
      const want = Array.from({ length: a.length - w + 1 }, (_, i) => Math.min(...a.subarray(i, i + w)));
      expect(Array.from(windowMin(a, w))).toEqual(want);
    }
  });
});

describe("peak control", () => {
  it("leaves a mix under the ceiling alone", () => {
    const ch = [tone(1, 0.5), tone(1, 0.4)];
    const before = ch.map((c) => c.slice());
    const facts = applyPeakControl(ch, RATE, "limit");
    expect(ch).toEqual(before);
    expect(facts.clippedSamples).toBe(0);
  });

  it("limits a burst to -1 dBFS with a ramp, and counts what clipped", () => {
    const left = tone(2, 0.5);
    for (let i = RATE / 2; i < RATE / 2 + 400; i++) left[i] *= 3;
    const right = left.slice();
    const facts = applyPeakControl([left, right], RATE, "limit");
    expect(facts.peak).toBeGreaterThan(1.4);
    expect(facts.clippedSamples).toBeGreaterThan(100);
    expect(facts.outputPeak).toBeLessThanOrEqual(CEILING + 1e-6);
    expect(facts.outputClippedSamples).toBe(0);
    const g = limiterGain([tone(2, 0.5)], RATE);
    expect(g.every((v) => v === 1)).toBe(true);
    const look = Math.round(LOOKAHEAD_S * RATE);
    expect(left[RATE / 2 - 2 * look - 100]).toBe(tone(2, 0.5)[RATE / 2 - 2 * look - 100]); // far before: untouched
  });

  it("normalises the peak to -1 dBFS, up or down", () => {
    for (const amp of [0.2, 1.6]) {
      const ch = [tone(1, amp)];
      const facts = applyPeakControl(ch, RATE, "normalize");
      expect(facts.outputPeak).toBeCloseTo(CEILING, 5);
      expect(Math.sign(facts.gainDb ?? 0)).toBe(amp < CEILING ? 1 : -1);
    }
  });

  it("off: reports the overs and changes nothing", () => {
    const ch = [tone(1, 1.2)];
    const facts = applyPeakControl(ch, RATE, "off");
    expect(facts.clippedSamples).toBe(facts.outputClippedSamples);
    expect(facts.clippedSamples).toBeGreaterThan(0);
  });
});
