"""The neural engine (HT-Demucs family through the demucs package) against demucs' own separation.

Real weights cannot be downloaded here, so each supported architecture is built with random
weights (tiny hyper-parameters), saved in the official checkpoint format into a temporary
MODELS_DIR with a manifest for it, and our engine's output is compared with
`demucs.api.Separator` loading the same files through demucs' own repo loader.
"""

from __future__ import annotations

import json
import os
import pickle
import random
import shutil
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch

from burntbeats.separation import models as store
from burntbeats.separation import neural
from burntbeats.separation.apply import plan_segments, separate_file
from burntbeats.separation.engines import EngineUnavailable, select_engine
from conftest import make_settings, wait_for

SR = 44100
EYE = [[1.0 if i == j else 0.0 for j in range(4)] for i in range(4)]


def _write_manifest(directory: Path, entries: dict) -> Path:
    path = directory / "manifest.json"
    path.write_text(json.dumps({"format": 1, "models": entries}))
    return path


@pytest.fixture(scope="module")
def model_files(tmp_path_factory):
    """Tiny random checkpoints for htdemucs, an htdemucs_ft-style bag of 4, hdemucs_mmi and a 6-source
    htdemucs_6s."""
    staging = tmp_path_factory.mktemp("checkpoints")
    ht, _ = neural.save_checkpoint(neural.build_random_model("htdemucs", "tiny", seed=1), staging, "aaaa0001")
    bag = [neural.save_checkpoint(neural.build_random_model("htdemucs", "tiny", seed=10 + i), staging, f"bbbb000{i}")[0]
           for i in range(4)]
    hd, _ = neural.save_checkpoint(neural.build_random_model("hdemucs", "tiny", seed=3), staging, "cccc0001")
    six, _ = neural.save_checkpoint(neural.build_random_model("htdemucs", "tiny", seed=6, sources=neural.SIX_SOURCES),
                                    staging, "eeee0006")
    entries = {
        "htdemucs": neural.manifest_entry([ht], "HTDemucs", fallbacks=["hdemucs_mmi"]),
        "htdemucs_ft": neural.manifest_entry(bag, "HTDemucs", weights=EYE, fallbacks=["htdemucs", "hdemucs_mmi"]),
        "hdemucs_mmi": neural.manifest_entry([hd], "HDemucs", segment=3, fallbacks=["htdemucs"]),
        "htdemucs_6s": neural.manifest_entry([six], "HTDemucs", sources=neural.SIX_SOURCES),
    }
    manifest = _write_manifest(staging, entries)
    return {"staging": staging, "manifest": manifest, "htdemucs": [ht], "htdemucs_ft": bag, "hdemucs_mmi": [hd],
            "htdemucs_6s": [six]}


def _models_dir(tmp_path: Path, model_files, names=("htdemucs", "htdemucs_ft", "hdemucs_mmi")) -> Path:
    target = tmp_path / "models"
    target.mkdir(exist_ok=True)
    for name in names:
        for path in model_files[name]:
            shutil.copyfile(path, target / path.name)
    return target


@pytest.fixture(scope="module")
def installed(tmp_path_factory, model_files):
    """Settings whose MODELS_DIR holds all four models (installed through the models manager)."""
    root = tmp_path_factory.mktemp("installed")
    settings = make_settings(root, models_dir=root / "models", models_manifest=model_files["manifest"], torch_threads=1)
    files = [p for name in ("htdemucs", "htdemucs_ft", "hdemucs_mmi", "htdemucs_6s") for p in model_files[name]]
    reports = store.install_files(settings, files)
    assert sorted({m for r in reports for m in r["complete"]}) == ["hdemucs_mmi", "htdemucs", "htdemucs_6s",
                                                                     "htdemucs_ft"]
    return settings


def _audio(seconds: float, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * SR)) / SR
    tone = 0.2 * np.sin(2 * np.pi * 220 * t) * (1 + 0.5 * np.sin(2 * np.pi * 0.7 * t))
    noise = 0.05 * rng.standard_normal((2, t.size))
    return (np.stack([tone, 0.6 * tone]) + noise).astype(np.float32)


