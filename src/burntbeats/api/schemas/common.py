"""Response models shared by the job routes and those of stems, speech, server export, jobs, models and /health.

Routes return plain dicts validated against these (`response_model`); fields a status only has in some states
(a finished job's `result`, file URLs) are left out of the JSON until then (`response_model_exclude_unset`),
exactly as before the models existed.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, Field

from burntbeats.jobs.kinds import JobKind

Urls = dict[str, str]  # format (wav, flac, mp3) -> URL with the job's token
# A job's state: burntbeats.models.JobStatus.ALL, spelled out so the OpenAPI (and the web's types) list them.
JobState = Literal["queued", "running", "succeeded", "failed", "cancelled"]


class JobAcceptedPublic(BaseModel):
    """202: the job is queued. Poll `status_url` with the `job_token` (X-Job-Token header or ?token=)."""

    job_id: str
    job_token: str = Field(description="Whoever holds it may read the job and its files.")
    status: JobState = Field(description="queued")
    status_url: str


class JobEstimatePublic(BaseModel):
    """How long a queued or running job will take, from this server's measured speed (jobs/estimate.py)."""

    seconds_left: float | None = Field(description="Until the job is done (queued: the wait included); null when "
                                                   "it cannot be told yet.")
    run_s: float | None = Field(description="Its whole run, from the measured x-realtime and the input's duration.")
    x_realtime: float | None = Field(description="Measured speed of finished jobs of this kind and quality: seconds "
                                                 "of audio per second of processing (start-up cost aside).")
    samples: int = Field(description="Finished jobs that speed was measured on.")


class JobStatusPublic(BaseModel):
    """What every job's status has."""

    job_id: str
    kind: JobKind = Field(description="The job kind (jobs/kinds.py).")
    status: JobState
    progress: float = Field(description="0-100.")
    stage: str | None = Field(description="What the job is doing, e.g. decoding, separating, encoding.")
    queue_position: int | None = Field(description="1 = next to run; null once it left the queue.")
    estimate: JobEstimatePublic | None = Field(description="Time left while queued or running; null otherwise.")
    engine: str | None
    engine_note: str | None = Field(description="Why another engine ran than the one asked for, if so.")
    device: str | None = Field(None, description="Where the engine ran: cpu, cuda or mps (DEVICE), from the "
                               "result of a stems or speech job; null until it is done and for other kinds.")
    error: str | None = Field(description="A sentence when the job failed.")
    params: dict[str, Any] = Field(description="The job's parameters (and the input's probed facts).")
    input_name: str | None
    title: str | None = Field(description="The name the user gave the job (PATCH /api/jobs/{job_id}); null = "
                                          "input_name.")
    duration_s: float | None = Field(description="The input's duration in seconds, when known.")
    stem_count: int | None = Field(description="Stems jobs: the stems asked for (made, once done); null for other "
                                               "kinds.")
    stem_names: list[str] = Field(description="Stems jobs: the stems made, once done (empty otherwise).")
    parent_id: str | None = Field(description="The job this one was made from (expand, export, MIDI from a stem).")
    group_id: str | None = Field(description="The batch it belongs to.")
    created_at: str | None
    started_at: str | None
    finished_at: str | None
    expires_at: str | None = Field(description="When the files are removed: finished_at + JOB_RETENTION_HOURS (null "
                                               "while queued or running; in the past once files_expired).")
    files_expired: bool = Field(description="The files were removed after JOB_RETENTION_HOURS.")


class JobListItemPublic(JobStatusPublic):
    job_token: str


class JobListPublic(BaseModel):
    jobs: list[JobListItemPublic]


class JobCancelledPublic(BaseModel):
    job_id: str
    status: JobState


class JobDeletedPublic(BaseModel):
    """The job's files were removed; its links now answer 410 with a sentence."""

    job_id: str
    deleted_at: str


class StemFilePublic(BaseModel):
    id: str = Field(description="The stem's name: vocals, instrumental, drums, bass, guitar, piano, other.")
    url: str = Field(description="The WAV.")
    urls: Urls
    playback_url: str = Field(description="Its playback rendition and waveform peaks (StemPlaybackPublic).")


