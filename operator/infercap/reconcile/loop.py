"""Closing the loop in one reconcile, after planning: the provider's rejections and the switch
hysteresis on the plan; then the serving workload, the node pools (kept for a switch in progress) and
what exists (observed nodes, replicas and cost; NodePoolsReady from the pools' own Ready condition;
Serving and CapacityMatchesPlan). The `infercap.dev/paused` annotation freezes all children."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import replace
from typing import Any

from infercap.api.config import OperatorConfig
from infercap.api.deployment import ModelDeploymentSpec, Provider
from infercap.core.catalog import Catalog
from infercap.core.planner import Plan, Rejection
from infercap.kube.client import Kube, KubeError
from infercap.providers import Owner, provider_for
from infercap.reconcile.observe import Reader, observe
from infercap.reconcile.serving import apply_serving, hold_accelerator, paused, scale_target
from infercap.reconcile.status import Verdict

COST_OBSERVED_HOURLY = "infercap.dev/cost-observed-hourly"

ApplyPools = Callable[..., Awaitable[tuple[Verdict, list[dict[str, Any]], str | None]]]


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


async def apply_children(
    kube: Kube,
    cfg: OperatorConfig,
    body: dict[str, Any],
    spec: ModelDeploymentSpec,
    owner: Owner,
    p: Plan,
    catalog: Catalog,
    old: dict[str, Any],
    new: dict[str, Any],
    verdicts: dict[str, Verdict],
    now: str,
    apply_pools: ApplyPools,
    reader: Reader | None = None,
) -> tuple[Verdict, list[dict[str, Any]], str | None]:
    """Apply workload and node pools, observe what exists (through `reader`, default the API client);
    returns NodePoolsReady, children, retry."""
    previous = [r for r in old.get("children", []) if r.get("kind") != "ResourceQuota"]
    if paused(body):
        for ctype in ("NodePoolsReady", "Serving", "CapacityMatchesPlan"):
            prev = next((c for c in old.get("conditions", []) if c["type"] == ctype), None)
            if prev is not None and ctype != "NodePoolsReady":
                verdicts[ctype] = Verdict(prev["status"], prev["reason"], prev["message"])
        for key in ("plan", "cost", "observed"):  # the frozen children still match the old plan
            if key in old:
                new[key] = old[key]
        return (
            Verdict("True", "Paused", "infercap.dev/paused is true: node pools and workload are frozen"),
            previous,
            None,
        )
    if spec.scale_target_ref is not None:
        outcome = await scale_target(kube, spec, owner, p)
    else:
        outcome = await apply_serving(kube, cfg, spec, owner, p, previous)
    verdicts.update(outcome.extra)
    # Quota: the plan, plus the rollout surge, plus while a switch runs the old workload's chips (old
    # and new pods count against the same accelerator resource until the old ones go).
    pl = p.applied.placement
    chips = pl.replicas * pl.chips_per_replica
    if spec.serving is not None and cfg.quota.rollout_surge:
        chips += cfg.serving.rollout_surge * pl.chips_per_replica
    new["plan"]["quotaChips"] = chips + outcome.old_chips
    pools_verdict, refs, retry = await apply_pools(
        kube, cfg, spec, owner, p, previous, keep_previous=not outcome.switch_done
    )
    provider = provider_for(spec.node_pool, cfg)
    if outcome.verdict is not None:
        verdicts["Serving"] = outcome.verdict
    if provider == Provider.KARPENTER and pools_verdict.status == "True":
        pools = [r["name"] for r in refs if r["kind"] == "NodePool"]
        try:
            seen = await observe(
                reader or kube,
                catalog,
                pools,
                p.applied.placement.nodes,
                outcome.workload,
                owner.namespace,
                outcome.selector,
                _instance_type(p, cfg),
            )
        except KubeError as e:
            verdicts["CapacityMatchesPlan"] = Verdict("Unknown", "ObserveFailed", f"reading nodes: {e.message}")
            return pools_verdict, refs + outcome.refs, retry or outcome.retry
        new["observed"] = seen.observed
        if seen.pools_ready is not None:
            pools_verdict = seen.pools_ready
        verdicts["CapacityMatchesPlan"] = seen.capacity
        # The observed-cost annotation (COST_OBSERVED_HOURLY) is written with the planned cost's, in one patch.
    else:
        new.pop("observed", None)
    before = (old.get("plan") or {}).get("accelerator")
    if before and before != p.applied.accelerator.id:
        new["lastSwitchTime"] = now
    return pools_verdict, refs + outcome.refs, retry or outcome.retry
