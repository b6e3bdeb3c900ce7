"""Replica sizes an accelerator offers and how replicas pack onto its nodes."""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable
from dataclasses import dataclass

from infercap.api.catalog import AcceleratorProfileSpec, NodeShape, SliceShape
from infercap.core.errors import PlanError

# Largest replica considered, in chips (72 nodes of 8 GPUs, or eight NVL72 racks);
# a model that needs more is not served by infercap.
MAX_REPLICA_CHIPS = 576


@dataclass(frozen=True)
class Placement:
    """How replicas of `chips_per_replica` chips land on nodes."""

    chips_per_replica: int
    replicas: int
    nodes: int
    chips_per_node: int
    node_label: str  # instance type / machine type / topology, for humans
    slice: SliceShape | None = None
    node_shape: NodeShape | None = None

    @property
    def chips(self) -> int:
        return self.nodes * self.chips_per_node


def replica_sizes(acc: AcceleratorProfileSpec) -> list[tuple[int, SliceShape | None]]:
    """TPU slice shapes; for GPUs powers of two up to a node (or a scale-up domain such as NVL72),
    the whole domain, then whole multiples of the largest node."""
    if acc.slice_shapes:
        return [(s.chips, s) for s in sorted(acc.slice_shapes, key=lambda s: s.chips)]
    largest = max(s.chips for s in acc.node_shapes)
    domain = acc.scale_up_domain
    # Built in ascending order without a set (a first plan asks for every accelerator's): the powers of
    # two above a node that divide by it, and a domain up to MAX_REPLICA_CHIPS, are node multiples too.
    sizes: list[tuple[int, SliceShape | None]] = []
    n = 1
    while n <= largest:
        sizes.append((n, None))
        n *= 2
    multiples = range(2 * largest, MAX_REPLICA_CHIPS + 1, largest)
    sizes.extend(zip(multiples, itertools.repeat(None, len(multiples)), strict=True))
    if domain > max(largest, MAX_REPLICA_CHIPS) and domain % largest == 0:
        sizes.append((domain, None))
    return sizes


def place(acc: AcceleratorProfileSpec, chips: int, slice_: SliceShape | None, replicas: int) -> Placement:
    """Pack replicas onto nodes: a replica never straddles nodes unless it is bigger than one; among
    node shapes, the one that buys the fewest chips (then the fewest nodes) wins."""
    if slice_ is not None:
        host = min(slice_.chips_per_host, slice_.chips)
        hosts = max(1, slice_.chips // host)
        label = f"{slice_.topology} slice of {slice_.machine_type}"
        return Placement(chips, replicas, replicas * hosts, host, label, slice=slice_)
    best: Placement | None = None
    largest = max(s.chips for s in acc.node_shapes)
    for shape in acc.node_shapes:
        c = shape.chips
        if chips <= c:
            nodes = math.ceil(replicas / (c // chips))
        elif chips > largest and chips % c == 0:
            nodes = replicas * (chips // c)
        else:
            continue
        label = next(iter(shape.instance_types.values()), f"{c}x {acc.id} node")
        cand = Placement(chips, replicas, nodes, c, label, node_shape=shape)
        if best is None or (cand.chips, cand.nodes) < (best.chips, best.nodes):
            best = cand
    if best is None:
        raise PlanError("NoNodeShape", f"{acc.id} has no node shape for replicas of {chips} chips")
    return best


def replicas_for(
    demand: float, capacity_per_replica: float, headroom: float, minimum: int = 1, maximum: int | None = None
) -> int:
    """Replicas that serve `demand` at (1 - headroom) of each replica's capacity, within bounds."""
    need = math.ceil(demand / (capacity_per_replica * (1 - headroom)) - 1e-9) if demand > 0 else 0
    n = max(minimum, need)
    return min(n, maximum) if maximum is not None else n


def largest_true(ok: Callable[[int], bool], high: int) -> int:
    """The largest n in [0, high] with ok(n), for ok true up to some n and false after (0 if none):
    bisection, so the cost grows with log(high), not with high."""
    lo, hi = 0, high
    if high <= 0 or not ok(1):
        return 0
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if ok(mid):
            lo = mid
        else:
            hi = mid - 1
    return lo
