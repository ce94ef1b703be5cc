"""The one small interface every separation engine implements.

An engine takes a block of stereo audio at its own sample rate and returns named
stems of the same shape. The chunked driver (`separation.apply`) feeds it
overlapping blocks of a long file so memory stays flat in song length.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol

import numpy as np

if TYPE_CHECKING:
    from burntbeats.settings import Settings

TWO_STEMS = ("vocals", "instrumental")
FOUR_STEMS = ("vocals", "drums", "bass", "other")
# Only a model with guitar and piano sources (htdemucs_6s) makes these; no built-in engine does.
SIX_STEMS = ("vocals", "drums", "bass", "guitar", "piano", "other")
# Stem count -> stem names, in the order jobs list them. The routing table (separation.routing)
# and GET /api/stems/modes have one row per mode and per layout here.
STEM_LAYOUTS: dict[int, tuple[str, ...]] = {2: TWO_STEMS, 4: FOUR_STEMS, 6: SIX_STEMS}

# progress(fraction_done_in_this_call: float in [0, 1])
ProgressFn = Callable[[float], None]


def stem_names(stems: int) -> tuple[str, ...]:
    try:
        return STEM_LAYOUTS[stems]
    except (KeyError, TypeError):
        raise ValueError(f"stems must be one of {', '.join(map(str, STEM_LAYOUTS))}, got {stems}") from None


class EngineUnavailable(Exception):
    """The requested engine cannot run here (e.g. weights not installed); the message says why."""


@dataclass
class EngineInfo:
    """What ran, for the job result: the engine name, its model and why it was chosen."""

    engine: str
    model: str | None = None
    note: str | None = None
    label: str | None = None  # the routing table's label, e.g. "Balanced — Spleeter 2-stem (built in)"
    extra: dict = field(default_factory=dict)


class Separator(Protocol):
    name: str
    sample_rate: int
    # Preferred block length (seconds) and overlap for the chunked driver.
    segment_s: float
    overlap_s: float

    def separate(self, audio: np.ndarray, stems: int, progress: ProgressFn | None = None) -> dict[str, np.ndarray]:
        """audio: float32 array (channels=2, samples). Returns {stem name: array of the same shape}."""
        ...

# Finished stems live in <job folder>/stems/<name>.wav.
STEMS_SUBDIR = "stems"


# --------------------------------------------------------------------------- routing


@dataclass(frozen=True)
class Offer:
    """What a candidate would run: engine and model names for the job result, a title for people."""

    engine: str
    model: str
    title: str  # e.g. "Spleeter 2-stem (built in)", "Demucs htdemucs"
    note: str | None = None  # a remark even though it runs (e.g. "used htdemucs, the best installed")
    # Set when the offer is itself a stand-in for the candidate's first choice: what that was
    # ("Demucs htdemucs_ft") and why not, for the label ("htdemucs_ft not installed").
    instead_of: str | None = None
    short: str | None = None
    options: dict = field(default_factory=dict)  # what build() needs (e.g. the model name resolved)


@dataclass(frozen=True)
class Skip:
    """Why a candidate cannot run: `title` what it would have been ("htdemucs_ft"), `short` for a label
    ("htdemucs_ft not installed"), `reason` a sentence (with what to do about it, if anything)."""

    title: str
    short: str
    reason: str


@dataclass(frozen=True)
class Plan:
    """The routing decision for one request. `engine`, `model` and `note` go into the job result."""

    quality: str
    stems: int
    candidate: str  # key of the candidate that runs (CANDIDATES)
    engine: str
    model: str
    title: str
    label: str  # "Balanced — Spleeter 2-stem (built in)" / "Best — htdemucs_ft not installed: runs ..."
    note: str | None  # why the mode's first choice does not run, or the running engine's remark
    preferred: str  # title of the mode's first choice for this stem count
    fallback: bool  # True when the first choice does not run
    available: bool = True  # False: no engine of the chain serves this stem count here (note says why)
    options: dict = field(default_factory=dict)


class Candidate(Protocol):
    """One engine of the routing table (separation.routing): a cheap probe and a builder."""

    key: str

    def probe(self, settings: Settings, quality: str, stems: int) -> Offer | Skip:
        """What would run for (quality, stems) on this install, or why not; loads nothing."""
        ...

    def build(self, settings: Settings, plan: Plan) -> Separator:
        """The engine for a plan this candidate offered; raises EngineUnavailable when it cannot."""
        ...
