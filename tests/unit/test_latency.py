"""The request-level latency model: one request alone, queueing at the admission cap, slow streams on a
hot replica, and the monotonicity the oracle's lower bound rests on (checked on random schedules)."""

from __future__ import annotations

import os
import random

from hypothesis import given, settings
from hypothesis import strategies as st

from infercap.core.latency import LatencySlo, Requests, ServiceModel, misses_alone, serve

# Step time 10 ms + 1 ms per stream in the batch, at most 8 streams per replica.
MODEL = ServiceModel(tuple(0.010 + 0.001 * max(1, b) for b in range(9)), 8, 16)
SLO = LatencySlo(0.5, 60.0)  # 60 tokens/s holds up to a batch of 6
EXAMPLES = int(os.environ.get("INFERCAP_HYPOTHESIS_EXAMPLES", "40"))


def reqs(times: list[float], tokens: int = 20, prefill: float = 0.05) -> Requests:
    times = sorted(times)
    return Requests(times, [tokens] * len(times), [prefill] * len(times))


def test_one_request_alone() -> None:
    pool = serve(reqs([0.5]), MODEL, [1, 1, 1])
    assert abs(pool.ttft[0] - (0.05 + 0.011)) < 1e-12
    assert abs(pool.speed[0] - 1 / 0.011) < 1e-6


def test_a_full_replica_queues_and_a_hot_one_is_slow() -> None:
    # 16 requests at once on one replica of 8 slots: 8 run at batch 8 (18 ms a token), 8 wait.
    pool = serve(reqs([0.0] * 16), MODEL, [1] * 5)
    running = [i for i in range(16) if pool.ttft[i] < 0.1]
    waited = [i for i in range(16) if pool.ttft[i] >= 0.1]
    assert len(running) == 8 and len(waited) == 8
    assert all(abs(pool.speed[i] - 1 / 0.018) < 1e-6 for i in running), "batch 8: 18 ms per token"
    assert not SLO.met(pool.ttft[running[0]], pool.speed[running[0]]), "too slow for 60 tokens/s"
    # The second wave waits for the first to finish: 20 tokens x 18 ms.
    assert all(pool.ttft[i] >= 20 * 0.018 for i in waited)
    # Two replicas hold all 16 at once (a batch of 8 each): nobody waits.
    two = serve(reqs([0.0] * 16), MODEL, [2] * 5)
    assert max(two.ttft) < 0.1


def _arrivals(seed: int, n: int, span: float) -> list[float]:
    rng = random.Random(seed)
    return sorted(rng.uniform(0, span) for _ in range(n))


@settings(max_examples=EXAMPLES, deadline=None)
@given(
    seed=st.integers(0, 10_000),
    n=st.integers(1, 300),
    schedule=st.lists(st.integers(1, 4), min_size=4, max_size=12),
    extra=st.lists(st.integers(0, 2), min_size=12, max_size=12),
)
def test_property_more_replicas_never_hurt(seed: int, n: int, schedule: list[int], extra: list[int]) -> None:
    r = reqs(_arrivals(seed, n, len(schedule) * 1.0), tokens=30)
    low = serve(r, MODEL, schedule)
    high = serve(r, MODEL, [a + b for a, b in zip(schedule, extra, strict=False)])
    missed_low = sum(1 for i in range(n) if not SLO.met(low.ttft[i], low.speed[i]))
    missed_high = sum(1 for i in range(n) if not SLO.met(high.ttft[i], high.speed[i]))
    assert missed_high <= missed_low


@settings(max_examples=EXAMPLES, deadline=None)
@given(
    seed=st.integers(0, 10_000),
    n=st.integers(1, 400),
    schedule=st.lists(st.integers(1, 4), min_size=2, max_size=8),
)
def test_property_the_relaxation_never_overcounts(seed: int, n: int, schedule: list[int]) -> None:
    """Misses of each 2-second step served alone (empty start, free tail) sum to at most the misses of
    the schedule served as a whole: the oracle's bound holds."""
    dt = 2.0
    r = reqs(_arrivals(seed, n, len(schedule) * dt), tokens=30)
    per_second = [x for x in schedule for _ in range(int(dt))]
    pool = serve(r, MODEL, per_second)
    actual = sum(1 for i in range(n) if not SLO.met(pool.ttft[i], pool.speed[i]))
    relaxed = 0
    lo = 0
    for k, x in enumerate(schedule):
        hi = lo
        while hi < n and r.arrival[hi] < (k + 1) * dt:
            hi += 1
        relaxed += misses_alone(r, lo, hi, k * dt, (k + 1) * dt, x, MODEL, SLO)
        lo = hi
    assert relaxed <= actual
