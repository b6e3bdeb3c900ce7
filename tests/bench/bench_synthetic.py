#!/usr/bin/env python3
"""Benchmark of the autoscaling policy away from the public trace (prints figures, asserts nothing).

1. Synthetic traces over 40 minutes (Poisson arrivals of 100-token requests, 60 s provisioning delay,
   replicas of 10 slots at 5 req/s, the engine admitting 10): a compressed diurnal cycle, a one-hour-period
   cycle, square bursts, a one-minute spike every ten minutes, a ramp. Each policy's cost as a ratio to
   the oracle and its SLO attainment, and infercap's without its seasonal forecast, without its error
   budget, and with its queueing margin sized for no waiting (no TTFT budget).
2. On the public trace at 20x: a simple causal controller that holds the peak of the last W minutes of
   the one-minute rate with the policy's queueing margin (peakedness 1; no growth hedge, cold start),
   for W = 5, 10 and 15: what holding past peaks costs and attains there, next to the oracle.
3. On the public trace at 10x and 40x (300 s delay) and at 20x with a 120 s delay: infercap with and
   without its error budget, as a ratio to static-feasible's cost.

Run: python tests/bench/bench_synthetic.py
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path

from infercap import traces
from infercap.api.deployment import ModelDeploymentSpec
from infercap.cli.commands import builtin_catalog
from infercap.core import simulate as sim
from infercap.core.autoscale import PolicyConfig, staffed
from infercap.core.latency import LatencySlo, Observation, ServiceModel
from infercap.traces import poisson

ROOT = Path(__file__).resolve().parents[2]
TRACE = ROOT / "data" / "traces" / "AzureLLMInferenceTrace_code.csv"

SHAPES: dict[str, Callable[[float], float]] = {
    "diurnal (20 min period)": lambda t: 40 * (1 + 0.6 * math.sin(2 * math.pi * t / 1200)),
    "diurnal (1 h period)": lambda t: 40 * (1 + 0.6 * math.sin(2 * math.pi * t / 3600)),
    "square bursts (3x, 150 s in 450 s)": lambda t: 20 * (3 if int(t // 150) % 3 == 1 else 1),
    "spike (4x, 1 min in 10)": lambda t: 20 * (4 if int(t // 60) % 10 == 3 else 1),
    "ramp": lambda t: 10 + 60 * t / 2400,
}


def synthetic_setup() -> sim.Setup:
    # The engine admits the SLO batch (10), as infercap renders it; a request may wait 2 s - 0.12 s.
    service = ServiceModel(tuple(0.01 + 0.001 * max(1, b) for b in range(11)), 10, 40)
    return sim.Setup(
        capacity_per_replica=10 / 2.0,
        service=service,
        slo=LatencySlo(2.0, 50.0),
        prefill_seconds=lambda _: 0.1,
        chips_for=lambda n: 2 * n,
        price_per_chip_hour=Decimal(3600),
        headroom=0.2,
        seconds_per_request=2.0,
        wait_seconds=2.0 - 0.12,
        provisioning_seconds=60,
    )


def infercap_only(arrivals: list[tuple[float, int, int]], setup: sim.Setup, cfg: PolicyConfig) -> sim.Outcome:
    """infercap's policy alone, replayed as sim.simulate replays it (same warm start)."""
    requests = sim.requests_of(arrivals, setup)
    series = sim.demand_series(arrivals)
    seconds = len(series)
    preroll = min(seconds, int(setup.provisioning_seconds + cfg.down_window_seconds + 2 * cfg.trend_window_seconds))
    ctl, n0 = sim.infercap_policy(list(series[seconds - preroll :]) + list(series), setup, cfg, preroll)
    return sim.replay("infercap", requests, seconds, setup, ctl, n0)


