// The MIDI API (/api/midi/*): conversions, notes, batches, merge and zip export.

import { api, ApiError, csrfHeaders, errorMessage, type Accepted, type JobStatus, type Schemas } from "./api";
import type { operations } from "./api-types";
import type { ServerNote } from "./pianoRoll";

/** The JSON bodies of /convert and /batch, as the server's OpenAPI declares them (they also take a form). */
type ConvertBody = NonNullable<operations["midi_convert_api_midi_convert_post"]["requestBody"]>["content"]["application/json"];
type BatchBody = NonNullable<operations["midi_batch_api_midi_batch_post"]["requestBody"]>["content"]["application/json"];

/** A conversion's status (the server's MidiStatusPublic; `status` narrowed to the job states). */
export type MidiStatus = JobStatus & Schemas["MidiStatusPublic"];

/** Every conversion setting with a value (the form always holds one; null = the server's automatic choice). */
export type ConversionSettings = Required<Schemas["ConversionSettings"]>;

/** Basic Pitch's own defaults (the server's too). */
export const DEFAULT_SETTINGS: ConversionSettings = {
  onset_threshold: 0.5,
  frame_threshold: 0.3,
  minimum_note_length_ms: 127.7,
  minimum_frequency: null,
  maximum_frequency: null,
  melodia_trick: true,
  multiple_pitch_bends: false,
  pitch_bends: true,
  midi_tempo: 120,
  quantize: null,
  program: null,
  drums: null,
};

/** Only the settings that differ from the defaults (null means "the server's automatic choice"). */
export function changedSettings(s: ConversionSettings): Record<string, string | number | boolean> {
  const out: Record<string, string | number | boolean> = {};
  for (const [k, v] of Object.entries(s) as [keyof ConversionSettings, ConversionSettings[keyof ConversionSettings]][]) {
    if (v === null || v === undefined) continue;
    if (v === DEFAULT_SETTINGS[k]) continue;
    out[k] = v;
  }
  return out;
}

export function appendSettings(form: FormData, s: ConversionSettings): void {
  for (const [k, v] of Object.entries(changedSettings(s))) form.append(k, String(v));
}

export type BatchAccepted = Schemas["BatchAcceptedPublic"];

export type NotesSaved = Schemas["NotesSavedPublic"];

export function convertStem(sourceJob: string, sourceToken: string, stem: string, s: ConversionSettings): Promise<Accepted> {
  const body: ConvertBody = { source_job: sourceJob, stem, source_token: sourceToken, ...changedSettings(s) };
  return api("/api/midi/convert", { json: body });
}

export function batchStems(items: { source_job: string; stem: string; source_token: string }[], s: ConversionSettings): Promise<BatchAccepted> {
  const body: BatchBody = { items, ...changedSettings(s) };
  return api("/api/midi/batch", { json: body });
}

export function saveNotes(jobId: string, token: string, notes: ServerNote[], baseVersion?: number): Promise<NotesSaved> {
  return api(`/api/midi/notes/${jobId}`, { method: "PUT", token, json: { notes, base_version: baseVersion } });
}

export type JobRef = Schemas["JobRef"];

/** The merged multi-track .mid of several finished conversions. */
export async function mergeJobs(sources: JobRef[], title?: string): Promise<Blob> {
  const body: Schemas["MergeRequest"] = { sources, title };
  const resp = await fetch("/api/midi/merge", {
    method: "POST",
    headers: { "Content-Type": "application/json", ...csrfHeaders("POST") },
    body: JSON.stringify(body),
  });
  if (!resp.ok) {
    let body: unknown = null;
    try {
      body = await resp.json();
    } catch {
      /* not JSON */
    }
    throw new ApiError(resp.status, errorMessage(resp.status, body));
  }
  return resp.blob();
}

export type ExportAccepted = Schemas["ExportAcceptedPublic"];

export type ExportStatus = JobStatus & Schemas["ExportStatusPublic"];

export function startExport(sources: JobRef[], title?: string): Promise<ExportAccepted> {
  const body: Schemas["ExportRequest"] = { mode: "stems", source_jobs: sources, title };
  return api("/api/midi/export", { json: body });
}
