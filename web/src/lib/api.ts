// Same-origin client for the Burnt Beats API (/api/*). Every error becomes an ApiError whose
// message is the server's {"detail": "..."} sentence (or a readable fallback).
// Request and response types come from api-types.ts, generated from the server's OpenAPI (`make api-types`).

import type { components } from "./api-types";

/** The API's named schemas (request bodies, responses), e.g. `Schemas["ErrorPublic"]`. */
export type Schemas = components["schemas"];

/** Every error body: a sentence in `detail` (a 422 from validation also lists the fields in `errors`). */
export type ErrorPublic = Schemas["ErrorPublic"];

export type Accepted = Schemas["JobAcceptedPublic"];
export type JobState = Accepted["status"];

export const FINAL_STATES: readonly JobState[] = ["succeeded", "failed", "cancelled"];

/** What every job's status has; kind-specific statuses (stems, speech, MIDI...) extend it. */
export type JobStatus = Schemas["JobStatusPublic"];
export type JobListItem = Schemas["JobListItemPublic"];
export type StemRef = Schemas["StemFilePublic"];
export type StemsStatus = Schemas["StemsStatusPublic"];
export type SpeechStatus = Schemas["SpeechStatusPublic"];
export type ServerExportStatus = Schemas["ServerExportStatusPublic"];

export class ApiError extends Error {
  readonly status: number;
  constructor(status: number, message: string) {
    super(message);
    this.name = "ApiError";
    this.status = status;
  }
}

const FALLBACK: Record<number, string> = {
  400: "The request was not accepted.",
  403: "You are not allowed to do that (missing or invalid job token).",
  404: "Not found.",
  409: "That cannot be done right now.",
  410: "The job was deleted, or its files have expired and were removed.",
  413: "The file is too large for this server.",
  415: "This file type is not supported.",
  422: "Some of the values sent are invalid.",
  429: "The server is busy; please try again in a moment.",
  500: "The server hit an internal error.",
  502: "The server is not reachable.",
  503: "The server is busy or unavailable.",
};

function isErrorPublic(body: unknown): body is ErrorPublic {
  return !!body && typeof body === "object" && typeof (body as { detail?: unknown }).detail === "string";
}

/** The readable sentence for an error response body. */
export function errorMessage(status: number, body: unknown): string {
  if (isErrorPublic(body) && body.detail.trim()) return body.detail;
  if (typeof body === "string" && body.trim() && body.length < 300 && !body.trimStart().startsWith("<")) return body.trim();
  return FALLBACK[status] ?? `The request failed (HTTP ${status}).`;
}

export function describeError(err: unknown): string {
  if (err instanceof ApiError) return err.message;
  if (err instanceof DOMException && err.name === "AbortError") return "Cancelled.";
  if (err instanceof TypeError) return "Could not reach the server. Is it running?";
  if (err instanceof Error) return err.message;
  return String(err);
}

async function parseBody(resp: Response): Promise<unknown> {
  const text = await resp.text();
  if (!text) return null;
  try {
    return JSON.parse(text);
  } catch {
    return text;
  }
}

const UNSAFE = new Set(["POST", "PUT", "PATCH", "DELETE"]);
export const UNAUTHORIZED_EVENT = "burntbeats:unauthorized";

/** The CSRF token of this browser's sign-in (the readable `bb_csrf` cookie; absent when accounts are off). */
export function csrfToken(): string | null {
  const match = /(?:^|;\s*)bb_csrf=([^;]+)/.exec(typeof document === "undefined" ? "" : document.cookie);
  return match ? decodeURIComponent(match[1]) : null;
}

/** Headers every change (POST/PUT/PATCH/DELETE) made with the session cookie must carry. */
export function csrfHeaders(method: string): Record<string, string> {
  const token = UNSAFE.has(method.toUpperCase()) ? csrfToken() : null;
  return token ? { "X-CSRF-Token": token } : {};
}

/** A 401 means the sign-in ended (or is needed): the app shows the sign-in page. */
function noteStatus(status: number, path: string): void {
  if (status === 401 && !path.startsWith("/api/auth/") && typeof window !== "undefined") window.dispatchEvent(new Event(UNAUTHORIZED_EVENT));
}

export interface RequestOptions {
  method?: string;
  token?: string | null;
  json?: unknown;
  form?: FormData;
  signal?: AbortSignal;
}

