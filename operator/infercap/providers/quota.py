"""The per-namespace ResourceQuota that covers the sum of the namespace's plans per accelerator resource.

Its ownerReferences list every ModelDeployment of the namespace, so the garbage collector removes it
with the last of them; infercap shrinks it as plans shrink or ModelDeployments go away.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from infercap.core.cost import HOURS_PER_MONTH, money
from infercap.providers.base import COST_CURRENCY, COST_HOURLY, COST_MONTHLY, MANAGED_BY, MANAGER


@dataclass(frozen=True)
class Share:
    """One ModelDeployment's part of the namespace quota."""

    name: str
    uid: str
    resource: str
    chips: int
    hourly: Decimal
    currency: str
    nodes: int = 0


def resource_quota(namespace: str, name: str, shares: Iterable[Share], api_version: str) -> dict[str, Any] | None:
    """The quota manifest, or None when the namespace has no plan left."""
    shares = sorted(shares, key=lambda s: s.name)
    if not shares:
        return None
    hard: dict[str, int] = {}
    for s in shares:
        key = f"requests.{s.resource}"
        hard[key] = hard.get(key, 0) + s.chips
    hourly = sum((s.hourly for s in shares), Decimal(0))
    currencies = {s.currency for s in shares}
    annotations = {COST_HOURLY: str(money(hourly)), COST_MONTHLY: str(money(hourly * HOURS_PER_MONTH))}
    if len(currencies) == 1:
        annotations[COST_CURRENCY] = currencies.pop()
    return {
        "apiVersion": "v1",
        "kind": "ResourceQuota",
        "metadata": {
            "name": name,
            "namespace": namespace,
            "labels": {MANAGED_BY: MANAGER},
            "annotations": annotations,
            "ownerReferences": [
                {"apiVersion": api_version, "kind": "ModelDeployment", "name": s.name, "uid": s.uid} for s in shares
            ],
        },
        "spec": {"hard": {k: str(v) for k, v in sorted(hard.items())}},
    }
