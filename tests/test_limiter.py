"""Peak control of a master mix (audio/limiter.py): the look-ahead limiter, normalisation, and the server export
that uses them (peak_control)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import soundfile as sf

from burntbeats.audio.limiter import CEILING, limiter_frames, limiter_gain, needed_gain, window_min
from burntbeats.separation.mixdown import StemMix, mix_files

try:
    from conftest import wait_for
except ImportError:  # tests/ as a package
    from tests.conftest import wait_for

RATE = 8000


def test_window_min_matches_brute_force():
    rng = np.random.default_rng(3)
    for n, w in ((50, 1), (50, 7), (64, 8), (13, 13), (5, 9), (1000, 97)):
        a = rng.random(n)
        expected = np.array([a[i:i + w].min() for i in range(n - w + 1)])
        np.testing.assert_array_equal(window_min(a, w), expected)


def _limit(x: np.ndarray) -> np.ndarray:
    lookahead, hold = limiter_frames(RATE)
    r = np.concatenate([np.ones(lookahead - 1 + hold), needed_gain(x), np.ones(lookahead - 1)])
    return x * limiter_gain(r, lookahead, hold)[:, None]


def test_limiter_holds_the_ceiling_and_leaves_quiet_audio_alone():
    t = np.arange(RATE * 2) / RATE
    x = np.stack([0.5 * np.sin(2 * np.pi * 110 * t), 0.4 * np.sin(2 * np.pi * 170 * t)], axis=1)
    np.testing.assert_array_equal(_limit(x), x)  # under the ceiling: untouched
    x[RATE // 2: RATE // 2 + 400] *= 3.0  # a burst 1.5 over full scale
    y = _limit(x)
    assert np.max(np.abs(y)) <= CEILING + 1e-12
    lookahead, hold = limiter_frames(RATE)
    far = np.r_[0: RATE // 2 - lookahead, RATE // 2 + 400 + hold + lookahead: len(x)]
    np.testing.assert_array_equal(y[far], x[far])  # only the burst's neighbourhood is turned down
    g = np.max(np.abs(y), axis=1) / np.maximum(np.max(np.abs(x), axis=1), 1e-9)
    assert np.max(np.abs(np.diff(g[RATE // 2 - 2 * lookahead: RATE // 2]))) <= 1.0 / lookahead + 1e-9  # a ramp, no step


def _two_loud_stems(tmp_path: Path) -> dict[str, Path]:
    t = np.arange(RATE * 3) / RATE
    tone = 0.7 * np.sin(2 * np.pi * 200 * t)
    for name in ("a", "b"):
        sf.write(tmp_path / f"{name}.wav", np.stack([tone, tone], axis=1).astype(np.float32), RATE, subtype="FLOAT")
    return {name: tmp_path / f"{name}.wav" for name in ("a", "b")}


def test_mix_files_peak_control(tmp_path: Path):
    stems = _two_loud_stems(tmp_path)
    plain = mix_files(stems, {}, 1.0, tmp_path / "plain.wav", block_frames=1000)
    assert plain["peak"] > 1.3 and plain["clipped_samples"] > 1000 and plain["output_clipped_samples"] > 1000

    limited = mix_files(stems, {}, 1.0, tmp_path / "limited.wav", block_frames=1000, peak_control="limit")
    y, _ = sf.read(tmp_path / "limited.wav", dtype="float64")
    assert limited["peak"] == plain["peak"] and limited["clipped_samples"] == plain["clipped_samples"]
    assert limited["output_clipped_samples"] == 0 and np.max(np.abs(y)) <= CEILING + 1 / 32768
    assert limited["output_peak"] <= round(CEILING, 4) and limited["limited_frames"] > 0

    normal = mix_files(stems, {"b": StemMix(gain=0.1)}, 1.0, tmp_path / "norm.wav", peak_control="normalize")
    y, _ = sf.read(tmp_path / "norm.wav", dtype="float64")
    assert abs(np.max(np.abs(y)) - CEILING) < 1e-3 and normal["output_clipped_samples"] == 0
    assert normal["normalize_gain_db"] > 0  # a quiet mix (peak 0.77) is brought up to -1 dBFS
    assert not list(tmp_path.glob(".*float.wav"))  # the float pass is removed


def test_server_export_limits_on_request(client, tmp_path):
    stems = _two_loud_stems(tmp_path)
    data = np.stack([sf.read(stems["a"])[0][:, 0] * 1.4] * 2, axis=1).clip(-1, 1)
    sf.write(tmp_path / "loud.wav", data.astype(np.float32), 44100, subtype="PCM_16")
    with open(tmp_path / "loud.wav", "rb") as fh:
        job = client.post("/api/stems/split", files={"file": ("loud.wav", fh, "audio/wav")},
                          data={"stems": "2", "quality": "fast"}).json()
    wait_for(client, job["status_url"], job["job_token"])
    body = {"job_id": job["job_id"], "job_token": job["job_token"], "master_gain": 2.0}
    for control in ("off", "limit"):
        exp = client.post("/api/stems/server-export", json={**body, "peak_control": control}).json()
        done = wait_for(client, exp["status_url"], exp["job_token"])
        assert done["status"] == "succeeded", done
        facts = done["result"]
        assert facts["peak_control"] == control and facts["clipped_samples"] > 0
        assert (facts["output_clipped_samples"] == 0) == (control == "limit")
    bad = client.post("/api/stems/server-export", json={**body, "peak_control": "loud"})
    assert bad.status_code == 422 and "peak_control" in bad.json()["detail"]
