"""The plan step: plan among the accelerators the node-pool provider can create, within the admin's
ceilings, off the event loop and under a deadline; then the provider's rejections and the switch
hysteresis on the plan. A spec that cannot be planned becomes Planned False with the planner's reason."""

from __future__ import annotations

import functools

from infercap.api.conditions import Cond, Reason
from infercap.core.autoscale import planning_headroom
from infercap.core.errors import PlanError
from infercap.core.limits import Ceiling
from infercap.core.planner import Plan, plan
from infercap.providers import candidates, provider_for, provider_rejections
from infercap.reconcile.admission import admit, namespace_capped, reservation, still_admitted
from infercap.reconcile.guard import plan_guarded
from infercap.reconcile.load import namespace_shares, replica_bounds
from infercap.reconcile.loop import after_plan
from infercap.reconcile.status import Verdict, plan_status, summary
from infercap.reconcile.world import Pass


async def plan_once(ctx: Pass, ceilings: list[Ceiling]) -> Plan | None:
    """A plan within `ceilings` with the provider's rejections and the switch hysteresis; None, with
    Planned False and the planner's reason, when the spec cannot be planned."""
    spec, catalog = ctx.spec, ctx.catalog
    assert spec is not None and catalog is not None
    provider = provider_for(spec.node_pool, ctx.cfg)
    low, high = replica_bounds(ctx)
    make = functools.partial(
        plan,
        catalog,
        candidates(spec, catalog, provider, ctx.cfg),
        demand_rps=ctx.demand_rps,
        min_replicas=low,
        max_replicas=high,
        ceilings=ceilings,
        headroom=None if ctx.demand_rps is None else planning_headroom(spec),
        step_time_factors=ctx.calibration.factors if ctx.calibration is not None else None,
    )
    try:
        p = await plan_guarded(make, ctx.cfg.plan_timeout_seconds)
    except PlanError as e:
        detail = "" if not ctx.problems else " (" + "; ".join(ctx.problems) + ")"
        ctx.verdicts[Cond.PLANNED] = Verdict("False", e.reason, str(e) + detail)
        return None
    rejected = provider_rejections(spec, catalog, provider, ctx.cfg)
    return after_plan(p, rejected, ctx.old, ctx.now, ctx.cfg)


async def make_plan(ctx: Pass) -> None:
    """ctx.plan and Planned, and the plan's part of the status (demand, plan, cost, alternatives, ...).

    The per-namespace ceiling is checked and the plan's share noted atomically (the namespace's admission
    turn, where a namespace ceiling applies), so plans made at once see each other (issue 9). Plans are made
    outside the turn, in parallel; in its turn a plan stands if the namespace's shares did not change
    meanwhile or it fits what they are now, else it is made again."""
    spec, admission = ctx.spec, ctx.admission
    if spec is None or ctx.catalog is None or admission is None:
        return
    p = await plan_once(ctx, admission.ceilings)
    if p is None:
        return
    owner, book = ctx.owner, ctx.world.quota_book
    exclusive = namespace_capped(ctx.cfg, owner.namespace, ctx.policies)
    async with book.admitting(owner.namespace, exclusive):
        if exclusive:
            fresh = admit(ctx.cfg, owner.namespace, owner.uid, ctx.policies, await namespace_shares(ctx))
            if not still_admitted(p, admission, fresh):
                ctx.admission, p = fresh, await plan_once(ctx, fresh.ceilings)
        if p is not None:
            book.note(owner.namespace, owner.uid, reservation(owner, p, ctx.cfg, spec.serving is not None))
    if p is None:
        return
    ctx.plan = p
    ctx.verdicts[Cond.PLANNED] = Verdict("True", Reason.PLANNED, summary(p))
    ctx.new.update(plan_status(p))
    if ctx.demand_rps is not None:
        ctx.new["demand"]["source"] = "metric"
        ctx.new["demand"]["display"] = f"{ctx.demand_rps:.3g} req/s (metric)"