def synthetic() -> None:
    setup = synthetic_setup()
    cfg = PolicyConfig(
        provisioning_seconds=60,
        scale_down_stabilization_seconds=120,
        seconds_per_request=2.0,
        wait_seconds=setup.wait_seconds,
    )
    for name, shape in SHAPES.items():
        arrivals = poisson(shape, 2400, seed=5, output_tokens=100)
        o = {x.name: x for x in sim.simulate(arrivals, setup, cfg)}
        # The same policy without the seasonal forecast, and without the error budget (what they change).
        plain = infercap_only(arrivals, setup, dataclasses.replace(cfg, seasonal=False))
        unbudgeted = infercap_only(arrivals, setup, dataclasses.replace(cfg, miss_budget=False))
        # The margin sized for no waiting (the delay probability alone), as before the TTFT budget.
        nowait = infercap_only(arrivals, setup, dataclasses.replace(cfg, wait_seconds=0.0))
        oracle = o["oracle"]
        print(f"{name}:")
        rows = [*o.items(), ("  no seasonal", plain), ("  no error budget", unbudgeted), ("  no wait budget", nowait)]
        for k, v in rows:
            print(f"  {k:18s} {float(v.cost / oracle.cost):5.2f}x the oracle at {v.attainment:7.2%}")


def public_trace_setup(scale: float) -> tuple[sim.Setup, list[tuple[float, int, int]]]:
    """The public trace at `scale` x its rate, and the simulator's setup for llama-3.1-70b on it (the
    ModelDeployment `infercap simulate` derives from the trace)."""
    requests = traces.scale_rate(traces.load(TRACE), scale)
    duration = max(1.0, requests[-1].t)
    spec = ModelDeploymentSpec.model_validate(
        {
            "model": "llama-3.1-70b",
            "accelerators": ["h100", "h200"],
            "traffic": {
                "requestsPerSecond": f"{len(requests) / duration:.6f}",
                "inputTokens": round(sum(r.input_tokens for r in requests) / len(requests)),
                "outputTokens": max(1, round(sum(r.output_tokens for r in requests) / len(requests))),
            },
            "slo": {"outputTokensPerSecondPerStream": "20"},
        }
    )
    setup, _ = sim.plan_setup(builtin_catalog(), spec, 300.0, 0.995, 2.0)
    return setup, [(r.t, r.input_tokens, r.output_tokens) for r in requests]


def rolling_peak() -> None:
    setup, arrivals = public_trace_setup(20)
    reqs = sim.requests_of(arrivals, setup)
    series = sim.demand_series(arrivals)
    rates = sim.rate_series(series, 60)
    cfg = PolicyConfig(
        provisioning_seconds=300.0, seconds_per_request=setup.seconds_per_request, wait_seconds=setup.wait_seconds
    )
    oracle = sim.oracle(reqs, len(series), setup)
    print(f"public trace at 20x: oracle {oracle.cost} at {oracle.attainment:.2%}")
    for minutes in (5, 10, 15):
        w = 60 * minutes

        def controller(s: int, _: Observation, w: int = w) -> int:
            peak = max(rates[max(0, s - w) : s + 1])
            planned = staffed(peak, cfg)  # peakedness 1, as the policy sees it
            return max(1, math.ceil(planned / setup.capacity_per_replica))

        out = sim.replay(
            f"peak of {minutes} min", reqs, len(series), setup, controller, controller(0, Observation(0, 0, 0))
        )
        print(
            f"  hold the peak of the last {minutes:2d} min: "
            f"{float(out.cost / oracle.cost):.2f}x at {out.attainment:.2%}"
        )


def other_rates() -> None:
    """The public trace at rates and delays the README's tables do not show: infercap with and without
    the error budget against static-feasible (no oracle: its DP is the slow part)."""
    for scale, delay in ((10.0, 300.0), (40.0, 300.0), (20.0, 120.0)):
        setup, arrivals = public_trace_setup(scale)
        setup = dataclasses.replace(setup, provisioning_seconds=delay)
        requests = sim.requests_of(arrivals, setup)
        feasible = sim.static_feasible(requests, sim.demand_series(arrivals), setup)
        cfg = PolicyConfig(
            provisioning_seconds=delay, seconds_per_request=setup.seconds_per_request, wait_seconds=setup.wait_seconds
        )
        line = f"public trace x{scale:g}, {delay:.0f} s delay: static-feasible at {feasible.attainment:.2%}"
        for label, c in (("infercap", cfg), ("no error budget", dataclasses.replace(cfg, miss_budget=False))):
            out = infercap_only(arrivals, setup, c)
            line += f"; {label} {float(out.cost / feasible.cost):.3f}x it at {out.attainment:.2%}"
        print(line)


if __name__ == "__main__":
    synthetic()
    rolling_peak()
    other_rates()
