"""The report step: the verdicts that judge the plan (budget, admin limits), Ready, the conditions, the
events a change deserves, the cost annotations, and one status write when (and only when) the status
changed. A reconcile that planned nothing keeps the last applied conditions: only Planned says why."""

from __future__ import annotations

from typing import Any

from infercap.api import API_VERSION
from infercap.api.conditions import Cond, Reason
from infercap.core.planner import Plan
from infercap.providers import COST_CURRENCY, COST_HOURLY, COST_MONTHLY
from infercap.reconcile.admission import limits_verdict
from infercap.reconcile.loop import COST_OBSERVED_HOURLY
from infercap.reconcile.status import Verdict, events, merge_conditions, plan_changed, ready
from infercap.reconcile.world import KIND, Pass, Result

# Conditions about applied children: kept from the last status while no new plan is applied.
KEPT_WITHOUT_PLAN = (
    Cond.NODE_POOLS_READY,
    Cond.QUOTA_APPLIED,
    Cond.WITHIN_BUDGET,
    Cond.WITHIN_LIMITS,
    Cond.SERVING,
    Cond.CAPACITY_MATCHES_PLAN,
)


def budget_verdict(p: Plan) -> Verdict:
    b = p.budget
    if b is None:
        return Verdict("True", Reason.NO_BUDGET, "spec.budget is not set")
    if b.within:
        return Verdict("True", Reason.WITHIN_BUDGET, f"{p.chosen.cost.monthly} of {b.max_monthly} {b.currency}/month")
    if b.affordable_replicas == 0:
        return Verdict(
            "False",
            Reason.OVER_BUDGET,
            f"the traffic needs {p.chosen.cost.monthly} {b.currency}/month and one replica costs more than the "
            f"budget of {b.max_monthly}: nothing is applied. Raise spec.budget.maxMonthlyCost",
        )
    return Verdict(
        "False",
        Reason.OVER_BUDGET,
        f"the traffic needs {p.chosen.cost.monthly} {b.currency}/month, over the budget of {b.max_monthly}; "
        f"capped at {b.affordable_replicas} replica(s) serving {b.coverage:.0%} of demand. Raise "
        f"spec.budget.maxMonthlyCost or lower spec.traffic",
    )


def judge(ctx: Pass) -> None:
    """WithinBudget, WithinLimits and lastPlanTime for an applied plan; without one, the last conditions."""
    if ctx.plan is None or ctx.admission is None:
        for ctype in KEPT_WITHOUT_PLAN:
            prev = ctx.previous(ctype)
            if prev is not None:
                ctx.verdicts[ctype] = prev
        return
    ctx.verdicts[Cond.WITHIN_BUDGET] = budget_verdict(ctx.plan)
    ctx.verdicts[Cond.WITHIN_LIMITS] = limits_verdict(ctx.plan, ctx.admission)
    if plan_changed(ctx.old, ctx.new) or "lastPlanTime" not in ctx.old:
        ctx.new["lastPlanTime"] = ctx.now


async def annotate_cost(ctx: Pass) -> None:
    """Cost annotations on the ModelDeployment itself, like on every object it manages: planned, and
    observed when observing ran (one patch for both, none when they are already so)."""
    if ctx.plan is None:
        return
    cost = ctx.plan.applied.cost
    want = {COST_HOURLY: str(cost.hourly), COST_MONTHLY: str(cost.monthly), COST_CURRENCY: cost.currency}
    observed = ((ctx.new.get("observed") or {}).get("cost") or {}).get("hourly")
    if observed is not None:
        want[COST_OBSERVED_HOURLY] = observed
    meta = ctx.body["metadata"]
    have = meta.get("annotations") or {}
    if any(have.get(k) != v for k, v in want.items()):
        # Kopf's own patch after the handler carries them (one write, not two), but it lands after this
        # pass's status write: only while that status does not say Ready. Whoever sees Ready sees the cost.
        if ctx.annotations is not None and ctx.verdicts[Cond.READY].status != "True":
            ctx.annotations.update(want)
        else:
            await ctx.kube.annotate(API_VERSION, KIND, meta["name"], meta["namespace"], dict(want))


def with_removals(old: dict[str, Any], new: dict[str, Any]) -> dict[str, Any]:
    """A merge patch (RFC 7386) that also clears the keys the new status no longer has, in nested objects
    too: a merge patch keeps an object's old keys, so status.autoscaling.scheduledRequestsPerSecond would
    outlive its window otherwise (lists are replaced whole)."""
    patch: dict[str, Any] = dict(new)
    for key, was in old.items():
        if key not in new:
            patch[key] = None
        elif isinstance(was, dict) and isinstance(new[key], dict):
            patch[key] = with_removals(was, new[key])
    return patch


async def report(ctx: Pass) -> Result:
    """Ready and the conditions, the events, the cost annotations, and the status write if it changed."""
    ctx.verdicts[Cond.READY] = ready(ctx.verdicts)
    ctx.new["conditions"] = merge_conditions(ctx.old.get("conditions", []), ctx.verdicts, ctx.now, ctx.generation)
    ctx.new["observedGeneration"] = ctx.body["metadata"].get("generation")
    result = Result(ctx.new, events(ctx.old, ctx.new), retry=ctx.retry)
    await annotate_cost(ctx)
    if ctx.new != ctx.old:
        owner = ctx.owner
        await ctx.kube.patch_status(API_VERSION, KIND, owner.name, owner.namespace, with_removals(ctx.old, ctx.new))
        result.written = True
    return result
