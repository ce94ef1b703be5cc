"""DEVICE=auto|cpu|cuda|mps: how it resolves, and what an absent accelerator does (this machine has no GPU,
and the pinned torch is the CPU build: asking for cuda must fail with a sentence, never run quietly on the CPU)."""

from __future__ import annotations

import json
import types

import pytest
import torch
from fastapi.testclient import TestClient
from pydantic import ValidationError
from typer.testing import CliRunner

from audio_fixtures import make_song
from burntbeats import torch_device
from burntbeats.settings import Settings
from burntbeats.torch_device import DeviceUnavailable, resolve_device
from conftest import make_settings


def _fake_torch(cuda: bool, mps: bool, cuda_build: str | None = "12.8"):
    return types.SimpleNamespace(
        __version__="2.13.0", version=types.SimpleNamespace(cuda=cuda_build),
        cuda=types.SimpleNamespace(is_available=lambda: cuda),
        backends=types.SimpleNamespace(mps=types.SimpleNamespace(is_available=lambda: mps)),
    )


def test_auto_prefers_cuda_then_mps_then_cpu():
    assert resolve_device("auto", _fake_torch(cuda=True, mps=True)) == "cuda"
    assert resolve_device("auto", _fake_torch(cuda=False, mps=True)) == "mps"
    assert resolve_device("auto", _fake_torch(cuda=False, mps=False)) == "cpu"
    assert resolve_device("cuda", _fake_torch(cuda=True, mps=False)) == "cuda"
    assert resolve_device("mps", _fake_torch(cuda=False, mps=True)) == "mps"
    assert resolve_device("cpu", _fake_torch(cuda=True, mps=True)) == "cpu"


def test_here_auto_is_the_cpu_and_an_explicit_gpu_is_refused_with_a_sentence():
    assert not torch.cuda.is_available()  # the pinned CPU build of torch, no GPU on the test machines
    assert resolve_device("auto") == "cpu" and resolve_device("CPU") == "cpu"
    with pytest.raises(DeviceUnavailable, match="DEVICE=cuda, but this torch build has no CUDA support") as exc:
        resolve_device("cuda")
    assert "DEVICE=auto or DEVICE=cpu" in str(exc.value)
    with pytest.raises(DeviceUnavailable, match="DEVICE=mps, but Apple's Metal"):
        resolve_device("mps")
    # A CUDA build that finds no GPU says that instead.
    with pytest.raises(DeviceUnavailable, match="finds no CUDA GPU"):
        resolve_device("cuda", _fake_torch(cuda=False, mps=False, cuda_build="12.8"))


def test_setting_is_validated_and_case_insensitive(monkeypatch):
    assert Settings(_env_file=None).device == "auto"
    monkeypatch.setenv("DEVICE", " CUDA ")
    assert Settings(_env_file=None).device == "cuda"
    monkeypatch.setenv("DEVICE", "tpu")
    with pytest.raises(ValidationError, match="DEVICE must be one of auto, cpu, cuda, mps"):
        Settings(_env_file=None)


def test_server_refuses_to_start_on_an_absent_gpu(tmp_path):
    from burntbeats.api.app import create_app

    app = create_app(make_settings(tmp_path, device="cuda"))
    with pytest.raises(RuntimeError, match="DEVICE=cuda, but this torch build has no CUDA support"):
        with TestClient(app):
            pass
    assert not (tmp_path / "data").exists()  # refused before anything was created
    torch_device.check_startup("auto")  # auto and cpu never refuse (and need no torch import here)
    torch_device.check_startup("cpu")


def test_cli_job_fails_with_the_sentence(tmp_path, monkeypatch):
    """A job that runs with DEVICE=cuda anyway (the CLI: no server start-up) fails saying why, not on the CPU."""
    from burntbeats.cli import app
    from burntbeats.separation import models as store
    from burntbeats.separation import neural
    from burntbeats.settings import get_settings

    models = tmp_path / "models"
    path, _ = neural.save_checkpoint(neural.build_random_model("htdemucs", "tiny", seed=1), tmp_path / "ck", "aaaa0001")
    manifest = tmp_path / "manifest.json"
    manifest.write_text(json.dumps({"format": 1, "models": {
        "htdemucs": neural.manifest_entry([path], "HTDemucs")}}))
    for key, value in {"DATA_DIR": tmp_path / "data", "MODELS_DIR": models, "MODELS_MANIFEST": manifest,
                       "DEVICE": "cuda", "TORCH_THREADS": 1}.items():
        monkeypatch.setenv(key, str(value))
    get_settings.cache_clear()
    try:
        store.install_files(get_settings(), [path])
        song = tmp_path / "song.wav"
        make_song(song, seconds=2.0)
        result = CliRunner().invoke(app, ["separate", str(song), "--quality", "balanced", "-o", str(tmp_path / "o")])
        assert result.exit_code == 1, result.output
        assert "DEVICE=cuda, but this torch build has no CUDA support" in " ".join(result.output.split())
        # DEVICE=cpu: the same job runs, and says where
        monkeypatch.setenv("DEVICE", "cpu")
        get_settings.cache_clear()
        ok = CliRunner().invoke(app, ["separate", str(song), "--quality", "balanced", "-o", str(tmp_path / "o")])
        assert ok.exit_code == 0, ok.output
        assert "device: cpu" in ok.output
    finally:
        get_settings.cache_clear()
