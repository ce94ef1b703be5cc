"""What a job costs in usage tokens: one function, from its kind, the input's duration, stems and quality.

    stems.split     STEMS_TOKEN_COST_PER_MINUTE x minutes x STEMS_TOKEN_FACTORS[stems] x QUALITY_TOKEN_FACTORS[quality]
    speech.enhance  SPEECH_TOKEN_COST_PER_MINUTE x minutes x QUALITY_TOKEN_FACTORS[engine mode]
    midi.transcribe MIDI_TOKEN_COST per file
    stems.export    STEMS_EXPORT_TOKEN_COST per server-side mix
    midi.export     MIDI_EXPORT_TOKEN_COST per ZIP

Minutes are exact (90 s = 1.5 minutes); the product is rounded up to a whole token, and a job that costs
anything costs at least 1. The submission reserves this; GET /api/billing/quote answers it beforehand.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from burntbeats.billing.plans import minutes_label
from burntbeats.jobs.kinds import JobKind
from burntbeats.settings import Settings

KIND_LABELS = {
    JobKind.STEMS_SPLIT: "split", JobKind.STEMS_EXPORT: "server mix", JobKind.SPEECH_ENHANCE: "speech clean-up",
    JobKind.MIDI_TRANSCRIBE: "MIDI conversion", JobKind.MIDI_EXPORT: "MIDI export",
}


@dataclass(frozen=True)
class Cost:
    tokens: int
    description: str  # "a 4-stem balanced split of 3:30: 10 x 3.5 min x 1.5 x 1 = 53 tokens"


def duration_of(params: Mapping[str, Any]) -> float | None:
    """The input's probed duration in seconds (the submission stores it under params["input"])."""
    value = (params.get("input") or {}).get("duration_s") if isinstance(params.get("input"), Mapping) else None
    return float(value) if isinstance(value, (int, float)) and value >= 0 else None


def quality_of(kind: str, params: Mapping[str, Any]) -> str:
    key = "engine" if kind == JobKind.SPEECH_ENHANCE else "quality"
    return str(params.get(key) or "balanced")


def _per_minute(tokens_per_minute: float, seconds: float, factors: list[float]) -> float:
    raw = tokens_per_minute * seconds / 60.0
    for factor in factors:
        raw *= factor
    return raw


def _whole(raw: float) -> int:
    if raw <= 0:
        return 0
    return max(1, math.ceil(raw - 1e-9))


def _factor_text(value: float) -> str:
    return f"{value:g}"


def job_cost(settings: Settings, kind: str, params: Mapping[str, Any]) -> Cost:
    """The token cost of one job of `kind` with these params (the input's facts included)."""
    label = KIND_LABELS.get(kind, kind)
    if kind in (JobKind.STEMS_SPLIT, JobKind.SPEECH_ENHANCE):
        seconds = duration_of(params) or 0.0
        quality = quality_of(kind, params)
        q_factor = float(settings.quality_token_factors.get(quality, 1.0))
        if kind == JobKind.STEMS_SPLIT:
            stems = int(params.get("stems") or 2)
            s_factor = float(settings.stems_token_factors.get(stems, 1.0))
            rate, factors = settings.stems_token_cost_per_minute, [s_factor, q_factor]
            what = f"a {stems}-stem {quality} {label} of {minutes_label(seconds)}"
        else:
            rate, factors = settings.speech_token_cost_per_minute, [q_factor]
            what = f"a {quality} {label} of {minutes_label(seconds)}"
        tokens = _whole(_per_minute(rate, seconds, factors))
        formula = " x ".join([_factor_text(rate), f"{seconds / 60:.2f} min", *map(_factor_text, factors)])
        return Cost(tokens, f"{what}: {formula} = {tokens} token{'s' if tokens != 1 else ''}")
    flat = {
        JobKind.MIDI_TRANSCRIBE: settings.midi_token_cost,
        JobKind.STEMS_EXPORT: settings.stems_export_token_cost,
        JobKind.MIDI_EXPORT: settings.midi_export_token_cost,
    }.get(kind, 0)
    return Cost(int(flat), f"a {label}: {flat} token{'s' if flat != 1 else ''}")
