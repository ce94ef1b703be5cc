"""What every speech enhancement engine shares: the interface (:class:`SpeechEnhancer` makes independent
:class:`EnhancerStream` s), the engines' sample rate, and the error for an engine that cannot load.
The engines live in :mod:`burntbeats.speech.engines` and :mod:`burntbeats.speech.dfn_batch`."""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Protocol

import numpy as np

ENGINE_SAMPLE_RATE = 48000
NO_LIMIT_DB = 100.0  # DeepFilterNet treats >= 100 dB as "no attenuation limit"


class EngineUnavailable(RuntimeError):
    """The engine's runtime or weights cannot be loaded on this machine."""


class EnhancerStream(Protocol):
    def process(self, frames: np.ndarray) -> np.ndarray:
        """float32 mono samples in [-1, 1], a whole number of frames -> the same number of samples."""
        ...

    def close(self) -> None: ...


class SpeechEnhancer(ABC):
    """A speech denoiser. Output sample ``n`` of a stream corresponds to input sample ``n - delay``."""

    name: str  # engine name as stored on the job ("deepfilternet3", "rnnoise")
    model: str  # model/version description for the job result
    sample_rate: int = ENGINE_SAMPLE_RATE
    frame_length: int = 480
    delay: int = 0
    # False when the engine cannot limit its own attenuation: the driver then mixes the
    # (time-aligned) input back in at ``dry_gain()``.
    native_atten_limit: bool = False
    # The limit used when the caller gives none (None = remove as much as the model wants).
    default_atten_limit_db: float | None = None

    def __init__(self, atten_limit_db: float | None = None) -> None:
        """`atten_limit_db`: None = the engine's default; 100 (or more) = no limit."""
        if atten_limit_db is None:
            atten_limit_db = self.default_atten_limit_db
        if atten_limit_db is not None and not (0.0 < float(atten_limit_db) <= NO_LIMIT_DB):
            raise ValueError("atten_limit_db must be in (0, 100]")
        self.atten_limit_db = None if atten_limit_db is None or atten_limit_db >= NO_LIMIT_DB else float(atten_limit_db)

    def dry_gain(self) -> float:
        """How much of the input to mix back in to honour the attenuation limit (0 = none)."""
        if self.native_atten_limit or self.atten_limit_db is None:
            return 0.0
        return float(10.0 ** (-self.atten_limit_db / 20.0))

    @abstractmethod
    def open_stream(self) -> EnhancerStream:
        """A new, independent model state (one per channel and per parallel segment)."""

    def describe(self) -> dict:
        return {"engine": self.name, "model": self.model, "delay_samples": self.delay,
                "atten_limit_db": self.atten_limit_db}
