"""The routing table: which engine runs a (quality, stems) request on this install.

`plan_route(quality, stems, settings)` answers without loading any model (no torch import, no
checkpoint read): it walks the mode's candidate chain (`quality.route_chain`) and takes the first
candidate that can serve that stem count here. Each skipped candidate that the mode prefers leaves
a sentence in the plan's `note`, so the job result and the UI say why another engine ran.

`separation.engines.select_engine` builds the planned engine; if building it fails after all (a
corrupt checkpoint), it plans again without that candidate, with the failure as the note.
`GET /api/stems/modes` lists `plan_table(settings)`: one plan per mode and stem count.

A candidate (`base.Candidate`, the ones in `separation.candidates`) is a small object with a `key`,
a `probe(settings, quality, stems)` that returns an `Offer` (what would run) or a `Skip` (why not,
cheaply), and a `build(settings, plan)` that makes the `Separator` (imports lazily; raises
EngineUnavailable). Add a stem layout to `base.STEM_LAYOUTS` and
every candidate is asked about it; one that cannot serve it answers a Skip.
"""

from __future__ import annotations

from burntbeats.separation import candidates
from burntbeats.separation import quality as quality_table
from burntbeats.separation.base import STEM_LAYOUTS, Candidate, Offer, Plan, Skip, stem_names
from burntbeats.settings import Settings

# key -> candidate; the keys are what quality.QUALITY_MODES[...]["route"] lists.
CANDIDATES: dict[str, Candidate] = {c.key: c for c in (candidates.DEMUCS, candidates.SPLEETER, candidates.DSP)}


def candidate(key: str) -> Candidate:
    try:
        return CANDIDATES[key]
    except KeyError:
        raise ValueError(f"unknown engine candidate {key!r}") from None


def plan_route(quality: str, stems: int, settings: Settings, failed: dict[str, str] | None = None) -> Plan:
    """The plan for (quality, stems) on this install. `failed`: candidate key -> reason, for
    candidates that were tried and could not be built (they are skipped with that reason)."""
    stem_names(stems)  # ValueError for an unknown layout
    chain = quality_table.route_chain(quality)
    failed = failed or {}
    skips: list[Skip] = []
    first_title: str | None = None
    for key in chain:
        cand = candidate(key)
        result = cand.probe(settings, quality, stems)
        if key in failed and isinstance(result, Offer):
            result = Skip(title=result.title, short=f"{result.title} could not be loaded", reason=failed[key])
        if first_title is None:
            first_title = getattr(result, "instead_of", None) or result.title
        if isinstance(result, Skip):
            skips.append(result)
            continue
        return _plan(quality, stems, key, result, skips, first_title)
    why = _sentence("; ".join(s.reason for s in skips) or f"quality {quality!r} names no engine")
    return Plan(quality=quality, stems=stems, candidate="", engine="none", model="", title="nothing",
                label=f"{quality_table.mode_title(quality)} — not available with {stems} stems",
                note=f"{why} No engine of this install can make {stems} stems in this mode.",
                preferred=first_title or "", fallback=True, available=False)


def _sentence(text: str) -> str:
    text = text.strip()
    if not text:
        return text
    text = text[0].upper() + text[1:]
    return text if text.endswith((".", "!", "?")) else text + "."


def _plan(quality: str, stems: int, key: str, offer: Offer, skips: list[Skip], first_title: str) -> Plan:
    mode_title = quality_table.mode_title(quality)
    if skips:
        # The first skip is the mode's own choice; later ones are fallbacks that could not run either.
        why = "; ".join(s.reason for s in skips)
        note = _sentence(f"{why}; {offer.title} runs instead")
        if offer.note:
            note += " " + _sentence(offer.note)
        label = f"{mode_title} — {skips[0].short}: runs {offer.title}"
    else:
        note = _sentence(offer.note) if offer.note else None
        label = f"{mode_title} — {offer.short}: runs {offer.title}" if offer.short else f"{mode_title} — {offer.title}"
    return Plan(quality=quality, stems=stems, candidate=key, engine=offer.engine, model=offer.model,
                title=offer.title, label=label, note=note, preferred=first_title,
                fallback=bool(skips) or offer.short is not None, options=dict(offer.options))


def plan_table(settings: Settings) -> list[Plan]:
    """Every mode x every stem layout, in the table's order (what GET /api/stems/modes lists)."""
    return [plan_route(q, stems, settings) for q in quality_table.QUALITY_MODES for stems in STEM_LAYOUTS]
