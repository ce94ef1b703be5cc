"""`burntbeats separate` writes OUTPUT/<song>/<stem>.wav."""

from __future__ import annotations

import numpy as np
import soundfile as sf
from typer.testing import CliRunner

from audio_fixtures import make_song
from burntbeats.cli import app


def test_separate_writes_four_stems(tmp_path, monkeypatch):
    monkeypatch.setenv("DATA_DIR", str(tmp_path / "data"))
    song = tmp_path / "song.flac"
    make_song(song, seconds=4.0)
    out = tmp_path / "out"
    result = CliRunner().invoke(app, ["separate", str(song), "--stems", "4", "--quality", "fast", "-o", str(out)])
    assert result.exit_code == 0, result.output
    files = sorted(p.name for p in (out / "song").iterdir())
    assert files == ["bass.wav", "drums.wav", "other.wav", "vocals.wav"]
    data, sr = sf.read(out / "song" / "vocals.wav")
    assert sr == 44100 and abs(len(data) - 4.0 * 44100) < 10
    assert np.isfinite(data).all()


def test_separate_rejects_bad_input(tmp_path):
    bad = tmp_path / "notes.mp3"
    bad.write_text("hello")
    result = CliRunner().invoke(app, ["separate", str(bad), "-o", str(tmp_path / "o")])
    assert result.exit_code == 1
    assert "error" in result.output.lower()
    result = CliRunner().invoke(app, ["separate", str(bad), "--stems", "3"])
    assert result.exit_code != 0
