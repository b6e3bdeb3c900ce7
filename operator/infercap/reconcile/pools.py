"""The apply-pools step: render this plan's node pools through its provider, apply them (never over an
object infercap did not make for this ModelDeployment), and remove the pools of an earlier plan once the
workload no longer needs them. Also finalize's clean-up of every pool labelled with the owner's uid."""

from __future__ import annotations

from typing import Any

from infercap.api.conditions import Reason
from infercap.api.config import OperatorConfig
from infercap.api.deployment import ModelDeploymentSpec, Provider
from infercap.api.policy import Targets
from infercap.core.planner import Plan
from infercap.kube.client import Kube, KubeError
from infercap.providers import (
    MANAGED_BY,
    MANAGER,
    OWNER_UID,
    Owner,
    PoolRequest,
    ProviderError,
    pool_kinds,
    provider_for,
    render_node_pools,
)
from infercap.providers.targets import resolve as resolve_targets
from infercap.reconcile.prefetch import Prefetched
from infercap.reconcile.request import ApplyRequest
from infercap.reconcile.status import Verdict
from infercap.reconcile.status import child_ref as ref_of
from infercap.reconcile.world import owned_pools

NOTHING_AFFORDABLE = Reason.NOTHING_AFFORDABLE
Key = tuple[str, str, str | None]  # kind, name, namespace


def key_of(ref: dict[str, Any]) -> Key:
    return ref["kind"], ref["name"], ref.get("namespace")


def ours(obj: dict[str, Any], uid: str | None) -> bool:
    """Whether infercap made `obj` (for this ModelDeployment, with `uid`). A node pool is this
    ModelDeployment's by its owner-uid label alone (a random id nobody else writes), so one whose
    managed-by label someone removed is still updated and cleaned up; the quota carries only managed-by."""
    labels = obj.get("metadata", {}).get("labels") or {}
    if uid is not None:
        return labels.get(OWNER_UID) == uid
    return labels.get(MANAGED_BY) == MANAGER


def capped_to_nothing(p: Plan) -> str:
    b = p.budget
    if p.limit is not None and p.limit.capped.placement.replicas == 0:
        return f"the admin ceilings allow no replica ({'; '.join(p.limit.binding)}): nothing is applied"
    if b is not None and b.affordable_replicas == 0:
        return (
            f"spec.budget.maxMonthlyCost {b.max_monthly} {b.currency} affords no replica (one costs more): "
            f"nothing is applied. Raise the budget or choose a smaller model"
        )
    return "the plan was capped to no replica: nothing is applied"


def render_pools(
    cfg: OperatorConfig, spec: ModelDeploymentSpec, owner: Owner, p: Plan, targets: Targets
) -> list[dict[str, Any]]:
    """This plan's node-pool manifests (none for a plan capped to no replica: an empty pool would still be
    a target to drift to); ProviderError when the provider or the admin's targets refuse it."""
    option = p.applied
    provider = provider_for(spec.node_pool, cfg)
    req = PoolRequest(
        owner,
        option.accelerator,
        option.placement,
        option.accelerator.price.per_chip_hour,
        option.cost.currency,
        resolve_targets(spec.node_pool, provider, cfg, targets),
        spec.capacity.mode,
        cfg.serving.rollout_surge * option.placement.chips_per_replica if spec.serving else 0,
    )
    desired = render_node_pools(req, cfg)
    return desired if option.placement.replicas > 0 else []


