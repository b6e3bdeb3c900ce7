"""The quota step: the namespace's ResourceQuota covers the sum of its plans (this one's fresh, the
others' as their status records them), written one namespace at a time, and only when it changes."""

from __future__ import annotations

from typing import Any

from infercap.api import API_VERSION
from infercap.api.conditions import Cond, Reason
from infercap.api.config import OperatorConfig
from infercap.kube.client import Kube, KubeError
from infercap.providers import MANAGED_BY, MANAGER
from infercap.providers.quota import Share, resource_quota
from infercap.reconcile.shares import applied_share
from infercap.reconcile.status import Verdict
from infercap.reconcile.status import child_ref as _ref
from infercap.reconcile.world import Pass, World


async def apply_quota(
    kube: Kube,
    world: World,
    cfg: OperatorConfig,
    namespace: str,
    current: Share | None,
    exclude_uid: str | None = None,
) -> tuple[Verdict, dict[str, Any] | None]:
    """Make the namespace's ResourceQuota cover the sum of its plans (this one's fresh, the others' as
    their status says)."""
    if not cfg.quota.enabled:
        return Verdict("True", Reason.DISABLED, "quota management is disabled in the operator configuration"), None
    # Noted before the wait: the reconcile whose turn it is writes the waiting ones' shares as well, and
    # their turns then find the quota already right (one write for a burst, not one per object).
    book = world.quota_book
    if current is not None:
        book.note(namespace, current.uid, current)
    if exclude_uid is not None:
        book.note(namespace, exclude_uid, None)
    uid = current.uid if current is not None else exclude_uid
    async with world.quota_locks[namespace]:
        if uid is not None and book.covers(namespace, uid):
            # An earlier turn wrote this share with the others waiting: nothing to build or write. (The
            # refresh after the burst, uid None, still sums the index's shares in full.)
            manifest = book.applied[namespace]
            return _removed() if manifest is None else (_quota_verdict(manifest), _ref(manifest))
        return await _apply_quota(kube, world, cfg, namespace)


def _removed() -> tuple[Verdict, None]:
    return Verdict("True", Reason.APPLIED, "no plans left in the namespace: quota removed"), None


async def _apply_quota(
    kube: Kube, world: World, cfg: OperatorConfig, namespace: str
) -> tuple[Verdict, dict[str, Any] | None]:
    book = world.quota_book
    shares = book.merged(namespace, await world.shares(namespace))
    name = cfg.quota.name
    manifest = resource_quota(namespace, name, shares, API_VERSION)
    if namespace in book.applied and book.applied[namespace] == manifest:
        # What this process last applied, unchanged since (the watch clears it on a foreign edit).
        book.settle(namespace, manifest, shares)
        return _removed() if manifest is None else (_quota_verdict(manifest), _ref(manifest))
    existing = await kube.get("v1", "ResourceQuota", name, namespace)
    if existing is not None and (existing.get("metadata", {}).get("labels") or {}).get(MANAGED_BY) != MANAGER:
        return Verdict(
            "False",
            Reason.NAME_CONFLICT,
            f"ResourceQuota {name} exists and was not created by infercap; "
            f"infercap leaves it alone (rename it or set quota.name in the operator configuration)",
        ), None
    if manifest is not None and existing is not None and _same(existing, manifest):
        book.settle(namespace, manifest, shares)
        return _quota_verdict(manifest), _ref(manifest)
    try:
        if manifest is None:
            if existing is not None:
                await kube.delete("v1", "ResourceQuota", name, namespace)
            book.settle(namespace, None, shares)
            return _removed()
        await kube.apply(manifest)
    except KubeError as e:
        book.forget(namespace)
        return Verdict("False", Reason.APPLY_FAILED, f"applying ResourceQuota {name}: {e.message}"), None
    book.settle(namespace, manifest, shares)
    return _quota_verdict(manifest), _ref(manifest)


def _quota_verdict(manifest: dict[str, Any]) -> Verdict:
    hard = ", ".join(f"{k}={v}" for k, v in manifest["spec"]["hard"].items())
    return Verdict("True", Reason.APPLIED, f"ResourceQuota {manifest['metadata']['name']}: {hard}")


def _same(existing: dict[str, Any], manifest: dict[str, Any]) -> bool:
    """Whether applying `manifest` would change nothing infercap owns in `existing`."""
    em, mm = existing.get("metadata", {}), manifest["metadata"]
    owners = [(o["uid"], o["name"]) for o in em.get("ownerReferences", [])]
    return (
        existing.get("spec", {}).get("hard") == manifest["spec"]["hard"]
        and all((em.get("annotations") or {}).get(k) == v for k, v in mm["annotations"].items())
        and sorted(owners) == sorted((o["uid"], o["name"]) for o in mm["ownerReferences"])
    )


async def quota_step(ctx: Pass) -> None:
    """The namespace quota with this plan's share (none when its plan was not applied); QuotaApplied and
    the quota's ref among status.children."""
    assert ctx.plan is not None
    owner = ctx.owner
    share = applied_share(owner, ctx.plan, ctx.verdicts[Cond.NODE_POOLS_READY], ctx.new["plan"].get("quotaChips"))
    verdict, ref = await apply_quota(
        ctx.kube, ctx.world, ctx.cfg, owner.namespace, share, exclude_uid=None if share else owner.uid
    )
    ctx.verdicts[Cond.QUOTA_APPLIED] = verdict
    if ref is not None:
        ctx.new["children"].append(ref)
