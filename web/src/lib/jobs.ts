// Managing songs: names, durations, expiry, time estimates and "what happened to this link", as plain
// functions of a job's status (unit-tested in jobs.test.ts), plus the API calls for rename, delete and retry.

import { api, ApiError, type Accepted, type JobStatus, type Schemas } from "./api";

/** The name a job is shown under: the title its owner gave it, else the uploaded file's name. */
export function jobTitle(job: Pick<JobStatus, "title" | "input_name" | "job_id">): string {
  return job.title || job.input_name || job.job_id;
}

/** 273.4 -> "4:33", 45 -> "0:45", 3725 -> "1:02:05". */
export function formatDuration(seconds: number | null | undefined): string {
  if (seconds == null || !Number.isFinite(seconds) || seconds < 0) return "";
  const total = Math.round(seconds);
  const h = Math.floor(total / 3600);
  const m = Math.floor((total % 3600) / 60);
  const s = String(total % 60).padStart(2, "0");
  return h ? `${h}:${String(m).padStart(2, "0")}:${s}` : `${m}:${s}`;
}

/** A rounded span of time: "a few seconds", "about 40 s", "about 3 min", "about 1 h 20 min". */
export function aboutTime(seconds: number): string {
  if (seconds < 8) return "a few seconds";
  if (seconds < 60) return `about ${Math.round(seconds / 5) * 5} s`;
  const minutes = Math.round(seconds / 60);
  if (minutes < 60) return `about ${minutes} min`;
  const h = Math.floor(minutes / 60);
  const m = minutes % 60;
  return m ? `about ${h} h ${m} min` : `about ${h} h`;
}

/** "about 40 s left" while running; "about 2 min until done" / "takes about 40 s once it starts" while queued. */
export function estimateText(job: Pick<JobStatus, "status" | "estimate">): string {
  const est = job.estimate;
  if (!est) return "";
  if (job.status === "running") return est.seconds_left != null ? `${aboutTime(est.seconds_left)} left` : "";
  if (job.status === "queued") {
    if (est.seconds_left != null) return `${aboutTime(est.seconds_left)} until done`;
    if (est.run_s != null) return `takes ${aboutTime(est.run_s)} once it starts`;
  }
  return "";
}

function relative(ms: number): string {
  const hours = ms / 3_600_000;
  if (hours >= 48) return `${Math.round(hours / 24)} days`;
  if (hours >= 1) return `${Math.round(hours)} h`;
  return `${Math.max(1, Math.round(ms / 60_000))} min`;
}

/** When the job's files go: "Files kept until 4 Dec, 11:02 (in 23 h)", "Files expired" — empty while it runs. */
export function expiryText(job: Pick<JobStatus, "expires_at" | "files_expired">, now: number = Date.now(), locale?: string): string {
  if (job.files_expired) return "Files expired and were removed";
  if (!job.expires_at) return "";
  const at = new Date(job.expires_at);
  if (Number.isNaN(at.getTime())) return "";
  const left = at.getTime() - now;
  if (left <= 0) return "Files are being removed (expired)";
  const when = at.toLocaleString(locale, { day: "numeric", month: "short", hour: "2-digit", minute: "2-digit" });
  return `Files kept until ${when} (in ${relative(left)})`;
}

/** True when the files go within the hour: worth a warning colour. */
export function expiresSoon(job: Pick<JobStatus, "expires_at" | "files_expired">, now: number = Date.now()): boolean {
  if (job.files_expired || !job.expires_at) return false;
  return new Date(job.expires_at).getTime() - now < 3_600_000;
}

/** One line per stems job in a picker, telling jobs of the same song apart: name, its stems, quality, date. */
export function stemsJobLabel(job: Pick<JobStatus, "title" | "input_name" | "job_id" | "stem_names" | "stem_count" | "params" | "created_at">, locale?: string): string {
  const stems = job.stem_names.length ? job.stem_names.join(", ") : `${job.stem_count ?? "?"} stems`;
  const parts = [stems];
  if (job.params?.quality) parts.push(String(job.params.quality));
  if (job.created_at) {
    const d = new Date(job.created_at);
    if (!Number.isNaN(d.getTime())) parts.push(d.toLocaleString(locale, { day: "numeric", month: "short", hour: "2-digit", minute: "2-digit" }));
  }
  return `${jobTitle(job)} — ${parts.join(" · ")}`;
}

export type LinkProblem = "unknown" | "deleted" | "expired" | "no-token" | "other";

/** What a failed status request says about a job link: never existed (404), deleted (410), a token needed (403). */
export function linkProblem(err: unknown): LinkProblem {
  if (!(err instanceof ApiError)) return "other";
  if (err.status === 404) return "unknown";
  if (err.status === 410) return "deleted";
  if (err.status === 403) return "no-token";
  return "other";
}

export const LINK_PROBLEM_TEXT: Record<Exclude<LinkProblem, "other">, string> = {
  unknown: "There is no job at this link on this server: it never existed here, or the link is mistyped.",
  deleted: "This job was deleted; its files are gone.",
  expired: "This job's files have expired and were removed (jobs are kept for a limited time after they finish).",
  "no-token": "This job exists, but this browser does not have its token. Open it from History on the browser that made it, or use a link with ?token=…",
};

/** Where a job of each kind is reopened (null: it has no page of its own). */
export function jobHref(job: Pick<JobStatus, "kind" | "job_id">): string | null {
  if (job.kind === "stems.split") return `/stems/${job.job_id}`;
  if (job.kind.startsWith("speech")) return `/speech?job=${job.job_id}`;
  if (job.kind === "midi.transcribe") return `/midi?job=${job.job_id}`;
  return null;
}

/** The upload page for a job's kind, with its settings kept where that page reads them (?stems=&quality=). */
export function uploadHref(job: Pick<JobStatus, "kind" | "params"> | null): string {
  if (!job || job.kind.startsWith("stems")) {
    const q = new URLSearchParams();
    if (job?.params?.stems) q.set("stems", String(job.params.stems));
    if (job?.params?.quality) q.set("quality", String(job.params.quality));
    const query = q.toString();
    return query ? `/?${query}` : "/";
  }
  if (job.kind.startsWith("speech")) return "/speech";
  return "/midi";
}

/** Only failed or cancelled jobs of these kinds can be tried again (the server's RETRYABLE_KINDS). */
export function canRetry(job: Pick<JobStatus, "kind" | "status" | "files_expired">): boolean {
  return (job.status === "failed" || job.status === "cancelled") && !job.files_expired && jobHref({ kind: job.kind, job_id: "" }) !== null;
}

export function renameJob(jobId: string, token: string, title: string | null): Promise<JobStatus> {
  return api(`/api/jobs/${jobId}`, { method: "PATCH", token, json: { title } });
}

export function deleteJob(jobId: string, token: string): Promise<Schemas["JobDeletedPublic"]> {
  return api(`/api/jobs/${jobId}`, { method: "DELETE", token });
}

export function retryJob(jobId: string, token: string): Promise<Accepted> {
  return api(`/api/jobs/${jobId}/retry`, { method: "POST", token });
}
