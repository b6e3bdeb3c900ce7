#!/usr/bin/env python3
"""Benchmark that explains the policy's peak on the public trace (prints figures, asserts nothing): at
the decisions where infercap's recommendation reaches its highest replica count, which term set it
(core.autoscale.up_terms): the lookback's peak, the history's rise within one delay, the queueing
margin (at peakedness 1, what the operator sees), or the straight-line breakout forecast; and how many replicas the
recommendation would be without each of them; and at how many decisions the seasonal forecast planned.

Run: python tests/bench/bench_peak_terms.py
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from bench_synthetic import public_trace_setup  # run as a script: tests/bench is on sys.path

from infercap.core import simulate as sim
from infercap.core.autoscale import Decision, PolicyConfig, Sample, UpTerms, staffed, up_terms


def run(scale: float) -> None:
    setup, arrivals = public_trace_setup(scale)
    cfg = PolicyConfig(
        provisioning_seconds=300.0, seconds_per_request=setup.seconds_per_request, wait_seconds=setup.wait_seconds
    )
    series = sim.demand_series(arrivals)
    seconds = len(series)
    preroll = min(seconds, int(setup.provisioning_seconds + cfg.down_window_seconds + 2 * cfg.trend_window_seconds))
    extended = list(series[seconds - preroll :]) + list(series)
    seen: list[tuple[int, UpTerms, PolicyConfig, Decision]] = []

    def watch(s: int, samples: Sequence[Sample], c: PolicyConfig, d: Decision) -> None:
        if s >= preroll and samples:
            seen.append((s - preroll, up_terms(sorted(samples, key=lambda x: x.t), float(s), c), c, d))

    ctl, n0 = sim.infercap_policy(extended, setup, cfg, preroll, watch)
    out = sim.replay("infercap", sim.requests_of(arrivals, setup), seconds, setup, ctl, n0)
    cap = setup.capacity_per_replica

    def n(x: float) -> int:
        return math.ceil(x / cap - 1e-9)

    top = max(n(u.target) for _, u, _, _ in seen)
    seasonal = sum(1 for _, u, _, _ in seen if u.forecast.period is not None)
    print(
        f"x{scale:g}: infercap peaks at {out.peak_replicas} replicas ({out.attainment:.2%}); {cap:.2f} req/s "
        f"each; the seasonal forecast planned {seasonal} of {len(seen)} decisions"
    )
    for t, u, c, _ in seen:
        if n(u.target) < top:
            continue
        breakout = staffed(u.expected, c)
        by = "breakout" if breakout > u.level else "level"
        print(
            f"  t={t:5d}s {n(u.target):2d} replicas, set by the {by}: base {u.base:.1f} (lookback "
            f"{u.forecast.lookback:.0f} s), rise {u.rise:.1f}, burst {u.burst:.1f} (z {c.peakedness:.1f}), "
            f"level {u.level:.1f}, breakout {u.expected:.1f} -> {breakout:.1f}; without the breakout "
            f"{n(u.level)}, without the burst {n(max(u.base + u.rise, u.expected))}, "
            f"without the rise {n(max(u.base + u.burst, breakout))}"
        )


if __name__ == "__main__":
    for k in (20.0, 5.0):
        run(k)
