"""The plan step: plan among the accelerators the node-pool provider can create, within the admin's
ceilings, off the event loop and under a deadline; then the provider's rejections and the switch
hysteresis on the plan. A spec that cannot be planned becomes Planned False with the planner's reason."""

from __future__ import annotations

import functools

from infercap.api.conditions import Cond, Reason
from infercap.core.autoscale import planning_headroom
from infercap.core.errors import PlanError
from infercap.core.planner import plan
from infercap.providers import candidates, provider_for, provider_rejections
from infercap.reconcile.guard import plan_guarded
from infercap.reconcile.load import replica_bounds
from infercap.reconcile.loop import after_plan
from infercap.reconcile.status import Verdict, plan_status, summary
from infercap.reconcile.world import Pass


async def make_plan(ctx: Pass) -> None:
    """ctx.plan and Planned, and the plan's part of the status (demand, plan, cost, alternatives, ...)."""
    spec, catalog, admission = ctx.spec, ctx.catalog, ctx.admission
    if spec is None or catalog is None or admission is None:
        return
    provider = provider_for(spec.node_pool, ctx.cfg)
    low, high = replica_bounds(ctx)
    make = functools.partial(
        plan,
        catalog,
        candidates(spec, catalog, provider, ctx.cfg),
        demand_rps=ctx.demand_rps,
        min_replicas=low,
        max_replicas=high,
        ceilings=admission.ceilings,
        headroom=None if ctx.demand_rps is None else planning_headroom(spec),
    )
    try:
        p = await plan_guarded(make, ctx.cfg.plan_timeout_seconds)
    except PlanError as e:
        detail = "" if not ctx.problems else " (" + "; ".join(ctx.problems) + ")"
        ctx.verdicts[Cond.PLANNED] = Verdict("False", e.reason, str(e) + detail)
        return
    rejected = provider_rejections(spec, catalog, provider, ctx.cfg)
    ctx.plan = after_plan(p, rejected, ctx.old, ctx.now, ctx.cfg)
    ctx.verdicts[Cond.PLANNED] = Verdict("True", Reason.PLANNED, summary(ctx.plan))
    ctx.new.update(plan_status(ctx.plan))
    if ctx.demand_rps is not None:
        ctx.new["demand"]["source"] = "metric"
        ctx.new["demand"]["display"] = f"{ctx.demand_rps:.3g} req/s (metric)"