def _reference(settings, name: str, audio: np.ndarray, shifts: int = 0) -> dict[str, np.ndarray]:
    """demucs' own separation: its repo loader (bag yaml + checkpoints in MODELS_DIR), its
    normalisation and apply_model."""
    from demucs.api import Separator

    sep = Separator(model=name, repo=Path(settings.models_dir), shifts=shifts, overlap=0.25, split=True,
                    jobs=0, progress=False, device="cpu")
    _, out = sep.separate_tensor(torch.from_numpy(audio))
    return {k: v.numpy() for k, v in out.items()}


def _close(actual: np.ndarray, expected: np.ndarray) -> None:
    assert actual.shape == expected.shape and actual.dtype == np.float32
    scale = float(np.abs(expected).max())
    assert scale > 0
    np.testing.assert_allclose(actual, expected, rtol=0, atol=1e-5 * scale + 1e-7)


@pytest.mark.parametrize("name", ["htdemucs", "htdemucs_ft", "hdemucs_mmi"])
def test_engine_matches_demucs_reference(installed, name):
    neural.clear_cache()
    engine = neural.create_engine(installed, name)
    assert engine.name == "demucs" and engine.model_name == name and engine.sample_rate == SR
    # bag members load on first use: only the vocals model of htdemucs_ft until 4 stems are asked for
    assert engine.bag.loaded == ([3] if name == "htdemucs_ft" else [0])
    audio = _audio(5.0)  # longer than one model segment (1.95 s / 3 s): several overlapping chunks
    assert audio.shape[1] > 1.5 * engine.model_segment_s * SR
    ref = _reference(installed, name, audio)

    four = engine.separate(audio, 4)
    assert list(four) == ["vocals", "drums", "bass", "other"]
    for stem in four:
        _close(four[stem], ref[stem])
    four_chunks = engine.last_run["chunks"]

    two = engine.separate(audio, 2)
    assert list(two) == ["vocals", "instrumental"]
    _close(two["vocals"], ref["vocals"])
    if name == "htdemucs_ft":
        # a bag with per-source weights: only the vocals model runs; instrumental = mix - vocals
        assert engine.last_run["members"] == [3] and engine.bag.loaded == [0, 1, 2, 3]
        assert engine.last_run["chunks"] * 4 == four_chunks
        _close(two["instrumental"], audio - ref["vocals"])
    else:
        # one model: vocals + the sum of the other sources, at no extra cost
        assert engine.last_run["chunks"] == four_chunks
        _close(two["instrumental"], ref["drums"] + ref["bass"] + ref["other"])


def test_six_source_model_matches_demucs_reference(installed):
    """htdemucs_6s (random weights, tiny): 6 stems are demucs' own six sources; 4 stems fold guitar and
    piano into other; 2 stems are vocals + the sum of the other five. A 4-source model refuses 6 stems."""
    neural.clear_cache()
    engine = neural.create_engine(installed, "htdemucs_6s")
    assert engine.sources == neural.SIX_SOURCES and engine.device == "cpu"
    audio = _audio(5.0, seed=3)
    ref = _reference(installed, "htdemucs_6s", audio)
    assert sorted(ref) == sorted(neural.SIX_SOURCES)

    six = engine.separate(audio, 6)
    assert list(six) == ["vocals", "drums", "bass", "guitar", "piano", "other"]
    for stem in six:
        _close(six[stem], ref[stem])
    assert engine.last_run["device"] == "cpu"

    four = engine.separate(audio, 4)
    assert list(four) == ["vocals", "drums", "bass", "other"]
    for stem in ("vocals", "drums", "bass"):
        _close(four[stem], ref[stem])
    _close(four["other"], ref["other"] + ref["guitar"] + ref["piano"])

    two = engine.separate(audio, 2)
    _close(two["vocals"], ref["vocals"])
    _close(two["instrumental"], sum(ref[s] for s in neural.SIX_SOURCES if s != "vocals"))

    four_source = neural.create_engine(installed, "htdemucs")
    with pytest.raises(ValueError, match="guitar or piano"):
        four_source.separate(audio, 6)


def test_shift_trick_matches_reference(tmp_path, installed):
    settings = installed.model_copy(update={"neural_shifts": 2})
    engine = neural.create_engine(settings, "htdemucs")
    audio = _audio(3.0, seed=1)
    random.seed(1234)
    ours = engine.separate(audio, 4)
    random.seed(1234)
    ref = _reference(installed, "htdemucs", audio, shifts=2)
    for stem in ours:
        _close(ours[stem], ref[stem])