async def apply_each(
    kube: Kube, desired: list[dict[str, Any]], owner: Owner, seen: Prefetched | None = None
) -> tuple[Verdict | None, list[dict[str, Any]], str | None]:
    """Apply the manifests in order, stopping at the first one that is someone else's or fails: (a problem
    or None, the refs applied, retry). Each pool as applied goes into `seen`, for observing to read."""
    refs: list[dict[str, Any]] = []
    for manifest in desired:
        meta = manifest["metadata"]
        existing = await kube.get(manifest["apiVersion"], manifest["kind"], meta["name"], meta.get("namespace"))
        if existing is not None and not ours(existing, owner.uid):
            return (
                Verdict(
                    "False",
                    Reason.NAME_CONFLICT,
                    f"{manifest['kind']} {meta['name']} exists and was not created by infercap for this "
                    f"ModelDeployment; infercap leaves it alone. Rename this ModelDeployment or remove "
                    f"that object",
                ),
                refs,
                None,
            )
        try:
            current = await kube.apply_if_changed(manifest, existing)  # nothing sent for a pool already as applied
            if seen is not None:
                seen.put(current)
        except KubeError as e:
            problem = f"applying {manifest['kind']} {meta['name']}: {e.message}"
            return Verdict("False", Reason.APPLY_FAILED, problem), refs, "apply failed"
        refs.append(ref_of(manifest))
    return None, refs, None


async def prune(
    kube: Kube,
    owner: Owner,
    refs: list[dict[str, Any]],
    candidates: list[dict[str, Any]],
    keep_previous: bool,
) -> list[dict[str, Any]]:
    """Delete the node pools among `candidates` (status.children of the last plan, and, since a crash can
    come between an apply and the status write, every pool labelled with this owner's uid) that this plan
    no longer needs; while `keep_previous` (the old workload still serves on them) keep them and return
    their refs."""
    wanted = {key_of(r) for r in refs}
    kinds = {k.kind for k in pool_kinds()}
    stale: dict[Key, dict[str, Any]] = {}
    for ref in candidates:
        stale.setdefault(key_of(ref), ref)
    kept: list[dict[str, Any]] = []
    for key, ref in stale.items():
        if ref["kind"] not in kinds or key in wanted:
            continue
        if keep_previous:
            kept.append(ref)
            continue
        obj = await kube.get(ref["apiVersion"], ref["kind"], ref["name"], ref.get("namespace"))
        if obj is not None and ours(obj, owner.uid):
            await kube.delete(ref["apiVersion"], ref["kind"], ref["name"], ref.get("namespace"))
    return kept


async def apply_node_pools(
    req: ApplyRequest,
    targets: Targets,
    owned: list[dict[str, Any]] | None = None,
    keep_previous: bool = False,
    seen: Prefetched | None = None,
) -> tuple[Verdict, list[dict[str, Any]], str | None]:
    """Apply this plan's node pools and remove the ones it no longer needs (kept while `keep_previous`:
    the previous plan's workload still serves on them). Returns NodePoolsReady, the refs, retry."""
    kube, cfg, spec, owner, p, previous = req.kube, req.cfg, req.spec, req.owner, req.plan, req.previous
    try:
        desired = render_pools(cfg, spec, owner, p, targets)
    except ProviderError as e:
        return Verdict("False", e.reason, e.message), [], None
    problem, refs, retry = await apply_each(kube, desired, owner, seen)
    if problem is not None:
        return problem, refs, retry
    refs += await prune(kube, owner, refs, [*previous, *(ref_of(o) for o in owned or [])], keep_previous)
    provider = provider_for(spec.node_pool, cfg)
    if p.applied.placement.replicas == 0:
        return Verdict("False", Reason.NOTHING_AFFORDABLE, capped_to_nothing(p)), refs, None
    if provider == Provider.NONE:
        return Verdict("True", Reason.NO_PROVIDER, "spec.nodePool.provider is none: plan and status only"), refs, None
    names = ", ".join(f"{r['kind']}/{r['name']}" for r in refs)
    return Verdict("True", Reason.APPLIED, f"{provider}: {names}"), refs, None


async def remove_owned_pools(kube: Kube, cfg: OperatorConfig, uid: str) -> list[str]:
    """Delete every node pool labelled with this owner's uid; returns kind/name of each one deleted."""
    deleted = []
    for obj in await owned_pools(kube, uid, cfg):
        meta = obj["metadata"]
        if ours(obj, uid) and await kube.delete(obj["apiVersion"], obj["kind"], meta["name"], meta.get("namespace")):
            deleted.append(f"{obj['kind']}/{meta['name']}")
    return deleted
