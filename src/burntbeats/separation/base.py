"""The one small interface every separation engine implements.

An engine takes a block of stereo audio at its own sample rate and returns named
stems of the same shape. The chunked driver (`separation.apply`) feeds it
overlapping blocks of a long file so memory stays flat in song length.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

import numpy as np

TWO_STEMS = ("vocals", "instrumental")
FOUR_STEMS = ("vocals", "drums", "bass", "other")

# progress(fraction_done_in_this_call: float in [0, 1])
ProgressFn = Callable[[float], None]


def stem_names(stems: int) -> tuple[str, ...]:
    if stems == 2:
        return TWO_STEMS
    if stems == 4:
        return FOUR_STEMS
    raise ValueError(f"stems must be 2 or 4, got {stems}")


@dataclass
class EngineInfo:
    """What ran, for the job result: the engine name, its model and why it was chosen."""

    engine: str
    model: str | None = None
    note: str | None = None
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
