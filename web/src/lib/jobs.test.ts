import { describe, expect, it } from "vitest";
import { ApiError, type JobStatus } from "./api";
import {
  aboutTime,
  canRetry,
  estimateText,
  expiresSoon,
  expiryText,
  formatDuration,
  jobHref,
  jobTitle,
  linkProblem,
  stemsJobLabel,
  uploadHref,
} from "./jobs";

function job(over: Partial<JobStatus> = {}): JobStatus {
  return {
    job_id: "abc123",
    kind: "stems.split",
    status: "succeeded",
    progress: 100,
    stage: "done",
    queue_position: null,
    estimate: null,
    engine: "dsp",
    engine_note: null,
    error: null,
    params: { stems: 4, quality: "fast" },
    input_name: "song.wav",
    title: null,
    duration_s: 273.4,
    stem_count: 4,
    stem_names: ["vocals", "drums", "bass", "other"],
    parent_id: null,
    group_id: null,
    created_at: "2026-12-03T10:00:00Z",
    started_at: "2026-12-03T10:00:01Z",
    finished_at: "2026-12-03T10:00:30Z",
    expires_at: "2026-12-04T10:00:30+00:00",
    files_expired: false,
    ...over,
  };
}

describe("names and durations", () => {
  it("shows the title, else the file name, else the id", () => {
    expect(jobTitle(job({ title: "Take two" }))).toBe("Take two");
    expect(jobTitle(job())).toBe("song.wav");
    expect(jobTitle(job({ input_name: null }))).toBe("abc123");
  });

  it("formats durations as m:ss or h:mm:ss", () => {
    expect(formatDuration(273.4)).toBe("4:33");
    expect(formatDuration(45)).toBe("0:45");
    expect(formatDuration(3725)).toBe("1:02:05");
    expect(formatDuration(null)).toBe("");
    expect(formatDuration(Number.NaN)).toBe("");
  });
});

describe("time estimates", () => {
  it("rounds to what a person reads", () => {
    expect(aboutTime(3)).toBe("a few seconds");
    expect(aboutTime(41)).toBe("about 40 s");
    expect(aboutTime(59)).toBe("about 60 s");
    expect(aboutTime(150)).toBe("about 3 min");
    expect(aboutTime(4800)).toBe("about 1 h 20 min");
    expect(aboutTime(7200)).toBe("about 2 h");
  });

  it("says time left while running, and the wait or the run while queued", () => {
    const est = { seconds_left: 41, run_s: 30, x_realtime: 9.1, samples: 3 };
    expect(estimateText(job({ status: "running", estimate: est }))).toBe("about 40 s left");
    expect(estimateText(job({ status: "queued", estimate: est }))).toBe("about 40 s until done");
    expect(estimateText(job({ status: "queued", estimate: { ...est, seconds_left: null } }))).toBe("takes about 30 s once it starts");
    expect(estimateText(job({ status: "running", estimate: null }))).toBe("");
    expect(estimateText(job({ status: "succeeded", estimate: est }))).toBe("");
  });
});

describe("expiry", () => {
  const now = Date.parse("2026-12-03T11:00:30Z");
  it("says until when the files are kept", () => {
    const text = expiryText(job(), now, "en-GB");
    expect(text).toMatch(/^Files kept until 4 Dec.* \(in 23 h\)$/);
    expect(expiresSoon(job(), now)).toBe(false);
    expect(expiresSoon(job({ expires_at: "2026-12-03T11:20:00Z" }), now)).toBe(true);
    expect(expiryText(job({ expires_at: "2026-12-03T11:20:00Z" }), now)).toMatch(/\(in 20 min\)$/);
  });

  it("says when they are gone, and nothing while the job runs", () => {
    expect(expiryText(job({ files_expired: true }), now)).toBe("Files expired and were removed");
    expect(expiryText(job({ expires_at: "2026-12-03T11:00:00Z" }), now)).toBe("Files are being removed (expired)");
    expect(expiryText(job({ status: "running", expires_at: null }), now)).toBe("");
  });
});

describe("the stems-job picker", () => {
  it("tells jobs of the same song apart by their stems, quality and time", () => {
    const four = stemsJobLabel(job(), "en-GB");
    const two = stemsJobLabel(job({ stem_names: ["vocals", "instrumental"], stem_count: 2, params: { stems: 2, quality: "best" } }), "en-GB");
    expect(four).toMatch(/^song\.wav — vocals, drums, bass, other · fast · 3 Dec/);
    expect(two).toMatch(/^song\.wav — vocals, instrumental · best · /);
    expect(stemsJobLabel(job({ title: "Demo", stem_names: [] }))).toMatch(/^Demo — 4 stems · fast/);
  });
});

describe("links and retry", () => {
  it("tells a link that never existed from a deleted job and a missing token", () => {
    expect(linkProblem(new ApiError(404, "No such job"))).toBe("unknown");
    expect(linkProblem(new ApiError(410, "deleted"))).toBe("deleted");
    expect(linkProblem(new ApiError(403, "token"))).toBe("no-token");
    expect(linkProblem(new ApiError(500, "boom"))).toBe("other");
    expect(linkProblem(new TypeError("fetch failed"))).toBe("other");
  });

  it("goes back to the right upload page with the settings kept", () => {
    expect(uploadHref(job())).toBe("/?stems=4&quality=fast");
    expect(uploadHref(null)).toBe("/");
    expect(uploadHref(job({ kind: "speech.enhance", params: {} }))).toBe("/speech");
    expect(uploadHref(job({ kind: "midi.transcribe", params: {} }))).toBe("/midi");
    expect(jobHref(job({ kind: "stems.export" }))).toBeNull();
  });

  it("offers try-again only for failed or cancelled jobs that have a page", () => {
    expect(canRetry(job({ status: "failed" }))).toBe(true);
    expect(canRetry(job({ status: "cancelled", kind: "speech.enhance" }))).toBe(true);
    expect(canRetry(job({ status: "succeeded" }))).toBe(false);
    expect(canRetry(job({ status: "failed", files_expired: true }))).toBe(false);
    expect(canRetry(job({ status: "failed", kind: "midi.export" }))).toBe(false);
  });
});
