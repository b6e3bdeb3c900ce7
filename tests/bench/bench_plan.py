#!/usr/bin/env python3
"""Benchmark of the planner (prints figures, asserts nothing about time).

- one full plan: every catalog accelerator and replica size, with an SLO, median of 200 runs;
  "cold" rebuilds the catalog's caches before each run (a first plan), "warm" reuses them (the
  operator re-planning the same model);
- 10,000 plans with random traffic (rate, lengths, SLO) over six models, one core.

Run: python tests/bench/bench_plan.py
"""

from __future__ import annotations

import random
import statistics
import time

from infercap.api.deployment import ModelDeploymentSpec
from infercap.core.catalog import builtin_catalog, parse_catalog
from infercap.core.planner import plan

SPEC = ModelDeploymentSpec.model_validate(
    {
        "model": "llama-3.1-70b",
        "traffic": {"requestsPerSecond": 40, "inputTokens": 2000, "outputTokens": 400},
        "slo": {"timeToFirstTokenMs": 2000, "outputTokensPerSecondPerStream": 30},
    }
)
MODELS = ["llama-3.1-8b", "llama-3.1-70b", "mixtral-8x7b", "qwen3-235b-a22b", "gpt-oss-120b", "deepseek-r1"]


def fresh_catalog():  # type: ignore[no-untyped-def]
    base = builtin_catalog()
    # Same data, empty caches.
    from infercap.core.catalog import Catalog

    return Catalog(base.models, base.accelerators, base.families, base.overridden, base.kernels)


def main() -> None:
    _ = parse_catalog  # imported for readers: the catalog is parsed once per process
    cold, warm = [], []
    warm_cat = builtin_catalog()
    plan(warm_cat, SPEC)
    for _ in range(200):
        cat = fresh_catalog()
        t = time.perf_counter()
        plan(cat, SPEC)
        cold.append(time.perf_counter() - t)
        t = time.perf_counter()
        plan(warm_cat, SPEC)
        warm.append(time.perf_counter() - t)
    n_acc = len(warm_cat.accelerators)
    print(
        f"one full plan ({n_acc} accelerators, all replica sizes, SLO): median {statistics.median(cold) * 1e3:.2f} ms "
        f"cold, {statistics.median(warm) * 1e3:.2f} ms warm"
    )

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


if __name__ == "__main__":
    main()
