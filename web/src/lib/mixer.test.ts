import { describe, expect, it } from "vitest";
import {
  defaultMix,
  effectiveGains,
  formatDb,
  isAudible,
  makeLoop,
  mixSamples,
  panMatrix,
  playheadPosition,
  reconcileMix,
  seekTarget,
  serverExportBody,
  setLoopIn,
  setLoopOut,
  toggleMute,
  toggleSolo,
  updateStem,
} from "./mixer";

const names = ["vocals", "drums", "bass", "other"];

describe("six stems (htdemucs_6s)", () => {
  const six = ["vocals", "drums", "bass", "guitar", "piano", "other"];

  it("gives every stem a lane setting, mixes and exports all six", () => {
    let mix = toggleSolo(defaultMix(six), "guitar");
    mix = toggleSolo(mix, "piano");
    expect(Object.keys(mix.stems)).toEqual(six);
    expect(effectiveGains(mix.stems)).toEqual({ vocals: 0, drums: 0, bass: 0, guitar: 1, piano: 1, other: 0 });
    const stems = Object.fromEntries(six.map((n, i) => [n, [new Float32Array([i + 1]), new Float32Array([i + 1])]]));
    const [l] = mixSamples(stems, mix);
    expect(l[0]).toBeCloseTo(4 + 5, 5); // guitar (4) + piano (5), centred: equal power per side = unchanged
    expect(Object.keys(serverExportBody("j", "t", "wav", mix).stems)).toEqual(six);
  });
});

describe("solo / mute", () => {
  it("plays every stem at its gain by default", () => {
    const mix = updateStem(defaultMix(names), "bass", { gain: 0.5 });
    expect(effectiveGains(mix.stems)).toEqual({ vocals: 1, drums: 1, bass: 0.5, other: 1 });
  });

  it("silences muted stems", () => {
    const mix = toggleMute(defaultMix(names), "drums");
    expect(effectiveGains(mix.stems)).toEqual({ vocals: 1, drums: 0, bass: 1, other: 1 });
    expect(effectiveGains(toggleMute(mix, "drums").stems).drums).toBe(1);
  });

  it("plays only soloed stems when any is soloed", () => {
    let mix = toggleSolo(defaultMix(names), "vocals");
    mix = toggleSolo(mix, "bass");
    expect(effectiveGains(mix.stems)).toEqual({ vocals: 1, drums: 0, bass: 1, other: 0 });
  });

  it("lets mute win over solo", () => {
    let mix = toggleSolo(defaultMix(names), "vocals");
    mix = toggleMute(mix, "vocals");
    expect(isAudible(mix.stems.vocals, true)).toBe(false);
    expect(effectiveGains(mix.stems)).toEqual({ vocals: 0, drums: 0, bass: 0, other: 0 });
  });

  it("mute one + solo another = only the soloed one", () => {
    let mix = toggleMute(defaultMix(names), "drums");
    mix = toggleSolo(mix, "bass");
    expect(effectiveGains(mix.stems)).toEqual({ vocals: 0, drums: 0, bass: 1, other: 0 });
  });

  it("clamps gains and pans", () => {
    const mix = updateStem(updateStem(defaultMix(names), "vocals", { gain: 99 }), "bass", { pan: -3 });
    expect(mix.stems.vocals.gain).toBe(4);
    expect(mix.stems.bass.pan).toBe(-1);
  });
});

describe("pan (StereoPannerNode law)", () => {
  it("is the identity at the centre for stereo", () => {
    const m = panMatrix(0, 2);
    expect(m[0][0]).toBeCloseTo(1, 12);
    expect(m[0][1]).toBeCloseTo(0, 12);
    expect(m[1][0]).toBeCloseTo(0, 12);
    expect(m[1][1]).toBeCloseTo(1, 12);
  });

  it("folds both channels to one side at the extremes", () => {
    const left = panMatrix(-1, 2);
    expect(left[0][0]).toBeCloseTo(1);
    expect(left[1][0]).toBeCloseTo(1);
    expect(left[0][1]).toBeCloseTo(0);
    expect(left[1][1]).toBeCloseTo(0);
    const right = panMatrix(1, 2);
    expect(right[0][1]).toBeCloseTo(1);
    expect(right[1][1]).toBeCloseTo(1);
    expect(right[0][0]).toBeCloseTo(0);
  });

  it("keeps equal power for mono input", () => {
    for (const p of [-1, -0.4, 0, 0.3, 1]) {
      const [[l, r]] = panMatrix(p, 1);
      expect(l * l + r * r).toBeCloseTo(1);
    }
    const [[l, r]] = panMatrix(0, 1);
    expect(l).toBeCloseTo(Math.SQRT1_2);
    expect(r).toBeCloseTo(Math.SQRT1_2);
  });
});

