"""Builds the engine that the routing table (`separation.routing.plan_route`) plans for a request.

If the planned engine cannot be built after all (a corrupt checkpoint, a missing package found
only at import), the request is planned again without it and the note says why; the built-in DSP
engine at the end of every chain always builds.
"""

from __future__ import annotations

from burntbeats.separation.base import EngineInfo, EngineUnavailable, Separator
from burntbeats.separation.routing import candidate, plan_route
from burntbeats.settings import Settings

__all__ = ["EngineUnavailable", "select_engine"]


def select_engine(quality: str, stems: int, settings: Settings) -> tuple[Separator, EngineInfo]:

    failed: dict[str, str] = {}
    while True:
        plan = plan_route(quality, stems, settings, failed=failed)
        if not plan.available:
            raise EngineUnavailable(plan.note)
        try:
            engine = candidate(plan.candidate).build(settings, plan)
        except EngineUnavailable as exc:
            failed[plan.candidate] = str(exc)
            continue
        # An engine may serve the request with another installed model than planned (e.g. best -> htdemucs).
        model = getattr(engine, "model_name", None) or plan.model
        return engine, EngineInfo(engine=plan.engine, model=model, note=plan.note, label=plan.label)