export async function api<T>(path: string, opts: RequestOptions = {}): Promise<T> {
  const headers: Record<string, string> = {};
  let body: BodyInit | undefined;
  if (opts.token) headers["X-Job-Token"] = opts.token;
  if (opts.json !== undefined) {
    headers["Content-Type"] = "application/json";
    body = JSON.stringify(opts.json);
  } else if (opts.form) {
    body = opts.form;
  }
  const method = opts.method ?? (body ? "POST" : "GET");
  Object.assign(headers, csrfHeaders(method));
  const resp = await fetch(path, { method, headers, body, signal: opts.signal });
  const data = await parseBody(resp);
  noteStatus(resp.status, path);
  if (!resp.ok) throw new ApiError(resp.status, errorMessage(resp.status, data));
  return data as T;
}

/** Binary download of an API file (stems, MIDI) with the same error handling. */
export async function apiBytes(path: string, signal?: AbortSignal): Promise<ArrayBuffer> {
  const resp = await fetch(path, { signal });
  if (!resp.ok) throw new ApiError(resp.status, errorMessage(resp.status, await parseBody(resp)));
  return resp.arrayBuffer();
}

export interface UploadProgress {
  loaded: number;
  total: number;
  fraction: number;
}

/** POST a multipart form with XHR so upload progress can be shown. Resolves with the JSON body. */
export function uploadForm<T>(
  path: string,
  form: FormData,
  onProgress?: (p: UploadProgress) => void,
  signal?: AbortSignal,
): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const xhr = new XMLHttpRequest();
    xhr.open("POST", path);
    for (const [name, value] of Object.entries(csrfHeaders("POST"))) xhr.setRequestHeader(name, value);
    xhr.responseType = "text";
    xhr.upload.onprogress = (e) => {
      if (onProgress && e.lengthComputable) onProgress({ loaded: e.loaded, total: e.total, fraction: e.total ? e.loaded / e.total : 0 });
    };
    xhr.onload = () => {
      let data: unknown = xhr.responseText;
      try {
        data = xhr.responseText ? JSON.parse(xhr.responseText) : null;
      } catch {
        /* keep text */
      }
      noteStatus(xhr.status, path);
      if (xhr.status >= 200 && xhr.status < 300) {
        onProgress?.({ loaded: 1, total: 1, fraction: 1 });
        resolve(data as T);
      } else {
        reject(new ApiError(xhr.status, errorMessage(xhr.status, data)));
      }
    };
    xhr.onerror = () => reject(new ApiError(0, "The upload failed: the server could not be reached."));
    xhr.onabort = () => reject(new DOMException("Upload cancelled", "AbortError"));
    signal?.addEventListener("abort", () => xhr.abort(), { once: true });
    xhr.send(form);
  });
}

export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    const t = setTimeout(resolve, ms);
    signal?.addEventListener(
      "abort",
      () => {
        clearTimeout(t);
        reject(new DOMException("Aborted", "AbortError"));
      },
      { once: true },
    );
  });
}

/** Poll a status URL until the job reaches a final state, reporting each update. */
export async function pollJob<T extends JobStatus>(
  statusUrl: string,
  token: string,
  onUpdate: (s: T) => void,
  signal?: AbortSignal,
  intervalMs = 700,
): Promise<T> {
  for (;;) {
    const s = await api<T>(statusUrl, { token, signal });
    onUpdate(s);
    if (FINAL_STATES.includes(s.status)) return s;
    await sleep(s.status === "queued" ? intervalMs * 1.5 : intervalMs, signal);
  }
}

export function cancelJob(jobId: string, token: string): Promise<Schemas["JobCancelledPublic"]> {
  return api(`/api/jobs/${jobId}/cancel`, { method: "POST", token });
}

/** The user's jobs, newest first; `search` matches the title or the file name (server-side). */
export function listJobs(kind?: string, limit = 100, search?: string): Promise<Schemas["JobListPublic"]> {
  const q = new URLSearchParams({ limit: String(limit) });
  if (kind) q.set("kind", kind);
  if (search?.trim()) q.set("q", search.trim());
  return api(`/api/jobs?${q}`);
}

/** Append the token to a file URL if it is not there yet (for <audio src> and downloads). */
export function withToken(url: string, token: string): string {
  if (/[?&]token=/.test(url)) return url;
  return `${url}${url.includes("?") ? "&" : "?"}token=${encodeURIComponent(token)}`;
}
