"""Job kinds and their handlers, as import paths so worker processes load only what they run.

Each capability adds one line here; all kinds share the same pipeline (queue, worker
processes, progress, cancellation, retention, error reporting).
"""

from __future__ import annotations

import importlib
from collections.abc import Callable

from burntbeats.jobs.context import JobContext
from burntbeats.jobs.kinds import JobKind

JOB_KINDS: dict[str, str] = {
    JobKind.STEMS_SPLIT: "burntbeats.separation.job:run_split",
    JobKind.STEMS_EXPORT: "burntbeats.separation.mixdown:run_export",
    JobKind.SPEECH_ENHANCE: "burntbeats.speech.job:run_enhance",
    JobKind.MIDI_TRANSCRIBE: "burntbeats.midi.job:run_transcribe",
    JobKind.MIDI_EXPORT: "burntbeats.midi.job:run_export",
}


def resolve_handler(kind: str) -> Callable[[JobContext], dict]:
    try:
        target = JOB_KINDS[kind]
    except KeyError:
        raise LookupError(f"unknown job kind {kind!r}") from None
    module_name, func_name = target.split(":")
    return getattr(importlib.import_module(module_name), func_name)