class StemsStatusPublic(JobStatusPublic):
    stems: list[StemFilePublic] = Field(description="Empty until the job succeeded.")
    original_url: str | None = Field(None, description="The original upload (when done).")
    archive_url: str | None = Field(None, description="A ZIP of every stem; add &format=wav|flac|mp3 and &bits=16|24 "
                                    "(when done).")
    server_export: bool | None = Field(None, description="Whether this server renders mixes (SERVER_EXPORT_ENABLED; "
                                       "when done).")
    result: dict[str, Any] | None = Field(None, description="Engine, model, stems, durations (when done).")


class ServerExportStatusPublic(JobStatusPublic):
    result: dict[str, Any] | None = Field(None, description="The mix's facts (when done).")
    url: str | None = Field(None, description="The mix in the requested format (when done).")
    urls: Urls | None = Field(None, description="The mix as wav and mp3 (when done).")


class SpeechStatusPublic(JobStatusPublic):
    upload_url: str = Field(description="The original upload, byte for byte (at once).")
    files: dict[str, Urls] = Field(description="enhanced / original -> format -> URL; empty until done.")
    result: dict[str, Any] | None = Field(None, description="Engine, rates, loudness (when done).")


class EnginePublic(BaseModel):
    name: str
    kind: str
    available: bool
    reason: str | None
    versions: dict[str, str | None]
    description: str


class ModelFilePublic(BaseModel):
    name: str
    url: str | None
    sha256_prefix: str | None
    present: bool
    size_bytes: int | None


class ModelPublic(BaseModel):
    name: str
    engine: str
    architecture: str
    title: str
    description: str
    sources: list[str]
    stems: list[int]
    bag_size: int
    installed: bool
    files: list[ModelFilePublic]
    license: str
    quality_modes: list[str] = Field(description="The quality modes that ask for this model.")


class QualityModePublic(BaseModel):
    quality: str
    neural_model: str | None
    engine: str
    model: str
    note: str | None


class ModelsPublic(BaseModel):
    engines: list[EnginePublic]
    models: list[ModelPublic]
    quality_modes: list[QualityModePublic]


class DiskPublic(BaseModel):
    free_bytes: int = Field(description="Free space on DATA_DIR's disk.")
    min_free_bytes: int = Field(description="MIN_FREE_DISK_MB: below it new uploads are refused (507).")
    ok: bool = Field(description="free_bytes >= min_free_bytes; false makes the status degraded.")


class LimitsPublic(BaseModel):
    max_upload_mb: int = Field(description="MAX_UPLOAD_MB: the largest upload (MB) for stems and MIDI; a MIDI "
                               "batch counts as one upload.")
    speech_max_upload_mb: int = Field(description="SPEECH_MAX_UPLOAD_MB: the largest upload (MB) to clean speech.")
    max_duration_s: float = Field(description="MAX_DURATION_S: the longest audio (seconds) any job accepts.")
    midi_max_batch_items: int = Field(description="MIDI_MAX_BATCH_ITEMS: files or stems in one MIDI batch.")
    job_retention_hours: float = Field(description="JOB_RETENTION_HOURS: a job's files are deleted this long "
                                       "after it finishes.")


class DependencyPublic(BaseModel):
    """One thing the service needs, checked for this answer."""

    name: Literal["database", "broker", "storage", "engines"]
    status: Literal["ok", "down"]
    latency_ms: float = Field(description="How long the check took.")
    detail: str | None = Field(description="What was checked, or a sentence saying what is wrong.")


class HealthPublic(BaseModel):
    """200 while every dependency is up (`degraded` when the disk is low); 503 with the same body when one is
    down (`unavailable`)."""

    status: Literal["ok", "degraded", "unavailable"]
    database: Literal["ok", "unavailable"]
    runner: Literal["local", "celery"] = Field(description="JOB_RUNNER: where jobs run.")
    dependencies: list[DependencyPublic] = Field(description="database, broker (celery only), storage, engines.")
    disk: DiskPublic
    version: str
