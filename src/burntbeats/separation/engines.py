"""Picks the engine for a quality mode, from the one table in `separation.quality`.

A neural engine plugs in here: if the mode names a neural model and its weights are
installed it runs, otherwise the built-in engine runs and the result says why.
"""

from __future__ import annotations

from burntbeats.separation.base import EngineInfo, Separator
from burntbeats.settings import Settings

# name -> "module:factory"; factory(settings, model_name) returns a Separator or raises EngineUnavailable.
NEURAL_ENGINES: dict[str, str] = {
    "demucs": "burntbeats.separation.neural:create_engine",
}


class EngineUnavailable(Exception):
    """The requested engine cannot run here (e.g. weights not installed); the message says why."""


def select_engine(quality: str, settings: Settings) -> tuple[Separator, EngineInfo]:
    from burntbeats.separation import quality as quality_table
    from burntbeats.separation.dsp import DSPSeparator

    mode = quality_table.QUALITY_MODES[quality]
    model = mode.get("neural_model")
    note = None
    if model:
        factory_path = NEURAL_ENGINES.get("demucs")
        if factory_path is None:
            note = f"neural model {model!r} is not available in this install; used the built-in engine"
        else:
            import importlib

            module_name, func = factory_path.split(":")
            try:
                engine = getattr(importlib.import_module(module_name), func)(settings, model)
                # An engine may serve the request with another installed model (e.g. best -> htdemucs).
                return engine, EngineInfo(engine=engine.name, model=getattr(engine, "model_name", model),
                                          note=getattr(engine, "note", None))
            except EngineUnavailable as exc:
                note = f"{exc}; used the built-in engine"
    engine = DSPSeparator(quality=quality)
    return engine, EngineInfo(engine="dsp", model=f"dsp-{quality}", note=note)
