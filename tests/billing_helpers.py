"""Helpers for the billing tests: a metered app (USAGE_TOKENS_ENABLED) whose runner runs nothing by itself."""

from __future__ import annotations

import io
from contextlib import contextmanager

import numpy as np
import soundfile as sf
from fastapi.testclient import TestClient

from accounts_helpers import signed_up
from burntbeats.api.app import create_app
from conftest import make_settings
from test_submit import RecordingRunner


@contextmanager
def metered_app(tmp_path, runner=None, **overrides):
    """(app, settings, runner) with USAGE_TOKENS_ENABLED=1 (so AUTH_REQUIRED too); jobs stay queued until the
    test runs them (test_submit.run_queued)."""
    settings = make_settings(tmp_path, usage_tokens_enabled=True, **overrides)
    runner = runner or RecordingRunner()
    app = create_app(settings, runner=runner)
    with TestClient(app):
        yield app, settings, runner


def wav_bytes(seconds: float, rate: int = 8000, silent: bool = False) -> bytes:
    """A mono WAV (a quiet tone, or digital silence) of `seconds`."""
    n = int(seconds * rate)
    x = np.zeros(n, np.float32) if silent else (0.3 * np.sin(2 * np.pi * 440 * np.arange(n) / rate)).astype(np.float32)
    buf = io.BytesIO()
    sf.write(buf, x, rate, format="WAV", subtype="PCM_16")
    return buf.getvalue()


def flac_silence(seconds: float, rate: int = 8000) -> bytes:
    """A long file that stays small (FLAC of silence): for the duration limits."""
    buf = io.BytesIO()
    sf.write(buf, np.zeros(int(seconds * rate), np.float32), rate, format="FLAC", subtype="PCM_16")
    return buf.getvalue()


def split(client: TestClient, payload: bytes, name: str = "song.wav", **form):
    data = {"stems": "2", "quality": "fast", **{k: str(v) for k, v in form.items()}}
    return client.post("/api/stems/split", files={"file": (name, payload)}, data=data)


__all__ = ["flac_silence", "metered_app", "signed_up", "split", "wav_bytes"]
