"""Admin ceilings on a plan: the most chips, nodes and monthly cost a ModelDeployment may apply, by itself
and together with the rest of its namespace (from CapacityPolicy objects and the operator configuration).

Pure: the reconcile gathers the policies and the namespace's other plans; this turns them into ceilings
and finds the most replicas under all of them, by bisection (cost does not grow with the replica count).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from decimal import Decimal

from infercap.api.catalog import AcceleratorProfileSpec, SliceShape
from infercap.api.policy import CapacityPolicySpec, Ceilings, Limits
from infercap.core.cost import HOURS_PER_MONTH
from infercap.core.sizes import largest_true, place


@dataclass(frozen=True)
class Ceiling:
    """One limit on what this plan may apply; `scope` names where it comes from, for messages."""

    scope: str
    chips: int | None = None
    nodes: int | None = None
    monthly: Decimal | None = None


@dataclass(frozen=True)
class Usage:
    """What the other ModelDeployments of the namespace apply."""

    chips: int = 0
    nodes: int = 0
    monthly: Decimal = Decimal(0)


def _less(limit: int | Decimal | None, used: int | Decimal) -> int | Decimal | None:
    if limit is None:
        return None
    return max(limit - used, 0)


def ceilings_for(
    namespace: str, defaults: Limits, policies: Iterable[tuple[str, CapacityPolicySpec]], used: Usage
) -> list[Ceiling]:
    """Every ceiling on one ModelDeployment of `namespace`: the operator configuration's and those of the
    policies that cover the namespace; namespace ceilings less what the namespace's other plans use."""
    sources: list[tuple[str, Limits]] = [("operator configuration", defaults)]
    sources += [(f"CapacityPolicy {name}", p.limits) for name, p in policies if p.covers(namespace)]
    out: list[Ceiling] = []
    for label, limits in sources:
        d, n = limits.per_deployment, limits.per_namespace
        if _any(d):
            out.append(Ceiling(f"{label} (per ModelDeployment)", d.max_chips, d.max_nodes, d.max_monthly_cost))
        if _any(n):
            chips, nodes = _less(n.max_chips, used.chips), _less(n.max_nodes, used.nodes)
            monthly = _less(n.max_monthly_cost, used.monthly)
            out.append(
                Ceiling(
                    f"{label} (namespace {namespace}, of which others use {used.chips} chips, {used.nodes} nodes, "
                    f"{used.monthly}/month)",
                    int(chips) if chips is not None else None,
                    int(nodes) if nodes is not None else None,
                    Decimal(monthly) if monthly is not None else None,
                )
            )
    return out


def _any(c: Ceilings) -> bool:
    return c.max_chips is not None or c.max_nodes is not None or c.max_monthly_cost is not None


def within(
    acc: AcceleratorProfileSpec, chips_per_replica: int, slice_: SliceShape | None, replicas: int, c: Ceiling
) -> bool:
    p = place(acc, chips_per_replica, slice_, replicas)
    monthly = acc.price.per_chip_hour * p.chips * HOURS_PER_MONTH
    return (
        (c.chips is None or p.chips <= c.chips)
        and (c.nodes is None or p.nodes <= c.nodes)
        and (c.monthly is None or monthly <= c.monthly)
    )


def allowed_replicas(
    acc: AcceleratorProfileSpec,
    chips_per_replica: int,
    slice_: SliceShape | None,
    replicas: int,
    ceilings: Sequence[Ceiling],
) -> tuple[int, list[str]]:
    """The most replicas, up to `replicas`, under every ceiling, and the scopes of the ceilings that bind."""
    binding = [c.scope for c in ceilings if not within(acc, chips_per_replica, slice_, replicas, c)]
    if not binding:
        return replicas, []
    n = largest_true(lambda r: all(within(acc, chips_per_replica, slice_, r, c) for c in ceilings), replicas)
    return n, binding
