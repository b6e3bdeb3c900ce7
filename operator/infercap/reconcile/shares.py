"""A ModelDeployment's part of its namespace's quota: from a fresh plan, or from the status another
ModelDeployment recorded (read through the status model). Pure."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from infercap.api.conditions import NOT_APPLIED, Cond
from infercap.api.status import read as read_status
from infercap.core.planner import Plan
from infercap.providers import Owner
from infercap.providers.quota import Share
from infercap.reconcile.status import Verdict


def applied_share(owner: Owner, p: Plan, pools: Verdict, chips: int | None = None) -> Share | None:
    """This plan's part of the namespace quota (`chips`, default the plan's own): None when nothing of it
    was applied."""
    applied = p.applied
    if applied.placement.replicas == 0 or (pools.status == "False" and pools.reason in NOT_APPLIED):
        return None
    return Share(
        owner.name,
        owner.uid,
        applied.accelerator.resource_name,
        chips if chips is not None else applied.placement.replicas * applied.placement.chips_per_replica,
        applied.cost.hourly,
        applied.cost.currency,
        applied.placement.nodes,
    )


def share_from_status(obj: dict[str, Any]) -> Share | None:
    """A ModelDeployment's quota share as its status records it (None while unplanned, deleting, or when
    its plan was not applied)."""
    raw = obj.get("status") or {}
    # Only the blocks a share needs: this runs in Kopf's index on every ModelDeployment event.
    status = read_status({k: raw[k] for k in ("plan", "cost", "conditions") if k in raw})
    plan_, cost = status.plan, status.cost
    if plan_ is None or not plan_.resource_name or obj["metadata"].get("deletionTimestamp"):
        return None
    pools = next((c for c in status.conditions if c.type == Cond.NODE_POOLS_READY), None)
    if pools is not None and pools.status == "False" and pools.reason in NOT_APPLIED:
        return None
    if plan_.replicas == 0:
        return None
    # quotaChips: the plan plus rollout surge and, during an accelerator switch, the old workload's chips.
    chips = plan_.quota_chips or plan_.replicas * plan_.chips_per_replica
    if chips == 0:
        return None
    return Share(
        obj["metadata"]["name"],
        obj["metadata"]["uid"],
        plan_.resource_name,
        chips,
        Decimal(cost.hourly if cost is not None else "0"),
        cost.currency if cost is not None else "USD",
        plan_.nodes,
    )