def test_progress_is_reported_per_chunk(installed):
    engine = neural.create_engine(installed, "htdemucs")
    audio = _audio(6.0)
    seen: list[float] = []
    engine.separate(audio, 4, seen.append)
    chunks = engine.chunk_count(audio.shape[1], 4)
    assert chunks >= 4 and engine.last_run["chunks"] == chunks
    assert len(seen) >= chunks and seen == sorted(seen) and seen[-1] == 1.0
    assert seen[0] <= 1.0 / chunks + 1e-9


def test_file_driver_blocks_and_single_block_equality(tmp_path, installed):
    engine = neural.create_engine(installed, "htdemucs")
    # the driver's blocks are whole model strides and at least one model segment
    assert engine.segment_s >= engine.model_segment_s and 0 < engine.overlap_s < engine.segment_s / 2
    audio = _audio(9.0, seed=2)
    wav = tmp_path / "in.wav"
    sf.write(wav, audio.T, SR, subtype="FLOAT")

    # One block (the file is shorter than segment_s): exactly the engine's own output.
    out = separate_file(engine, wav, tmp_path / "one", 4)
    direct = engine.separate(audio, 4)
    for stem, path in out.items():
        data, sr = sf.read(path, dtype="float32", always_2d=True)
        assert sr == SR
        _close(data.T, direct[stem])

    # Several blocks (forced short): memory is bounded by the block; the first block's part
    # before the next one starts is that block's separation, untouched by the crossfade.
    seen: list[float] = []
    out = separate_file(engine, wav, tmp_path / "many", 2, progress=seen.append, segment_s=4.0, overlap_s=0.5)
    blocks = plan_segments(audio.shape[1], 4 * SR, SR // 2)
    assert len(blocks) == 3
    (start0, stop0), (start1, _) = blocks[:2]
    first = engine.separate(np.ascontiguousarray(audio[:, start0:stop0]), 2)
    for stem, path in out.items():
        data, _ = sf.read(path, dtype="float32", always_2d=True)
        assert data.shape == (audio.shape[1], 2) and np.isfinite(data).all()
        _close(data.T[:, :start1], first[stem][:, :start1])
    assert seen == sorted(seen) and seen[-1] == 1.0 and len(seen) > 6


def test_quality_modes_route_to_models(installed, tmp_path, model_files):
    engine, info = select_engine("balanced", 2, installed)
    assert (info.engine, info.model, info.note) == ("demucs", "htdemucs", None) and engine.name == "demucs"
    engine, info = select_engine("best", 2, installed)
    assert (info.engine, info.model, info.note) == ("demucs", "htdemucs_ft", None)
    engine, info = select_engine("fast", 2, installed)
    assert info.engine == "dsp"

    # best without htdemucs_ft: the best installed model runs, and the result says so
    only_ht = make_settings(tmp_path, models_dir=_models_dir(tmp_path, model_files, ["htdemucs"]),
                            models_manifest=model_files["manifest"], torch_threads=1)
    engine, info = select_engine("best", 2, only_ht)
    assert (info.engine, info.model) == ("demucs", "htdemucs")
    assert "htdemucs_ft" in info.note and "not installed" in info.note

    # no Demucs weights installed: the shipped Spleeter model, with the reason
    empty = make_settings(tmp_path / "empty", torch_threads=1)
    engine, info = select_engine("balanced", 2, empty)
    assert info.engine == "spleeter" and "htdemucs" in info.note and "not installed" in info.note
    assert "burntbeats models download htdemucs" in info.note


def test_corrupt_checkpoint_is_refused(tmp_path, model_files):
    target = _models_dir(tmp_path, model_files, ["htdemucs"])
    path = target / model_files["htdemucs"][0].name
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))
    settings = make_settings(tmp_path, models_dir=target, models_manifest=model_files["manifest"], torch_threads=1)
    neural.clear_cache()
    with pytest.raises(EngineUnavailable, match="checksum"):
        neural.create_engine(settings, "htdemucs")
    engine, info = select_engine("balanced", 2, settings)
    assert info.engine == "spleeter" and "checksum" in info.note  # the next engine of the chain


class _Payload:
    """Unpickling this would create a directory: the loader must never run it."""

    def __init__(self, marker: str) -> None:
        self.marker = marker

    def __reduce__(self):
        return (os.mkdir, (self.marker,))


