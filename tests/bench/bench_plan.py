#!/usr/bin/env python3
"""Benchmark of the planner (prints figures, asserts nothing about time).

- one full plan: every catalog accelerator and replica size, with an SLO; "cold" rebuilds the catalog's
  caches before each run (a first plan), "warm" reuses them (the operator re-planning the same model).
  Median and p95 of CPU time (time.process_time: what the plan costs, less sensitive to a busy VM) and
  of wall time;
- 10,000 plans with random traffic (rate, lengths, SLO) over six models, one core.

`--against DIR` measures the one-plan figures of this code and of the code importable from DIR (e.g.
`git archive main operator | tar -x -C /tmp/main`, then `--against /tmp/main/operator`) in alternating
subprocesses, so both see the same noise.

Run: python tests/bench/bench_plan.py [--plan-only] [--runs N] [--against DIR]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import subprocess
import sys
import time

from infercap.api.deployment import ModelDeploymentSpec
from infercap.core.catalog import Catalog, builtin_catalog
from infercap.core.planner import plan

SPEC = ModelDeploymentSpec.model_validate(
    {
        "model": "llama-3.1-70b",
        "traffic": {"requestsPerSecond": 40, "inputTokens": 2000, "outputTokens": 400},
        "slo": {"timeToFirstTokenMs": 2000, "outputTokensPerSecondPerStream": 30},
    }
)
MODELS = ["llama-3.1-8b", "llama-3.1-70b", "mixtral-8x7b", "qwen3-235b-a22b", "gpt-oss-120b", "deepseek-r1"]
TIMERS = {"cpu": time.process_time, "wall": time.perf_counter}


def fresh_catalog() -> Catalog:
    """The built-in catalog's data (parsed once per process) with empty caches."""
    base = builtin_catalog()
    return Catalog(base.models, base.accelerators, base.families, base.overridden, base.kernels)


def samples(runs: int) -> dict[str, list[float]]:
    """Seconds of `runs` cold and warm plans, by 'cold cpu', 'cold wall', 'warm cpu', 'warm wall'."""
    out: dict[str, list[float]] = {f"{k} {t}": [] for k in ("cold", "warm") for t in TIMERS}
    warm_cat = builtin_catalog()
    plan(warm_cat, SPEC)
    for _ in range(runs):
        for kind in ("cold", "warm"):
            cat = fresh_catalog() if kind == "cold" else warm_cat
            c, w = time.process_time(), time.perf_counter()
            plan(cat, SPEC)
            out[f"{kind} wall"].append(time.perf_counter() - w)
            out[f"{kind} cpu"].append(time.process_time() - c)
    return out


def p95(xs: list[float]) -> float:
    return statistics.quantiles(xs, n=20)[-1]


def summary(s: dict[str, list[float]]) -> str:
    return "; ".join(
        f"{kind}: median {statistics.median(s[f'{kind} cpu']) * 1e3:.2f} ms CPU "
        f"({statistics.median(s[f'{kind} wall']) * 1e3:.2f} wall), p95 {p95(s[f'{kind} cpu']) * 1e3:.2f} CPU "
        f"({p95(s[f'{kind} wall']) * 1e3:.2f} wall)"
        for kind in ("cold", "warm")
    )


def against(ref: str, runs: int, rounds: int) -> None:
    """Alternate this code and the reference in subprocesses of `runs` plans each, `rounds` times."""
    merged: dict[str, dict[str, list[float]]] = {"this": {}, "reference": {}}
    for _ in range(rounds):
        for who in ("this", "reference"):
            env = dict(os.environ)
            if who == "reference":
                env["PYTHONPATH"] = ref + os.pathsep + env.get("PYTHONPATH", "")
            res = subprocess.run(
                [sys.executable, __file__, "--worker", str(runs)], env=env, capture_output=True, text=True, check=True
            )
            for k, v in json.loads(res.stdout).items():
                merged[who].setdefault(k, []).extend(v)
    for who in ("this", "reference"):
        print(f"{who:>9} ({rounds} x {runs} plans): {summary(merged[who])}")


def random_plans() -> None:
    rng = random.Random(7)
    specs = []
    for _ in range(10_000):
        slo = {"outputTokensPerSecondPerStream": rng.choice([10, 20, 30, 50])} if rng.random() < 0.5 else {}
        specs.append(
            ModelDeploymentSpec.model_validate(
                {
                    "model": rng.choice(MODELS),
                    "traffic": {
                        "requestsPerSecond": f"{rng.uniform(0.5, 200):.2f}",
                        "inputTokens": rng.randint(100, 8000),
                        "outputTokens": rng.randint(50, 2000),
                    },
                    "slo": slo,
                }
            )
        )
    cat = builtin_catalog()
    t = time.perf_counter()
    failures = 0
    for s in specs:
        try:
            plan(cat, s)
        except Exception:
            failures += 1
    total = time.perf_counter() - t
    print(
        f"10,000 plans (random traffic, 6 models): {total:.2f} s total, {total / 10:.3f} ms per plan "
        f"({failures} without a feasible plan)"
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--runs", type=int, default=300, help="one-plan runs (per round with --against)")
    ap.add_argument("--plan-only", action="store_true", help="skip the 10,000 random plans")
    ap.add_argument("--against", metavar="DIR", help="PYTHONPATH of reference code to alternate with")
    ap.add_argument("--rounds", type=int, default=6, help="alternations with --against")
    ap.add_argument("--worker", type=int, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.worker:
        print(json.dumps(samples(args.worker)))
        return
    if args.against:
        against(args.against, args.runs, args.rounds)
        return
    n_acc = len(builtin_catalog().accelerators)
    load = os.getloadavg()[0]
    print(
        f"one full plan ({n_acc} accelerators, all replica sizes, SLO; {args.runs} runs, load {load:.1f}): "
        + summary(samples(args.runs))
    )
    if not args.plan_only:
        random_plans()


if __name__ == "__main__":
    main()
