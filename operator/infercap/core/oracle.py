"""The perfect-foresight oracle: the cheapest replica schedule that keeps SLO misses within a budget,
knowing the whole trace, the provisioning delay and the node granularity.

Schedules change at step boundaries (the policies' sync period). Cost of a schedule x (ready replicas
per step), in chip-seconds:

    sum_k chips(x_k) * dt  +  sum_k boot_k * max(0, chips(x_k) - chips(x_{k-1}))

where boot_k = min(delay, k * dt - start), at least 0: every chip that becomes ready was paid for while it
booted (requested `delay` earlier; what is paid counts from `start`), and a chip released and needed
again boots again. Steps before `start` cost nothing.
Misses: m_k(n), the SLO misses of step k's requests with n replicas, non-increasing in n.

Minimizing cost subject to sum_k m_k(x_k) <= budget is a constrained shortest path. We solve its
Lagrangian dual exactly: for a price lambda per miss, a dynamic program over (step, replicas) finds
min_x cost(x) + lambda * misses(x) in O(steps x replica counts) (the boot term splits into a suffix
minimum and a prefix minimum because chips() is non-decreasing). By weak duality every lambda gives a
lower bound, cost + lambda * (misses - budget), on the constrained optimum; bisection on lambda finds
the smallest price whose schedule fits the budget, which is the schedule we return (feasible, an upper
bound). `lower_bound` is the best dual value seen: the optimum lies in [lower_bound, cost].
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

INF = float("inf")


@dataclass(frozen=True)
class Problem:
    steps: int
    dt: float
    delay: float
    counts: Sequence[int]  # replica counts the oracle may choose, ascending
    chips: Sequence[int]  # chips(counts[j]), non-decreasing
    misses: Sequence[Sequence[float]]  # [k][j] = misses of step k with counts[j] replicas (inf: not allowed)
    budget: float
    start: float = 0.0  # cost counts from this time on (a multiple of dt): nothing is paid before it


@dataclass(frozen=True)
class Schedule:
    ready: list[int]  # replicas ready per step
    cost: float  # chip-seconds
    misses: float
    lower_bound: float  # chip-seconds; the constrained optimum is at least this
    exact: bool  # the dual closed the gap: cost == lower bound


def _boot(p: Problem, k: int) -> float:
    """Seconds paid for a chip that starts serving at step k: its boot, from `start` on."""
    return max(0.0, min(p.delay, k * p.dt - p.start))


def _paid(p: Problem, k: int) -> float:
    return p.dt if k * p.dt >= p.start else 0.0


def schedule_cost(p: Problem, idx: Sequence[int]) -> float:
    total = 0.0
    for k, j in enumerate(idx):
        total += p.chips[j] * _paid(p, k)
        if k > 0:
            total += _boot(p, k) * max(0, p.chips[j] - p.chips[idx[k - 1]])
    return total


def _solve(p: Problem, lam: float) -> tuple[float, list[int]]:
    """min over schedules of cost + lam * misses, and its schedule (indices into p.counts)."""
    n = len(p.counts)
    chips = p.chips
    value = [chips[j] * _paid(p, 0) + (lam * p.misses[0][j] if p.misses[0][j] else 0.0) for j in range(n)]
    back: list[list[int]] = []
    for k in range(1, p.steps):
        boot = _boot(p, k)
        paid = _paid(p, k)
        # suffix[j]: best previous state m >= j (no boot); prefix: best m < j of value - boot * chips(m).
        suffix = [0.0] * n
        suffix_arg = [0] * n
        best, arg = INF, n - 1
        for m in range(n - 1, -1, -1):
            if value[m] <= best:
                best, arg = value[m], m
            suffix[m], suffix_arg[m] = best, arg
        row_back = [0] * n
        new = [0.0] * n
        pre, pre_arg = INF, 0
        mk = p.misses[k]
        for j in range(n):
            cand, carg = suffix[j], suffix_arg[j]
            if pre + boot * chips[j] < cand:
                cand, carg = pre + boot * chips[j], pre_arg
            miss = mk[j]
            new[j] = cand + chips[j] * paid + (lam * miss if miss else 0.0)
            row_back[j] = carg
            v = value[j] - boot * chips[j]
            if v < pre:
                pre, pre_arg = v, j
        value = new
        back.append(row_back)
    j = min(range(n), key=lambda i: value[i])
    best_value = value[j]
    idx = [j]
    for row in reversed(back):
        j = row[j]
        idx.append(j)
    idx.reverse()
    return best_value, idx


def _misses(p: Problem, idx: Sequence[int]) -> float:
    return sum(p.misses[k][j] for k, j in enumerate(idx))


def solve(p: Problem, iterations: int = 60) -> Schedule:
    """The cheapest schedule within the miss budget (see the module docstring), with its dual bound."""
    if p.steps == 0:
        return Schedule([], 0.0, 0.0, 0.0, True)
    value, idx = _solve(p, 0.0)
    lower = value  # lambda = 0: the cost with no SLO at all
    if _misses(p, idx) <= p.budget:
        return Schedule([p.counts[j] for j in idx], schedule_cost(p, idx), _misses(p, idx), lower, True)
    # A price above the most one step can cost makes every avoidable miss too dear.
    hi = (max(p.chips) * (p.dt + p.delay) + 1.0) * 2
    value, best = _solve(p, hi)
    if _misses(p, best) > p.budget:
        # The budget cannot be met (irreducible misses): the schedule that misses least.
        return Schedule([p.counts[j] for j in best], schedule_cost(p, best), _misses(p, best), lower, False)
    lower = max(lower, value - hi * p.budget)
    lo = 0.0
    for _ in range(iterations):
        mid = (lo + hi) / 2
        value, idx = _solve(p, mid)
        miss = _misses(p, idx)
        lower = max(lower, value - mid * p.budget)
        if miss <= p.budget:
            hi, best = mid, idx
        else:
            lo = mid
        if hi - lo <= 1e-9 * hi:
            break
    cost = schedule_cost(p, best)
    return Schedule([p.counts[j] for j in best], cost, _misses(p, best), lower, cost <= lower * (1 + 1e-9))


def miss_table(
    steps: int,
    counts: Sequence[int],
    misses: Callable[[int, int], int],
    floor: Callable[[int], int],
    give_up: Callable[[int], int],
) -> list[list[float]]:
    """m_k(n) for every step and count, evaluating `misses(k, n)` as few times as monotonicity allows.
    `floor(k)` is step k's misses with unlimited replicas. From the smallest count reaching it, counts
    below are evaluated downwards until the misses reach give_up(k); lower counts then take that value,
    which by monotonicity is a lower bound of their own (so the oracle stays a relaxation)."""
    table: list[list[float]] = []
    top = len(counts) - 1
    for k in range(steps):
        row: list[float] = [0.0] * len(counts)
        least = floor(k)
        # Smallest index whose misses reach the floor (binary search: misses are monotone in n).
        lo, hi = 0, top
        known: dict[int, int] = {}

        def at(j: int, k: int = k, known: dict[int, int] = known) -> int:
            if j not in known:
                known[j] = misses(k, counts[j])
            return known[j]

        if at(hi) > least:
            first = hi  # even the largest count misses more than the floor: take it as is
        else:
            while lo < hi:
                mid = (lo + hi) // 2
                if at(mid) <= least:
                    hi = mid
                else:
                    lo = mid + 1
            first = lo
        for j in range(first, top + 1):
            row[j] = known.get(j, least) if j != first else at(j)
        stop = give_up(k)
        last = at(first)
        for j in range(first - 1, -1, -1):
            if last < stop:
                last = at(j)
            row[j] = last
        table.append(row)
    return table