describe("reference mix", () => {
  it("sums stems with gain, pan, solo and master like the graph does", () => {
    const one = (v: number, n = 4) => new Float32Array(n).fill(v);
    const stems = { a: [one(0.5), one(0.25)], b: [one(0.1), one(0.1)], c: [one(0.9)] };
    let mix = defaultMix(["a", "b", "c"]);
    mix = updateStem(mix, "a", { pan: 1, gain: 2 });
    mix = updateStem(mix, "c", { mute: true });
    mix = { ...mix, master: 0.5 };
    const [l, r] = mixSamples(stems, mix);
    // a hard right: L = 0, R = (0.25 + 0.5) * 2 ; b centred ; c muted ; then master 0.5
    expect(l[0]).toBeCloseTo((0 + 0.1) * 0.5);
    expect(r[0]).toBeCloseTo((1.5 + 0.1) * 0.5);
  });
});

describe("loop and playhead", () => {
  it("orders and clamps a loop region, rejecting tiny ones", () => {
    expect(makeLoop(5, 2, 4)).toEqual({ start: 2, end: 4 });
    expect(makeLoop(1, 1.01, 4)).toBeNull();
  });

  it("wraps the playhead inside the loop", () => {
    const loop = { start: 1, end: 3 };
    expect(playheadPosition(0, 0.5, 10, loop)).toBeCloseTo(0.5);
    expect(playheadPosition(0, 3.5, 10, loop)).toBeCloseTo(1.5);
    expect(playheadPosition(2, 2, 10, loop)).toBeCloseTo(2);
    expect(playheadPosition(5, 20, 10, null)).toBe(10);
  });
});

describe("persistence and server body", () => {
  it("restores saved settings for known stems only", () => {
    const saved = { stems: { vocals: { gain: 0.3, pan: 0.2, mute: true, solo: false }, gone: { gain: 2 } }, master: 0.7 };
    const mix = reconcileMix(saved as never, ["vocals", "instrumental"]);
    expect(mix.stems.vocals).toEqual({ gain: 0.3, pan: 0.2, mute: true, solo: false });
    expect(mix.stems.instrumental).toEqual({ gain: 1, pan: 0, mute: false, solo: false });
    expect(Object.keys(mix.stems)).toEqual(["vocals", "instrumental"]);
    expect(mix.master).toBe(0.7);
  });

  it("builds the server-export body", () => {
    const mix = toggleMute(defaultMix(["vocals", "instrumental"]), "vocals");
    expect(serverExportBody("j", "t", "mp3", mix)).toEqual({
      job_id: "j",
      job_token: "t",
      format: "mp3",
      master_gain: 1,
      stems: { vocals: { gain: 1, pan: 0, mute: true, solo: false }, instrumental: { gain: 1, pan: 0, mute: false, solo: false } },
    });
  });

  it("formats gains as dB", () => {
    expect(formatDb(1)).toBe("+0.0 dB");
    expect(formatDb(0)).toBe("-inf dB");
    expect(formatDb(0.5)).toBe("-6.0 dB");
  });
});

describe("transport keys", () => {
  it("seeks 5 s with the arrows (1 s with Shift), Home / End, within the song", () => {
    expect(seekTarget("ArrowRight", false, 10, 60)).toBe(15);
    expect(seekTarget("ArrowLeft", true, 10, 60)).toBe(9);
    expect(seekTarget("ArrowLeft", false, 2, 60)).toBe(0);
    expect(seekTarget("ArrowRight", false, 58, 60)).toBe(60);
    expect(seekTarget("Home", false, 30, 60)).toBe(0);
    expect(seekTarget("End", false, 30, 60)).toBe(60);
    expect(seekTarget("x", false, 30, 60)).toBeNull();
  });

  it("sets the loop in / out at the playhead", () => {
    expect(setLoopIn(null, 10, 60)).toEqual({ start: 10, end: 60 });
    expect(setLoopOut({ start: 10, end: 60 }, 20, 60)).toEqual({ start: 10, end: 20 });
    expect(setLoopIn({ start: 10, end: 20 }, 5, 60)).toEqual({ start: 5, end: 20 });
    expect(setLoopIn({ start: 10, end: 20 }, 30, 60)).toEqual({ start: 30, end: 60 }); // past the out point
    expect(setLoopOut(null, 8, 60)).toEqual({ start: 0, end: 8 });
    expect(setLoopOut({ start: 10, end: 20 }, 5, 60)).toEqual({ start: 0, end: 5 }); // before the in point
  });
});
