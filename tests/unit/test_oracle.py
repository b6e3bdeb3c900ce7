"""The oracle's dynamic program against brute force on small problems: its schedule fits the miss
budget, its dual bound is never above the true constrained optimum, and its cost model is what the
simulator's per-second accounting charges."""

from __future__ import annotations

import itertools
import math
import os
import random

from hypothesis import given, settings
from hypothesis import strategies as st

from infercap.core.oracle import Problem, schedule_cost, solve

EXAMPLES = int(os.environ.get("INFERCAP_HYPOTHESIS_EXAMPLES", "40"))


def problem(seed: int, steps: int, counts: int, delay: float, budget_share: float) -> Problem:
    rng = random.Random(seed)
    ns = list(range(1, counts + 1))
    chips = [8 * math.ceil(n / 2) for n in ns]  # two replicas a node: node granularity
    misses = []
    for _ in range(steps):
        need = rng.uniform(0, counts + 1)
        # Non-increasing in n: many misses below what the step needs, few or none above it.
        row = [float(max(0, round((need - n) * rng.uniform(1, 6)))) for n in ns]
        for j in range(1, len(row)):
            row[j] = min(row[j], row[j - 1])
        misses.append(row)
    total = sum(r[0] for r in misses)
    return Problem(steps, 15.0, delay, ns, chips, misses, math.floor(budget_share * total))


def brute(p: Problem) -> float:
    best = math.inf
    for idx in itertools.product(range(len(p.counts)), repeat=p.steps):
        if sum(p.misses[k][j] for k, j in enumerate(idx)) <= p.budget:
            best = min(best, schedule_cost(p, idx))
    return best


@settings(max_examples=EXAMPLES, deadline=None)
@given(
    seed=st.integers(0, 100_000),
    steps=st.integers(1, 6),
    counts=st.integers(1, 4),
    delay=st.sampled_from([0.0, 15.0, 60.0, 300.0]),
    share=st.floats(0.0, 0.5),
)
def test_against_brute_force(seed: int, steps: int, counts: int, delay: float, share: float) -> None:
    p = problem(seed, steps, counts, delay, share)
    opt = brute(p)
    sol = solve(p)
    assert sol.lower_bound <= opt + 1e-6, "the dual bound is a bound"
    if math.isfinite(opt):
        assert sol.misses <= p.budget
        assert sol.cost >= opt - 1e-6
        assert sol.cost == schedule_cost(p, [p.counts.index(n) for n in sol.ready])
        if sol.exact:
            assert abs(sol.cost - opt) < 1e-6


def test_often_exact() -> None:
    """The dual closes the gap on most small problems: the returned schedule is the optimum."""
    exact = 0
    for seed in range(60):
        p = problem(seed, 5, 4, 60.0, 0.2)
        opt = brute(p)
        sol = solve(p)
        exact += abs(sol.cost - opt) < 1e-6
    print(f"\nexact on {exact}/60 random problems")
    assert exact >= 40


def test_boot_cost_and_granularity() -> None:
    # Need 3 replicas in step 2 only; with a long boot it is cheaper to hold capacity than to cycle it.
    ns = [1, 2, 3]
    misses = [[0.0, 0.0, 0.0], [9.0, 9.0, 0.0], [0.0, 0.0, 0.0], [9.0, 9.0, 0.0]]
    chips = [1, 2, 3]
    quick = solve(Problem(4, 10.0, 0.0, ns, chips, misses, 0))
    assert quick.ready == [1, 3, 1, 3]
    slow = solve(Problem(4, 10.0, 100.0, ns, chips, misses, 0))
    assert slow.ready[1:] == [3, 3, 3], "releasing for one step costs a boot of 100 s"
    # Before the trace started nothing was paid: a boot at step 1 is paid for its first 10 s only.
    assert slow.cost == 1 * 10 + 3 * 30 + 2 * 10