def test_checkpoint_with_foreign_objects_is_not_unpickled(tmp_path):
    import hashlib
    import io

    marker = tmp_path / "pwned"
    buf = io.BytesIO()
    torch.save({"klass": _Payload(str(marker)), "args": (), "kwargs": {}, "state": {}}, buf)
    digest = hashlib.sha256(buf.getvalue()).hexdigest()
    staging = tmp_path / "staging"
    staging.mkdir()
    evil = staging / f"dddd0001-{digest[:8]}.th"
    evil.write_bytes(buf.getvalue())
    manifest = _write_manifest(staging, {"htdemucs": neural.manifest_entry([evil], "HTDemucs")})
    settings = make_settings(tmp_path, models_manifest=manifest, torch_threads=1)
    store.install_files(settings, [evil])
    with pytest.raises(EngineUnavailable, match="allow-list"):
        neural.create_engine(settings, "htdemucs")
    assert not marker.exists()
    with pytest.raises(pickle.UnpicklingError):  # what a plain weights_only load says, for reference
        torch.load(evil, weights_only=True)


def test_missing_runtime_falls_back(monkeypatch, installed):
    import sys

    monkeypatch.setitem(sys.modules, "demucs.apply", None)  # as if the neural extra were not installed
    with pytest.raises(EngineUnavailable, match="burntbeats\\[neural\\]"):
        neural.create_engine(installed, "htdemucs")


def test_split_job_runs_neural_model_then_falls_back_without_it(tmp_path, model_files):
    """Through the API and real worker processes: quality=balanced with htdemucs in MODELS_DIR
    reports engine demucs / model htdemucs; once the weights are gone it falls back to the shipped
    Spleeter model with a note."""
    from fastapi.testclient import TestClient

    from audio_fixtures import make_song
    from burntbeats.api.app import create_app

    settings = make_settings(tmp_path, models_dir=_models_dir(tmp_path, model_files, ["htdemucs"]),
                             models_manifest=model_files["manifest"], torch_threads=1, job_concurrency=1)
    song = tmp_path / "song.wav"
    make_song(song, seconds=3.0)
    with TestClient(create_app(settings)) as client:
        def split() -> dict:
            with open(song, "rb") as fh:
                resp = client.post("/api/stems/split", files={"file": ("song.wav", fh, "audio/wav")},
                                   data={"stems": "2", "quality": "balanced"})
            assert resp.status_code == 202, resp.text
            body = resp.json()
            return wait_for(client, f"/api/stems/status/{body['job_id']}", body["job_token"])

        status = split()
        assert status["status"] == "succeeded", status
        result = status["result"]
        assert (result["engine"], result["model"], result["engine_note"]) == ("demucs", "htdemucs", None)
        assert result["device"] == status["device"] == "cpu"  # DEVICE=auto on a machine without a GPU
        assert [s["id"] for s in status["stems"]] == ["vocals", "instrumental"]
        audio = client.get(status["stems"][0]["url"])
        assert audio.status_code == 200 and len(audio.content) > 3 * SR * 2 * 2

        for path in Path(settings.models_dir).glob("*.th"):
            path.unlink()
        status = split()
        assert status["status"] == "succeeded", status
        result = status["result"]
        assert (result["engine"], result["model"]) == ("spleeter", "spleeter-2stems")
        assert "htdemucs" in result["engine_note"] and "not installed" in result["engine_note"]
        assert result["engine_label"] == "Balanced — htdemucs not installed: runs Spleeter 2-stem (built in)"


