"""Closing the loop in one reconcile, after planning: the provider's rejections and the switch
hysteresis on the plan; then the apply step — the serving workload (through its workload target), the
node pools (kept for a switch in progress) — and the observe step: what exists (observed nodes, replicas
and cost; NodePoolsReady from the pools' own Ready condition; Serving and CapacityMatchesPlan). The
`infercap.dev/paused` annotation freezes all children."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from infercap.api.conditions import Cond, Reason
from infercap.api.config import OperatorConfig
from infercap.core.planner import Plan, Rejection
from infercap.kube.client import KubeError
from infercap.providers import NodePoolProvider, get, provider_for
from infercap.reconcile.observe import observe
from infercap.reconcile.pools import apply_node_pools
from infercap.reconcile.prefetch import Prefetched
from infercap.reconcile.request import ApplyRequest
from infercap.reconcile.serving import ServingOutcome, hold_accelerator, paused
from infercap.reconcile.status import Verdict
from infercap.reconcile.workload import target_for
from infercap.reconcile.world import Pass

COST_OBSERVED_HOURLY = "infercap.dev/cost-observed-hourly"


def after_plan(
    p: Plan, rejected: list[tuple[str, str, str]], old: dict[str, Any], now: str, cfg: OperatorConfig
) -> Plan:
    """The plan to apply: accelerators the provider cannot create listed as rejected, and the previous
    accelerator kept when switching would not be worth it."""
    if rejected:
        p = replace(p, rejections=[*p.rejections, *(Rejection(a, r, m) for a, r, m in rejected)])
    p, held = hold_accelerator(p, old, now, cfg)
    if held:
        p = replace(p, explanation=[*p.explanation, held])
    return p


def _instance_type(p: Plan, cfg: OperatorConfig) -> str | None:
    shape = p.applied.placement.node_shape
    return shape.instance_types.get(cfg.karpenter.cloud) if shape is not None else None


def _previous_children(ctx: Pass) -> list[dict[str, Any]]:
    return [r for r in ctx.old.get("children", []) if r.get("kind") != "ResourceQuota"]


def freeze(ctx: Pass) -> None:
    """Paused: nothing is written; the workload's conditions and the plan blocks stay as they were (the
    frozen children still match the old plan)."""
    for ctype in (Cond.SERVING, Cond.CAPACITY_MATCHES_PLAN):
        prev = ctx.previous(ctype)
        if prev is not None:
            ctx.verdicts[ctype] = prev
    for key in ("plan", "cost", "observed"):
        if key in ctx.old:
            ctx.new[key] = ctx.old[key]
    ctx.verdicts[Cond.NODE_POOLS_READY] = Verdict(
        "True", Reason.PAUSED, "infercap.dev/paused is true: node pools and workload are frozen"
    )
    ctx.new["children"] = _previous_children(ctx)


async def apply_step(ctx: Pass) -> ServingOutcome | None:
    """The workload, the quota chips it needs, and the node pools: NodePoolsReady and status.children.
    Returns the workload target's outcome (None when paused: nothing was applied)."""
    spec, p, admission = ctx.spec, ctx.plan, ctx.admission
    assert spec is not None and p is not None and admission is not None
    if paused(ctx.body):
        freeze(ctx)
        return None
    previous = _previous_children(ctx)
    req = ApplyRequest(ctx.kube, ctx.cfg, spec, ctx.owner, p, previous)
    outcome = await target_for(spec).apply(req)
    ctx.verdicts.update(outcome.extra)
    # Quota: the plan, plus the rollout surge, plus while a switch runs the old workload's chips (old
    # and new pods count against the same accelerator resource until the old ones go).
    pl = p.applied.placement
    chips = pl.replicas * pl.chips_per_replica
    if spec.serving is not None and ctx.cfg.quota.rollout_surge:
        chips += ctx.cfg.serving.rollout_surge * pl.chips_per_replica
    ctx.new["plan"]["quotaChips"] = chips + outcome.old_chips
    owned = await ctx.world.owned(ctx.owner.uid, ctx.cfg)
    ctx.seen = Prefetched(ctx.world.reader())
    verdict, refs, retry = await apply_node_pools(req, admission.targets, owned, not outcome.switch_done, ctx.seen)
    ctx.verdicts[Cond.NODE_POOLS_READY] = verdict
    if outcome.verdict is not None:
        ctx.verdicts[Cond.SERVING] = outcome.verdict
    ctx.new["children"] = refs + outcome.refs
    ctx.retry = retry or outcome.retry
    return outcome


async def observe_step(ctx: Pass, outcome: ServingOutcome | None) -> None:
    """What exists, for providers whose nodes can be counted (status.observed, CapacityMatchesPlan, and
    NodePoolsReady from the pools' Ready condition), and lastSwitchTime."""
    spec, p = ctx.spec, ctx.plan
    assert spec is not None and p is not None
    if outcome is None:
        return
    provider = get(provider_for(spec.node_pool, ctx.cfg))
    if provider.observes_nodes and ctx.verdicts[Cond.NODE_POOLS_READY].status == "True":
        await _observe(ctx, provider, outcome)
    else:
        ctx.new.pop("observed", None)
    before = (ctx.old.get("plan") or {}).get("accelerator")
    if before and before != p.applied.accelerator.id:
        ctx.new["lastSwitchTime"] = ctx.now


async def _observe(ctx: Pass, provider: NodePoolProvider, outcome: ServingOutcome) -> None:
    assert ctx.plan is not None and ctx.catalog is not None
    owner, kind = ctx.owner, provider.kinds[0]
    pools = [r["name"] for r in ctx.new["children"] if r["kind"] in {k.kind for k in provider.kinds}]
    try:
        seen = await observe(
            ctx.seen or ctx.world.reader(),
            ctx.catalog,
            pools,
            ctx.plan.applied.placement.nodes,
            outcome.workload,
            owner.namespace,
            outcome.selector,
            _instance_type(ctx.plan, ctx.cfg),
            (kind.api_version, kind.kind),
        )
    except KubeError as e:
        ctx.verdicts[Cond.CAPACITY_MATCHES_PLAN] = Verdict(
            "Unknown", Reason.OBSERVE_FAILED, f"reading nodes: {e.message}"
        )
        return
    ctx.new["observed"] = seen.observed
    if seen.pools_ready is not None:
        ctx.verdicts[Cond.NODE_POOLS_READY] = seen.pools_ready
    ctx.verdicts[Cond.CAPACITY_MATCHES_PLAN] = seen.capacity
    # The observed-cost annotation (COST_OBSERVED_HOURLY) is written with the planned cost's, in one patch.
