"""GET /api/stems/modes: the routing table (separation.routing) of this install, for the quality menu."""

from __future__ import annotations

from fastapi import APIRouter

from burntbeats.api.deps import StateDep
from burntbeats.api.schemas.stems import StemModesPublic
from burntbeats.separation.base import STEM_LAYOUTS
from burntbeats.separation.quality import DEFAULT_QUALITY, mode_title
from burntbeats.separation.routing import plan_table

router = APIRouter(prefix="/api/stems", tags=["stems"])
MODE_FIELDS = ("quality", "stems", "available", "engine", "model", "label", "note", "preferred", "fallback")


@router.get("/modes", name="stems.modes", response_model=StemModesPublic,
            summary="Which engine each quality mode runs now, per stem count (nothing is loaded)")
def modes(state: StateDep) -> dict:
    return {
        "default_quality": DEFAULT_QUALITY,
        "layouts": [{"stems": n, "names": list(names)} for n, names in STEM_LAYOUTS.items()],
        "modes": [{**{k: getattr(plan, k) for k in MODE_FIELDS}, "title": mode_title(plan.quality)}
                  for plan in plan_table(state.settings)],
    }