def test_six_stems_end_to_end(tmp_path, model_files, monkeypatch):
    """stems=6 through the API (real workers): htdemucs_6s runs, the status lists six stems, each one
    downloads and the server export mixes all six; the CLI's --stems 6 writes six files. Without
    htdemucs_6s (or in fast, which runs no neural model) the split is a 422 saying what to install."""
    import io

    from fastapi.testclient import TestClient
    from typer.testing import CliRunner

    from audio_fixtures import make_song
    from burntbeats.api.app import create_app
    from burntbeats.cli import app as cli
    from burntbeats.settings import get_settings

    six_names = ["vocals", "drums", "bass", "guitar", "piano", "other"]
    models_dir = _models_dir(tmp_path, model_files, ["htdemucs_6s"])
    settings = make_settings(tmp_path, models_dir=models_dir, models_manifest=model_files["manifest"],
                             torch_threads=1, job_concurrency=1)
    song = tmp_path / "song.wav"
    make_song(song, seconds=3.0)

    def split(client, **form):
        with open(song, "rb") as fh:
            return client.post("/api/stems/split", files={"file": ("song.wav", fh, "audio/wav")}, data=form)

    def read(client, url: str) -> np.ndarray:
        resp = client.get(url)
        assert resp.status_code == 200, resp.text
        return sf.read(io.BytesIO(resp.content), dtype="float64", always_2d=True)[0]

    with TestClient(create_app(settings)) as client:
        modes = {(r["quality"], r["stems"]): r for r in client.get("/api/stems/modes").json()["modes"]}
        assert (modes["balanced", 6]["engine"], modes["balanced", 6]["model"]) == ("demucs", "htdemucs_6s")
        assert not modes["fast", 6]["available"] and "makes 2 or 4 stems, not 6" in modes["fast", 6]["note"]
        fast = split(client, stems="6", quality="fast")
        assert fast.status_code == 422 and "not 6" in fast.json()["detail"]

        resp = split(client, stems="6", quality="balanced")
        assert resp.status_code == 202, resp.text
        body = resp.json()
        status = wait_for(client, body["status_url"], body["job_token"])
        assert status["status"] == "succeeded", status
        result = status["result"]
        assert (result["engine"], result["model"], result["engine_note"], result["device"]) == (
            "demucs", "htdemucs_6s", None, "cpu")
        assert result["stems"] == six_names and [s["id"] for s in status["stems"]] == six_names
        stems = {s["id"]: read(client, s["url"]) for s in status["stems"]}
        assert all(a.shape == stems["vocals"].shape and np.abs(a).max() > 0 for a in stems.values())

        exp = client.post("/api/stems/server-export", json={
            "job_id": body["job_id"], "job_token": body["job_token"], "format": "wav", "master_gain": 0.5,
            "stems": {"guitar": {"gain": 2.0}, "drums": {"mute": True}}})
        assert exp.status_code == 202, exp.text
        done = wait_for(client, exp.json()["status_url"], exp.json()["job_token"])
        assert done["status"] == "succeeded", done
        assert done["result"]["gains"] == {"vocals": 1.0, "drums": 0.0, "bass": 1.0, "guitar": 2.0, "piano": 1.0,
                                           "other": 1.0}
        expected = 0.5 * (stems["vocals"] + stems["bass"] + 2.0 * stems["guitar"] + stems["piano"] + stems["other"])
        np.testing.assert_allclose(read(client, done["url"]), np.clip(expected, -1, 1), atol=2.5e-4)

        for path in models_dir.glob("*.th"):  # htdemucs_6s gone: refused at once, with how to install it
            path.unlink()
        missing = split(client, stems="6", quality="best")
        assert missing.status_code == 422, missing.text
        detail = missing.json()["detail"]
        assert "'htdemucs_6s' is not installed" in detail and "burntbeats models download htdemucs_6s" in detail
        bad = split(client, stems="3")
        assert bad.status_code == 422 and "must be one of 2, 4, 6" in bad.json()["detail"]

    # The CLI: --stems 6 with the model installed writes the six stems.
    _models_dir(tmp_path, model_files, ["htdemucs_6s"])
    for key, value in {"DATA_DIR": tmp_path / "cli-data", "MODELS_DIR": models_dir,
                       "MODELS_MANIFEST": model_files["manifest"], "TORCH_THREADS": 1}.items():
        monkeypatch.setenv(key, str(value))
    get_settings.cache_clear()
    try:
        out = tmp_path / "out"
        result = CliRunner().invoke(cli, ["separate", str(song), "--stems", "6", "-o", str(out)])
        assert result.exit_code == 0, result.output
        assert sorted(p.name for p in (out / "song").iterdir()) == sorted(f"{n}.wav" for n in six_names)
        assert "htdemucs_6s" in result.output and "device: cpu" in result.output
        for path in models_dir.glob("*.th"):
            path.unlink()
        result = CliRunner().invoke(cli, ["separate", str(song), "--stems", "6", "-o", str(tmp_path / "none")])
        assert result.exit_code == 1 and "burntbeats models download htdemucs_6s" in " ".join(result.output.split())
    finally:
        get_settings.cache_clear()
