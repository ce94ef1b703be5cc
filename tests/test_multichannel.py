"""Multichannel input: 5.1 and 7.1 in WAV, FLAC and Opus decode (no crash at 8+ planes), fold down
with ITU-style coefficients, and go through split, enhance and MIDI via the API saying they downmixed.

Files are 1.2 s; each API test submits all six at once (two worker processes) and waits for them."""

from __future__ import annotations

import importlib.util
import io
import subprocess
import sys

import numpy as np
import pytest
import soundfile as sf

from audio_fixtures import SURROUND_FORMATS, make_surround, surround_signal
from burntbeats.audio import decode_to_wav, probe, read_audio
from conftest import wait_for

SECONDS = 1.2
LAYOUTS = {"5.1": 6, "7.1": 8}
CASES = [(layout, ext) for layout in LAYOUTS for ext in SURROUND_FORMATS]
SQRT1_2 = 0.7071067811865476


@pytest.fixture(scope="module")
def surround_files(tmp_path_factory):
    d = tmp_path_factory.mktemp("surround")
    files = {}
    for layout, ext in CASES:
        path = d / f"take {layout}.{ext}"
        make_surround(path, layout, seconds=SECONDS)
        files[layout, ext] = path
    return files


# --------------------------------------------------------------------------- decoding


