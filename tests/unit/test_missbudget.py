"""The autoscaling policy's error budget: the miss estimate, the decayed account, the allowance it
leaves, and the policy spending it (plans no more than without it, less once a quiet hour is spent)."""

from __future__ import annotations

import math
import random

import pytest

from infercap.core import missbudget
from infercap.core.autoscale import PolicyConfig, Sample, State, decide
from infercap.core.missbudget import Budget, allowance, miss_share, update


def test_miss_share_falls_with_capacity() -> None:
    shares = [miss_share(c, 100.0, 2.0, 4.0) for c in (80, 100, 110, 120, 150, 200)]
    assert shares == sorted(shares, reverse=True)
    assert shares[0] == shares[1] == 1.0  # capacity at or below the mean: the queue grows without bound
    assert shares[-1] < 1e-6
    # More peaked arrivals miss more at the same capacity; a longer TTFT budget to wait in, fewer.
    assert miss_share(150, 100.0, 2.0, 8.0) > miss_share(150, 100.0, 2.0, 1.0)
    assert miss_share(110, 100.0, 2.0, 4.0, wait_seconds=1.0) < miss_share(110, 100.0, 2.0, 4.0)
    # Without a slot time: the fluid shortfall.
    assert miss_share(80, 100.0, None, 1.0) == pytest.approx(0.2)
    assert miss_share(120, 100.0, None, 1.0) == 0.0
    assert miss_share(10, 0.0, 2.0, 1.0) == 0.0


def test_account_decays_and_takes_a_measured_sli() -> None:
    b = update(None, 0.0, 10.0, 100.0, 3600.0, 2.0, 1.0)
    assert (b.requests, b.misses) == (0.0, 0.0)
    b = update(b, 60.0, 10.0, None, 3600.0, 2.0, 1.0)  # no capacity planned yet: nothing missed
    assert b.requests == pytest.approx(600.0) and b.misses == 0.0
    b = update(b, 120.0, 10.0, 5.0, 3600.0, None, 1.0)  # half the demand above capacity
    assert b.requests == pytest.approx(600 * math.exp(-60 / 3600) + 600)
    assert b.misses == pytest.approx(300.0)
    m = update(b, 180.0, 10.0, 5.0, 3600.0, None, 1.0, measured=(500.0, 2.0))  # the SLI replaces the estimate
    assert m.misses == pytest.approx(300 * math.exp(-60 / 3600) + 2)
    assert m.requests == pytest.approx(b.requests * math.exp(-60 / 3600) + 500)


def test_allowance_spends_what_the_window_left() -> None:
    target, window = 0.995, 3600.0
    b = 1 - target
    assert allowance(None, 0.0, target, window) == pytest.approx(b)
    clean = Budget(0.0, 3600.0, 10_000.0, 0.0)
    assert allowance(clean, 3600.0, target, window) == pytest.approx(2 * b)  # a full quiet window: twice
    assert allowance(clean, 3600.0, target, window, ceiling=4.0) == pytest.approx(4 * b)
    early = Budget(0.0, 360.0, 1_000.0, 0.0)
    assert allowance(early, 360.0, target, window) == pytest.approx(1.1 * b)  # a tenth seen: a tenth of it
    spent = Budget(0.0, 3600.0, 10_000.0, 10_000.0 * b)
    assert allowance(spent, 3600.0, target, window) == pytest.approx(b)
    over = Budget(0.0, 3600.0, 10_000.0, 10_000.0 * 3 * b)
    assert allowance(over, 3600.0, target, window) == pytest.approx(b)  # the policy's floor: the target's
    assert allowance(over, 3600.0, target, window, floor=0.25) == pytest.approx(0.25 * b)
    # A miss early in the window counts against the whole window's budget, not its first minutes'.
    first = Budget(0.0, 600.0, 1_000.0, 2.0)  # 0.2 % of the requests seen, 1/6 of the window
    assert b < allowance(first, 600.0, target, window) < 2 * b


def _noisy_hour(seed: int) -> list[float]:
    rng = random.Random(seed)
    return [max(0.0, 50 + 10 * math.sin(i / 20) + rng.gauss(0, 3)) for i in range(300)]


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_policy_spends_an_unspent_budget(seed: int) -> None:
    """With no misses measured the plan is lower on average and after a quiet hour than without the
    budget (not at every step: a lower plan crosses the scale-down hysteresis at other moments); with
    misses beyond the budget it is the same (the floor) once they have spent it."""
    series = _noisy_hour(seed)
    cfg = PolicyConfig(seconds_per_request=2.0, peakedness=2.0)
    runs: dict[str, list[float]] = {}
    for name, c, sli in (
        ("off", PolicyConfig(seconds_per_request=2.0, peakedness=2.0, miss_budget=False), None),
        ("clean", cfg, 0.0),
        ("burnt", cfg, 0.5),
    ):
        samples: list[Sample] = []
        state = State()
        planned = []
        for i, d in enumerate(series):
            t = 15.0 * i
            samples.append(Sample(t, d))
            dec = decide(samples, t, state, c, None if sli is None else (15 * d, sli * 15 * d))
            state = dec.state
            planned.append(dec.planned)
        runs[name] = planned
    assert sum(runs["clean"]) < sum(runs["off"])
    assert runs["clean"][-1] < runs["off"][-1]
    # Misses at half the requests spend the whole window's budget within its first percent (36 s).
    assert runs["burnt"][3:] == pytest.approx(runs["off"][3:])
    assert state.budget is not None and state.budget.allowance == pytest.approx(
        missbudget.allowance(state.budget, 15.0 * (len(series) - 1), 0.995, cfg.growth_history_seconds)
    )


def test_a_gap_in_the_decisions_reopens_the_account() -> None:
    """After a restart or an outage longer than the stale limit, what was served is unknown: the account
    starts again (margins for the target) rather than counting the gap as served without misses."""
    cfg = PolicyConfig(seconds_per_request=2.0)
    old = Budget(0.0, 3600.0, 10_000.0, 0.0)
    samples = [Sample(7000.0 + 15 * i, 50.0) for i in range(5)]
    d = decide(samples, 7060.0, State(planned=80.0, budget=old), cfg, (750.0, 0.0))
    assert d.state.budget is not None and d.state.budget.since == 7060.0
    assert d.state.budget.allowance == pytest.approx(0.005)
    recent = [Sample(3550.0 + 15 * i, 50.0) for i in range(5)]
    kept = decide(recent, 3610.0, State(planned=80.0, budget=old), cfg, (500.0, 0.0))
    assert kept.state.budget is not None and kept.state.budget.since == 0.0  # 10 s later: the same account
    assert kept.state.budget.allowance == pytest.approx(0.01)
