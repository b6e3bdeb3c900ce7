#!/usr/bin/env python3
"""Benchmark of where the policy's cost above the oracle comes from (prints figures, asserts nothing).

On the public trace at 5x and 20x (300 s delay), next to the policy: a controller that knows the
future of the one-minute rate one provisioning delay ahead (and one minute more, as the samples lag),
and plans the policy's queueing margin (peakedness 1) on its peak times 1.0, 1.1 and 1.2; otherwise it
pays what every policy pays (the delay, node granularity, immediate removal). It is not causal: the
difference between it and the policy is what not knowing the next delay's demand costs, and the
difference between it and the oracle is what a margin on one-minute rates (sub-minute bursts, the
schedule's granularity) costs even with that knowledge.

Run: python tests/bench/bench_foresight.py
"""

from __future__ import annotations

import math

from bench_synthetic import infercap_only, public_trace_setup  # run as a script: tests/bench is on sys.path

from infercap.core import simulate as sim
from infercap.core.autoscale import PolicyConfig, staffed
from infercap.core.latency import Observation


def run(scale: float) -> None:
    setup, arrivals = public_trace_setup(scale)
    requests = sim.requests_of(arrivals, setup)
    series = sim.demand_series(arrivals)
    rates = sim.rate_series(series, setup.rate_window_seconds)
    delay = int(setup.provisioning_seconds)
    lag = int(setup.rate_window_seconds) + int(setup.sync_seconds)
    cfg = PolicyConfig(
        provisioning_seconds=setup.provisioning_seconds,
        seconds_per_request=setup.seconds_per_request,
        wait_seconds=setup.wait_seconds,
    )
    oracle = sim.oracle(requests, len(series), setup)
    policy = infercap_only(arrivals, setup, cfg)
    print(f"public trace x{scale:g}: oracle {oracle.cost} at {oracle.attainment:.2%}")
    ratio = float(policy.cost / oracle.cost)
    print(f"  infercap (causal)                          {ratio:.2f}x at {policy.attainment:.2%}")
    for factor in (1.0, 1.1, 1.2):

        def controller(s: int, _: Observation | None = None, factor: float = factor) -> int:
            # Removal is immediate and a request waits for capacity asked for a delay earlier: the plan
            # at s must cover the demand from s to s + delay and the minute the rates lag by.
            peak = max(rates[s : min(len(rates), s + delay + lag)])
            planned = staffed(peak * factor, cfg)
            return max(setup.min_replicas, math.ceil(planned / setup.capacity_per_replica))

        out = sim.replay("foresight", requests, len(series), setup, controller, controller(0))
        print(
            f"  knowing the next delay, its peak x {factor:.1f}      "
            f"{float(out.cost / oracle.cost):.2f}x at {out.attainment:.2%}"
        )


if __name__ == "__main__":
    for k in (5.0, 20.0):
        run(k)