def test_planar_7_1_decodes_in_a_child_process(surround_files):
    """The crash was a segfault: run the decode in a child so a regression fails this test only."""
    path = surround_files["7.1", "flac"]  # the FLAC decoder outputs planar s16p/s32p: 8 planes
    code = ("import sys; from burntbeats.audio import read_audio; "
            "a, sr = read_audio(sys.argv[1]); print(a.shape[0], a.shape[1], sr)")
    done = subprocess.run([sys.executable, "-c", code, str(path)], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, (done.returncode, done.stderr[-2000:])
    assert done.stdout.split() == ["8", str(round(SECONDS * 48000)), "48000"]


@pytest.mark.parametrize("layout,ext", CASES)
def test_surround_probe_and_decode(surround_files, tmp_path, layout, ext):
    path = surround_files[layout, ext]
    channels = LAYOUTS[layout]
    info = probe(path)
    assert (info.channels, info.sample_rate, info.layout) == (channels, 48000, layout)
    assert info.duration_s == pytest.approx(SECONDS, abs=0.02)

    audio, sr = read_audio(path)  # all channels kept, in FFmpeg's order
    assert audio.shape == (channels, round(SECONDS * 48000)) and sr == 48000
    if ext != "opus":  # lossless: the channels come back where they were written
        np.testing.assert_allclose(audio, surround_signal(layout, SECONDS), atol=2e-4)

    for out_channels, target in ((2, "stereo"), (1, "mono")):
        out = tmp_path / f"o{out_channels}.wav"
        dinfo = decode_to_wav(path, out, sample_rate=44100, channels=out_channels)
        assert dinfo.downmix == f"{layout} input was downmixed to {target}."
        data, osr = sf.read(out, dtype="float32", always_2d=True)
        assert osr == 44100 and data.shape[1] == out_channels
        assert data.shape[0] == pytest.approx(SECONDS * 44100, abs=2)
        assert np.isfinite(data).all() and 0.05 < np.abs(data).max() <= 1.0


def test_stereo_and_mono_input_report_no_downmix(tmp_path):
    from audio_fixtures import make_tone

    make_tone(tmp_path / "s.flac", seconds=0.5)
    assert decode_to_wav(tmp_path / "s.flac", tmp_path / "o.wav", channels=2).downmix is None
    assert decode_to_wav(tmp_path / "s.flac", tmp_path / "o.wav", channels=1).downmix is None


def _one_channel_file(tmp_path, layout: str, hot: str):
    """A WAV in ``layout`` with a 0.5 full-scale DC-free tone on channel ``hot`` only."""
    import av

    names = [c.name for c in av.AudioLayout(layout).channels]
    audio = np.zeros_like(surround_signal(layout, 0.5, 48000))
    t = np.arange(audio.shape[1]) / 48000
    audio[names.index(hot)] = 0.5 * np.sin(2 * np.pi * 1000 * t)
    path = tmp_path / f"{hot}.wav"
    with sf.SoundFile(path, "w", 48000, len(names), subtype="FLOAT") as f:  # no channel mask: default order
        f.write(audio.T)
    return path


@pytest.mark.parametrize(
    "layout,hot,left,right",
    [
        # ITU-R BS.775 fold-down: L + 0.707 C + 0.707 Ls (LFE dropped), scaled so a full-scale
        # signal on every channel cannot clip: 5.1 rows sum to 1 + 2 * 0.707, 7.1 rows to 1 + 3 * 0.707.
        ("5.1", "FL", 1.0, 0.0),
        ("5.1", "FC", SQRT1_2, SQRT1_2),
        ("5.1", "LFE", 0.0, 0.0),
        ("5.1", "BR", 0.0, SQRT1_2),
        ("7.1", "FR", 0.0, 1.0),
        ("7.1", "BL", SQRT1_2, 0.0),
        ("7.1", "SL", SQRT1_2, 0.0),
    ],
)
def test_itu_downmix_coefficients(tmp_path, layout, hot, left, right):
    path = _one_channel_file(tmp_path, layout, hot)
    norm = 1 + (2 if layout == "5.1" else 3) * SQRT1_2
    stereo, _ = read_audio(path, channels=2)
    peak = np.abs(stereo).max(axis=1) / 0.5
    np.testing.assert_allclose(peak, [left / norm, right / norm], atol=1e-3)
    mono, _ = read_audio(path, channels=1)  # the mean of the stereo fold-down
    assert np.abs(mono).max() / 0.5 == pytest.approx((left + right) / 2 / norm, abs=1e-3)


def test_many_channels_without_layout_fold_down(tmp_path):
    path = tmp_path / "twelve.wav"
    x = np.full((24000, 12), 0.25, np.float32)
    sf.write(path, x, 48000, subtype="FLOAT")
    out = tmp_path / "o.wav"
    info = decode_to_wav(path, out, sample_rate=48000, channels=2)
    assert info.channels == 12 and info.downmix == "12-channel input was downmixed to stereo."
    data, _ = sf.read(out, always_2d=True)
    assert data.shape == (24000, 2) and np.abs(data).max() <= 0.25 + 1e-6 and np.abs(data).min() > 0.05


# --------------------------------------------------------------------------- through the API


def _submit_all(client, url, files, **form):
    jobs = {}
    for key, path in files.items():
        with open(path, "rb") as fh:
            resp = client.post(url, files={"file": (path.name, fh, "application/octet-stream")},
                               data={k: str(v) for k, v in form.items()})
        assert resp.status_code == 202, (key, resp.text)
        jobs[key] = resp.json()
    return {key: wait_for(client, body["status_url"], body["job_token"], timeout=240) for key, body in jobs.items()}


def _expect_downmixed(status, layout, target):
    assert status["status"] == "succeeded", status
    assert status["result"]["input_downmix"] == f"{layout} input was downmixed to {target}."


def test_split_surround(client, surround_files):
    for (layout, _), status in _submit_all(client, "/api/stems/split", surround_files, stems=2, quality="fast").items():
        _expect_downmixed(status, layout, "stereo")
        assert status["result"]["source"]["channels"] == LAYOUTS[layout]
        for stem in status["stems"]:
            audio, sr = sf.read(io.BytesIO(client.get(stem["url"]).content), always_2d=True)
            assert audio.shape[1] == 2 and audio.shape[0] == pytest.approx(SECONDS * sr, abs=2)
        assert np.abs(audio).max() > 0.01


def test_enhance_surround(client, surround_files):
    # the default (channels=mono) folds to mono; channels=keep keeps at most two, so folds to stereo
    for mode, target, width in (("mono", "mono", 1), ("keep", "stereo", 2)):
        files = {k: v for k, v in surround_files.items() if (k[0] == "5.1") == (mode == "keep")}
        done = _submit_all(client, "/api/speech/enhance", files, engine="fast", channels=mode)
        for (layout, _), status in done.items():
            _expect_downmixed(status, layout, target)
            assert status["result"]["channels"] == width
            assert status["result"]["samples"] == pytest.approx(SECONDS * status["result"]["sample_rate"], abs=2)


@pytest.mark.skipif(importlib.util.find_spec("basic_pitch") is None,
                    reason="the Basic Pitch model is not installed: pip install --no-deps basic-pitch==0.4.0")
def test_midi_surround(client, surround_files):
    for (layout, _), status in _submit_all(client, "/api/midi/convert", surround_files).items():
        _expect_downmixed(status, layout, "mono")
        assert status["note_count"] > 0
