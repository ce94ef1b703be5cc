"""Job kinds and their handlers, as import paths so worker processes load only what they run.

Each capability adds one line here; all kinds share the same pipeline (queue, worker
processes, progress, cancellation, retention, error reporting).
"""

from __future__ import annotations

import importlib
from typing import Callable

from burntbeats.jobs.context import JobContext

JOB_KINDS: dict[str, str] = {
    "stems.split": "burntbeats.separation.job:run_split",
    "stems.export": "burntbeats.separation.mixdown:run_export",
    "speech.enhance": "burntbeats.speech.job:run_enhance",
    "midi.transcribe": "burntbeats.midi.job:run_transcribe",
    "midi.export": "burntbeats.midi.job:run_export",
}


def resolve_handler(kind: str) -> Callable[[JobContext], dict]:
    try:
        target = JOB_KINDS[kind]
    except KeyError:
        raise LookupError(f"unknown job kind {kind!r}") from None
    module_name, func_name = target.split(":")
    return getattr(importlib.import_module(module_name), func_name)
