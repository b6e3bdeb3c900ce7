#!/usr/bin/env python3
"""Benchmark of the autoscaling policy on random bursty traces (prints figures, asserts nothing): the
traces it will be judged on are not in the repository, so its rules are checked on traces no rule was
chosen on. Each trace: 40 minutes of Poisson arrivals of 100-token requests on a base rate of 10 to 40
req/s with a slow cycle (10 to 60 minutes, up to +-60 %) and bursts of 0.5x to 4.5x the base, lasting
30 s to 4 min on average with gaps of 1 to 15 minutes (exponential). Replicas as in bench_synthetic
(10 slots at 5 req/s, the engine admitting 10, a 1.88 s TTFT budget), a 60 s and a 300 s provisioning
delay, 12 seeds each. Per trace: cost / the oracle's and attainment for infercap, static-peak,
static-feasible (chosen in hindsight) and the HPA; then how often each reached the target.

Run: python tests/bench/bench_random.py [SEEDS]
"""

from __future__ import annotations

import dataclasses
import math
import random
import sys
from collections.abc import Callable
from statistics import median

from bench_synthetic import synthetic_setup  # run as a script: tests/bench is on sys.path

from infercap.core import simulate as sim
from infercap.core.autoscale import PolicyConfig
from infercap.traces import poisson

SECONDS = 2400
SHOWN = ("infercap", "static-peak", "static-feasible", "reactive-hpa")


def bursty(seed: int) -> Callable[[float], float]:
    """The demand (req/s) of trace `seed`: base x slow cycle x (1 + the bursts on at t)."""
    rng = random.Random(seed)
    base, amp = rng.uniform(10, 40), rng.uniform(0.5, 3.0)
    on, off = rng.uniform(30, 240), rng.uniform(60, 900)
    period, wave = rng.uniform(600, 3600), rng.uniform(0, 0.6)
    bursts: list[tuple[float, float, float]] = []
    t = rng.uniform(0, off)
    while t < SECONDS:
        d = rng.expovariate(1 / on)
        bursts.append((t, t + d, rng.uniform(0.5, 1.5) * amp))
        t += d + rng.expovariate(1 / off)

    def demand(x: float) -> float:
        b = sum(a for s, e, a in bursts if s <= x < e)
        return base * (1 + wave * math.sin(2 * math.pi * x / period)) * (1 + b)

    return demand


def main(seeds: int) -> None:
    for delay in (60, 300):
        setup = dataclasses.replace(synthetic_setup(), provisioning_seconds=delay)
        cfg = PolicyConfig(
            provisioning_seconds=delay,
            scale_down_stabilization_seconds=120,
            seconds_per_request=setup.seconds_per_request,
            wait_seconds=setup.wait_seconds,
        )
        reached: dict[str, int] = dict.fromkeys(SHOWN, 0)
        ratios: dict[str, list[float]] = {k: [] for k in SHOWN}
        attained: dict[str, list[float]] = {k: [] for k in SHOWN}
        print(f"provisioning delay {delay} s:")
        for seed in range(seeds):
            arrivals = poisson(bursty(seed), SECONDS, seed=seed, output_tokens=100)
            o = {x.name: x for x in sim.simulate(arrivals, setup, cfg)}
            oracle = o["oracle"]
            cells = []
            for k in SHOWN:
                r = float(o[k].cost / oracle.cost)
                ratios[k].append(r)
                attained[k].append(o[k].attainment)
                reached[k] += o[k].attainment >= setup.target_attainment
                cells.append(f"{k} {r:.2f}x {o[k].attainment:7.2%}")
            print(f"  seed {seed:2d}: " + "; ".join(cells) + f"; oracle {oracle.attainment:.2%}")
        for k in SHOWN:
            print(
                f"  {k:16s} reached {setup.target_attainment:.1%} on {reached[k]:2d} of {seeds}; median "
                f"{median(ratios[k]):.2f}x the oracle at {median(attained[k]):.2%}"
            )


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 12)
