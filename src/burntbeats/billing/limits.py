"""What a plan allows, and the sentence when a request is outside it.

403 (NeedsHigherPlan): stems, quality, a file longer than the plan takes, too many jobs at once; the sentence
names the limit and the cheapest plan that lifts it. 402 (PaymentRequired): not enough tokens; the sentence
says what the job costs, the balance, and how to get more. The quote (GET /api/billing/quote) and the
admission (billing.meter) ask the same functions.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from burntbeats.billing.costs import duration_of
from burntbeats.billing.plans import Plan, minutes_label, plans_above
from burntbeats.errors import NeedsHigherPlan, PaymentRequired
from burntbeats.jobs.kinds import JobKind

PRICING = "the pricing page (/pricing)"


def _or_list(values: list[str]) -> str:
    return values[0] if len(values) == 1 else ", ".join(values[:-1]) + " or " + values[-1]


def _and_list(values: list[str]) -> str:
    return values[0] if len(values) == 1 else ", ".join(values[:-1]) + " and " + values[-1]


def _upgrade(plan: Plan, allows: Callable[[Plan], bool]) -> Plan | None:
    return next((p for p in plans_above(plan) if allows(p)), None)


def plan_refusal(plan: Plan, kind: str, params: Mapping[str, Any]) -> NeedsHigherPlan | None:
    """Why this one job is outside `plan` (a 403 with its sentence), or None when the plan allows it."""
    if kind == JobKind.STEMS_SPLIT:
        stems = int(params.get("stems") or 2)
        if stems not in plan.stems:
            better = _upgrade(plan, lambda p: stems in p.stems)
            allowed = _or_list([str(s) for s in plan.stems])
            return NeedsHigherPlan(
                f"Your {plan.name} plan makes {allowed} stems; {stems} stems need the "
                f"{better.name if better else 'a higher'} plan. Upgrade on {PRICING}, or choose {allowed} stems.")
        quality = str(params.get("quality") or "balanced")
        if quality not in plan.qualities:
            better = _upgrade(plan, lambda p: quality in p.qualities)
            return NeedsHigherPlan(
                f"Your {plan.name} plan allows {_and_list(list(plan.qualities))} quality; {quality} quality needs the "
                f"{better.name if better else 'a higher'} plan. Upgrade on {PRICING}, or choose "
                f"{_or_list(list(plan.qualities))}.")
    seconds = duration_of(params)
    if seconds is not None and seconds > plan.max_duration_s:
        better = _upgrade(plan, lambda p: seconds <= p.max_duration_s)
        lift = (f"Upgrade to {better.name} (files up to {minutes_label(better.max_duration_s)}) on {PRICING}, or "
                "trim the file." if better else "No plan takes a file that long: trim it or split it in parts.")
        return NeedsHigherPlan(
            f"This file is {minutes_label(seconds)} long; your {plan.name} plan takes files up to "
            f"{minutes_label(plan.max_duration_s)}. {lift}")
    return None


def check_plan(plan: Plan, kind: str, params: Mapping[str, Any]) -> None:
    refusal = plan_refusal(plan, kind, params)
    if refusal is not None:
        raise refusal


def jobs_at_once_refusal(plan: Plan, active: int, count: int) -> NeedsHigherPlan | None:
    """403 when `count` more jobs would take the caller past the plan's jobs queued or running at once."""
    if active + count <= plan.concurrent_jobs:
        return None
    better = _upgrade(plan, lambda p: active + count <= p.concurrent_jobs)
    lift = f", or upgrade to {better.name} ({better.concurrent_jobs} at once) on {PRICING}" if better else ""
    asked = f"{count} more would make {active + count}" if count > 1 else f"you have {active} queued or running"
    return NeedsHigherPlan(
        f"Your {plan.name} plan runs {plan.concurrent_jobs} job{'s' if plan.concurrent_jobs != 1 else ''} at once "
        f"and {asked}; wait for one to finish{lift}.")


def needs_tokens(cost: int, balance: int, what: str, reserved: int = 0) -> PaymentRequired:
    """402: the job costs more than the balance."""
    held = f" ({reserved} more are held by your queued and running jobs)" if reserved else ""
    return PaymentRequired(
        f"This {what} costs {cost} tokens and your balance is {balance}{held}. Buy a token pack or upgrade your "
        f"plan on {PRICING}, or choose a shorter file, fewer stems or a faster quality.")


def option_refusals(plan: Plan, stem_counts: tuple[int, ...], qualities: tuple[str, ...]) -> dict[str, dict[str, str]]:
    """For the web's menus: each stem count and quality mode the plan does not allow -> the sentence a split asking
    for it would be refused with."""
    base = plan.stems[0] if plan.stems else 2
    stems = {str(n): r.message for n in stem_counts
             if (r := plan_refusal(plan, JobKind.STEMS_SPLIT, {"stems": n, "quality": plan.qualities[0]}))}
    modes = {q: r.message for q in qualities
             if (r := plan_refusal(plan, JobKind.STEMS_SPLIT, {"stems": base, "quality": q}))}
    return {"stems": stems, "qualities": modes}
