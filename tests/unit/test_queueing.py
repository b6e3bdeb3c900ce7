"""The waiting-time model of the policy's queueing margin: exact Erlang C for Poisson arrivals, the
inverse that sizes the slots, and the latency pool it stands for (Poisson arrivals, exponential
decodes on a replica set at its admission cap)."""

from __future__ import annotations

import math
import os
import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from infercap.core.latency import Requests, ServiceModel, serve
from infercap.core.queueing import slots_for, wait_tail

EXAMPLES = int(os.environ.get("INFERCAP_HYPOTHESIS_EXAMPLES", "100"))


def erlang_c(c: int, a: float) -> float:
    b = 1.0
    for k in range(1, c + 1):
        b = a * b / (k + a * b)
    return c * b / (c - a * (1 - b))


@pytest.mark.parametrize(("c", "a"), [(1, 0.5), (20, 16.0), (50, 30.0), (100, 90.0), (400, 380.0)])
def test_poisson_tail_is_erlang_c(c: int, a: float) -> None:
    assert wait_tail(c, a, 1.0, 0.0) == pytest.approx(erlang_c(c, a), rel=1e-9)
    # The conditional wait of M/M/c is exponential with rate (c - a) / S.
    assert wait_tail(c, a, 1.0, 0.7) == pytest.approx(erlang_c(c, a) * math.exp(-(c - a) * 0.7), rel=1e-9)


def test_overload_waits_without_bound() -> None:
    assert wait_tail(10, 10.0, 1.0, 5.0) == 1.0 and wait_tail(10, 12.0, 3.0, 5.0) == 1.0
    assert wait_tail(10, 0.0, 1.0, 0.0) == 0.0 and slots_for(0.0, 1.0, 0.005, 1.0) == 0.0


@settings(max_examples=EXAMPLES, deadline=None)
@given(
    load=st.floats(0.05, 3000),
    z=st.floats(1, 20),
    miss=st.floats(1e-4, 0.2),
    wait=st.floats(0, 5),
)
def test_property_slots_for_inverts_the_tail(load: float, z: float, miss: float, wait: float) -> None:
    c = slots_for(load, z, miss, wait)
    assert c > load
    assert wait_tail(c, load, z, wait) == pytest.approx(miss, rel=1e-6)
    assert wait_tail(c * 0.999, load, z, wait) >= miss * (1 - 1e-9)
    # Monotone in every input: more waiting allowed, fewer slots; burstier, more; a looser target, fewer.
    assert slots_for(load, z, miss, wait + 0.5) <= c + 1e-9
    assert slots_for(load, z + 1, miss, wait) >= c - 1e-9
    assert slots_for(load, z, min(0.5, miss * 2), wait) <= c + 1e-9


def test_the_margin_shrinks_with_the_fleet_and_the_ttft_budget() -> None:
    # At 0.5 %: with no waiting the margin is about 2.6 sqrt(a) (square-root staffing on the delay
    # probability); a wait of one holding time brings it far below, and it shrinks as a share of a.
    for a in (30.0, 200.0, 2000.0):
        assert 2.2 * math.sqrt(a) < slots_for(a, 1.0, 0.005, 0.0) - a < 3.2 * math.sqrt(a)
        assert slots_for(a, 1.0, 0.005, 1.0) - a < 0.6 * (slots_for(a, 1.0, 0.005, 0.0) - a)
    shares = [(slots_for(a, 1.0, 0.005, 1.0) - a) / a for a in (30.0, 200.0, 2000.0)]
    assert shares == sorted(shares, reverse=True)


def test_the_latency_pool_waits_no_longer_than_the_model_says() -> None:
    """Poisson arrivals at 16 req/s on 2 replicas admitting 10 streams each (20 slots), decodes of
    geometric length (mean 50 tokens at a constant 20 ms: S = 1 s, about exponential): the pool's
    share of requests waiting beyond t is within the model's (Erlang C) and not far below it."""
    rng = random.Random(1)
    times, tokens, t = [], [], 0.0
    for _ in range(40_000):
        t += rng.expovariate(16.0)
        times.append(t)
        tokens.append(max(1, round(rng.expovariate(1 / 50))))
    hold = sum(tokens) / len(tokens) * 0.02
    pool = serve(Requests(times, tokens, [0.0] * len(times)), ServiceModel((0.02,) * 11, 10, 40), [2] * int(t + 2))
    waits = [x - 0.02 for x in pool.ttft[2000:]]
    for w in (0.0, 0.1, 0.3):
        seen = sum(x > w + 1e-9 for x in waits) / len(waits)
        model = wait_tail(20, 16.0 * hold, 1.0, w / hold)
        assert 0.5 * model < seen <= model * 1.05, (w, seen, model)
