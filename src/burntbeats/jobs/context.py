"""What a job handler sees while it runs: its parameters, its folder, and a progress hook.

A handler is a plain function `handler(ctx: JobContext) -> dict` registered in
`burntbeats.jobs.registry.JOB_KINDS`. It reads `ctx.params` and `ctx.input_path`,
writes its outputs under `ctx.job_dir` (in the server, a staging folder for this attempt whose
contents are moved into the job's folder only when the attempt succeeds), calls `ctx.progress(stage, percent)` as it
goes, and returns a JSON-able result dict which is stored on the job. It raises
`JobError("a sentence for the user")` for failures the user should read; any other
exception is logged and reported as a generic internal error.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from burntbeats.settings import Settings


class JobError(Exception):
    """A failure whose message is safe and useful to show to the user."""


class JobCancelled(Exception):
    """Raised inside a handler (from `progress`) when the job was cancelled."""


@dataclass
class JobContext:
    job_id: str
    kind: str
    owner_id: str
    params: dict[str, Any]
    job_dir: Path
    input_path: Path | None
    settings: Settings
    attempt: int = 1
    # The job's own folder, holding the inputs stored at submission (`input`, linked `sources/`...).
    # None means job_dir (the CLI); in the server job_dir is this attempt's staging folder.
    inputs_dir: Path | None = None
    # Set by the runner: persists (stage, percent) and raises JobCancelled if the job was cancelled.
    report: Callable[[str, float], None] = field(default=lambda stage, pct: None, repr=False)

    def input_file(self, name: str) -> Path:
        """A file stored with the job at submission, e.g. `sources/vocals.wav`."""
        return (self.inputs_dir or self.job_dir) / name

    def progress(self, stage: str, percent: float) -> None:
        self.report(stage, max(0.0, min(100.0, float(percent))))

    def sub_progress(self, stage: str, start: float, end: float) -> Callable[[float], None]:
        """A fraction-based callback (0..1) mapped onto [start, end] percent of this job."""

        def cb(fraction: float) -> None:
            self.progress(stage, start + (end - start) * max(0.0, min(1.0, fraction)))

        return cb
