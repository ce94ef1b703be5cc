import { describe, expect, it } from "vitest";
import { formatDuration, limitText, sizeProblem, type Limits } from "./limits";

const LIMITS: Limits = { max_upload_mb: 200, speech_max_upload_mb: 50, max_duration_s: 1800, midi_max_batch_items: 3, job_retention_hours: 24 };
const MB = 1024 * 1024;

describe("upload limits", () => {
  it("formats durations for people", () => {
    expect(formatDuration(90)).toBe("90 seconds");
    expect(formatDuration(1800)).toBe("30 minutes");
    expect(formatDuration(150)).toBe("2.5 minutes");
    expect(formatDuration(3 * 3600)).toBe("3 hours");
  });

  it("says the size and duration limit of each family", () => {
    expect(limitText(LIMITS, "default")).toBe("Up to 200 MB and 30 minutes per file.");
    expect(limitText(LIMITS, "speech")).toBe("Up to 50 MB and 30 minutes per file.");
    expect(limitText(LIMITS, "default", true)).toBe("Up to 200 MB in all (3 files at most), 30 minutes per file.");
  });

  it("names the file over the limit, a batch over it in total, or too many files", () => {
    expect(sizeProblem([{ name: "a.wav", size: 40 * MB }], LIMITS, "speech")).toBeNull();
    expect(sizeProblem([{ name: "a.wav", size: 60 * MB }], LIMITS, "speech")).toBe("a.wav is 60 MB; this server takes uploads up to 50 MB.");
    expect(sizeProblem([{ name: "a.wav", size: 60 * MB }], LIMITS, "default")).toBeNull();
    const two = [{ name: "a.wav", size: 150 * MB }, { name: "b.wav", size: 100 * MB }];
    expect(sizeProblem(two, LIMITS, "default")).toBe("These 2 files are 250 MB together; one upload may be up to 200 MB.");
    const four = ["a", "b", "c", "d"].map((n) => ({ name: n, size: MB }));
    expect(sizeProblem(four, LIMITS, "default")).toBe("That is 4 files; a batch takes at most 3.");
  });
});
