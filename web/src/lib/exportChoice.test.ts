import { describe, expect, it } from "vitest";
import { archiveUrl, downloadChoices, downloadName, stemFileUrl } from "./downloads";
import { chooseRenderer, describeResult } from "./exportChoice";
import { qualityOptions } from "./modes";

describe("where the mix renders", () => {
  const base = { choice: "auto" as const, serverEnabled: true, stems: 4, format: "mp3" as const };
  it("picks the server for a long song, the browser for a short one", () => {
    expect(chooseRenderer({ ...base, durationS: 273 }).where).toBe("server");
    expect(chooseRenderer({ ...base, durationS: 4, format: "wav" }).where).toBe("browser");
  });
  it("never picks a disabled server; follows an explicit choice", () => {
    expect(chooseRenderer({ ...base, durationS: 273, serverEnabled: false })).toMatchObject({ where: "browser" });
    expect(chooseRenderer({ ...base, durationS: 273, choice: "browser" }).where).toBe("browser");
    expect(chooseRenderer({ ...base, durationS: 2, choice: "server" }).where).toBe("server");
    expect(chooseRenderer({ ...base, durationS: 2, choice: "server", serverEnabled: false }).where).toBe("browser");
  });
  it("says what happened", () => {
    const facts = { peak: 1.5, clippedSamples: 239, outputPeak: 0.891, outputClippedSamples: 0 };
    expect(describeResult("a.wav", "server", 1.4, facts, "off")).toBe("Saved a.wav (rendered on the server in 1.4 s). 239 samples clipped (peak +3.5 dBFS).");
    expect(describeResult("a.wav", "browser", 2, facts, "limit")).toMatch(/in your browser.*peak \+3\.5 dBFS → -1\.0 dBFS \(limiter\), nothing clipped\./);
  });
});

describe("downloads", () => {
  const stem = { id: "vocals", url: "/f/vocals.wav?token=t", urls: { wav: "/f/vocals.wav?token=t", flac: "/f/vocals.flac?token=t", mp3: "/f/vocals.mp3?token=t" }, playback_url: "/p" };
  it("offers 24-bit files only from 24-bit stems", () => {
    expect(downloadChoices(16).filter((c) => c.unavailable).map((c) => c.id)).toEqual(["wav24", "flac24"]);
    expect(downloadChoices(24).every((c) => !c.unavailable)).toBe(true);
  });
  it("builds the file and ZIP URLs", () => {
    const [wav24, , flac24, , mp3] = downloadChoices(24);
    expect(stemFileUrl(stem, wav24)).toBe("/f/vocals.wav?token=t&bits=24");
    expect(stemFileUrl(stem, flac24)).toBe("/f/vocals.flac?token=t&bits=24");
    expect(stemFileUrl(stem, mp3)).toBe("/f/vocals.mp3?token=t");
    expect(archiveUrl("/a/j?token=t", flac24)).toBe("/a/j?token=t&format=flac&bits=24");
    expect(archiveUrl("/a/j?token=t", mp3)).toBe("/a/j?token=t&format=mp3");
    expect(downloadName("song", "vocals", flac24)).toBe("song-vocals.flac");
  });
});

describe("quality menu", () => {
  it("lists the modes of the chosen stem count with what they run", () => {
    const row = { title: "Fast", engine: "dsp", model: "m", preferred: "p", fallback: false };
    const modes = {
      default_quality: "fast",
      layouts: [],
      modes: [
        { ...row, quality: "fast", stems: 2, available: true, label: "Fast — DSP", note: null },
        { ...row, quality: "best", stems: 4, available: false, label: "Best — none", note: "No engine." },
      ],
    };
    expect(qualityOptions(modes, 4)).toEqual([{ quality: "best", label: "Best — none", available: false, note: "No engine." }]);
    expect(qualityOptions({ ...modes, modes: [] }, 2).map((o) => o.quality)).toEqual(["fast", "balanced", "best"]);
  });
});
