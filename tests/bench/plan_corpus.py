#!/usr/bin/env python3
"""Golden corpus of plans: every example ModelDeployment plus seeded random specs, each planned and written
at full float precision (every option's step breakdown, memory, placement, cost, the explanation and the
report's plan dict), so a speed change can be checked to leave every plan byte-identical.

    python tests/bench/plan_corpus.py --write /tmp/golden.json   # with the reference code importable
    python tests/bench/plan_corpus.py --check /tmp/golden.json   # with the changed code

Plans are made twice, on a fresh catalog and on one shared by the whole corpus (warm caches), and both
must agree: a cache keyed by less than it depends on shows up as a difference.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import json
import random
import sys
from pathlib import Path
from typing import Any

import yaml

from infercap.api.catalog import ModelProfileSpec
from infercap.api.deployment import ModelDeploymentSpec
from infercap.core.catalog import Catalog, builtin_catalog
from infercap.core.errors import PlanError
from infercap.core.planner import Option, Plan, plan
from infercap.core.report import plan_dict

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def fresh(cat: Catalog) -> Catalog:
    """The same data with empty caches."""
    return Catalog(cat.models, cat.accelerators, cat.families, cat.overridden, cat.kernels)


def _option(o: Option) -> dict[str, Any]:
    est, pl = o.estimate, o.placement
    perf = est.performance
    assert perf is not None
    st = perf.step
    return {
        "acc": o.accelerator.id,
        "chips": est.chips,
        "source": str(est.source),
        "placement": [pl.chips_per_replica, pl.replicas, pl.nodes, pl.chips_per_node, pl.node_label],
        "memory": [repr(x) for x in (est.memory.capacity, est.memory.reserve, est.memory.weights)]
        + [repr(est.memory.kv_pool), repr(est.memory.kv_per_sequence)],
        "batch": [perf.batch, str(perf.batch_limit)],
        "step": [
            repr(x)
            for x in (
                st.linear,
                st.experts,
                st.attention,
                st.communication,
                st.overhead,
                st.memory_time,
                st.compute_time,
                st.weight_bytes_read,
                st.kv_bytes_read,
            )
        ],
        "rps": repr(perf.requests_per_second),
        "ttft": repr(perf.time_to_first_token_s),
        "cost": o.cost.to_dict(),
        "measured": None if est.measured is None else repr(est.measured),
        "correction": est.correction,
    }


def dump(p: Plan) -> dict[str, Any]:
    return {
        "chosen": _option(p.chosen),
        "alternatives": [_option(a) for a in p.alternatives],
        "rejections": [[r.accelerator, r.reason, r.message] for r in p.rejections],
        "applied": _option(p.applied),
        "report": plan_dict(p),
    }


def _measured_model(cat: Catalog, rng: random.Random) -> ModelProfileSpec:
    """llama-3.1-8b with synthetic measured points on 1 x h100 (the measured path of estimate.evaluate)."""
    base = cat.model("llama-3.1-8b")
    points = [
        {
            "accelerator": "h100",
            "chips": 1,
            "inputTokens": 1000,
            "outputTokens": 200,
            "concurrency": c,
            "outputTokensPerSecond": c * rng.uniform(25, 60),
        }
        for c in (1, 4, 16, 64, 256)
    ]
    doc = base.model_dump(by_alias=True, exclude_none=True)
    doc["measured"] = points
    return ModelProfileSpec.model_validate(doc)


def corpus(n_random: int, seed: int = 11) -> list[tuple[str, ModelDeploymentSpec, dict[str, Any]]]:
    """(name, spec, plan keyword arguments) for every example and `n_random` seeded random specs."""
    out: list[tuple[str, ModelDeploymentSpec, dict[str, Any]]] = []
    for path in sorted(EXAMPLES.glob("*.yaml")):
        for doc in yaml.safe_load_all(path.read_text(encoding="utf-8")):
            if doc and doc.get("kind") == "ModelDeployment":
                with contextlib.suppress(ValueError):  # the invalid example
                    out.append((path.name, ModelDeploymentSpec.model_validate(doc["spec"]), {}))
    for i, (rps, stream) in enumerate([(3, None), (40, 20), (400, 50), (10, 120)]):
        doc = {"model": "llama-3.1-8b", "traffic": {"requestsPerSecond": rps, "inputTokens": 1000, "outputTokens": 200}}
        if stream:
            doc["slo"] = {"outputTokensPerSecondPerStream": stream}
        out.append((f"measured-{i}", ModelDeploymentSpec.model_validate(doc), {}))
    rng = random.Random(seed)
    cat = builtin_catalog()
    models = sorted(cat.models) + ["llama-3.1-8b"] * 3  # extra weight: the measured variant
    accs = sorted(cat.accelerators)
    for i in range(n_random):
        slo: dict[str, Any] = {}
        if rng.random() < 0.6:
            slo["outputTokensPerSecondPerStream"] = rng.choice([5, 10, 20, 30, 50, 80])
        if rng.random() < 0.4:
            slo["timeToFirstTokenMs"] = rng.choice([300, 1000, 2000, 5000])
        doc: dict[str, Any] = {
            "model": rng.choice(models),
            "traffic": {
                "requestsPerSecond": f"{rng.choice([0, 0.01, rng.uniform(0.1, 5), rng.uniform(5, 500)]):.3f}",
                "inputTokens": rng.choice([1, 64, rng.randint(100, 4000), rng.randint(4000, 30000)]),
                "outputTokens": rng.choice([1, rng.randint(16, 500), rng.randint(500, 4000)]),
            },
            "slo": slo,
        }
        if rng.random() < 0.3:
            doc["accelerators"] = rng.sample(accs, rng.randint(1, 5))
        if rng.random() < 0.3:
            doc["precision"] = rng.choice(["bf16", "fp8", "fp4"])
        if rng.random() < 0.2:
            doc["kvCachePrecision"] = rng.choice(["bf16", "fp8"])
        if rng.random() < 0.3:
            doc["headroom"] = rng.choice(["0", "0.1", "0.3"])
        if rng.random() < 0.15:
            doc["budget"] = {"maxMonthlyCost": str(rng.choice([1000, 20000, 300000]))}
        kwargs: dict[str, Any] = {}
        if rng.random() < 0.15:
            kwargs["step_time_factors"] = {a: rng.uniform(0.7, 1.5) for a in rng.sample(accs, 4)}
        if rng.random() < 0.1:
            kwargs["demand_rps"] = rng.uniform(0, 100)
        if rng.random() < 0.1:
            kwargs["min_replicas"], kwargs["max_replicas"] = 2, rng.choice([3, 50])
        try:
            spec = ModelDeploymentSpec.model_validate(doc)
        except ValueError:
            continue
        out.append((f"random-{i}", spec, kwargs))
    return out


def catalog_with_measured() -> Catalog:
    base = builtin_catalog()
    return base.with_overrides(models=[_measured_model(base, random.Random(3))])


def run(n_random: int) -> dict[str, Any]:
    """Every corpus plan (or its PlanError), planned cold and warm; raises if the two differ."""
    shared = catalog_with_measured()
    results: dict[str, Any] = {}
    for name, spec, kwargs in corpus(n_random):
        pair = []
        for cat in (fresh(shared), shared):
            try:
                pair.append(dump(plan(cat, spec, **kwargs)))
            except PlanError as e:
                pair.append({"error": [e.reason, str(e)]})
        if pair[0] != pair[1]:
            raise AssertionError(f"{name}: the warm plan differs from the cold one")
        results[name] = pair[0]
    return results


def digest(results: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps(results, sort_keys=True).encode()).hexdigest()


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--write", type=Path)
    ap.add_argument("--check", type=Path)
    ap.add_argument("-n", type=int, default=500, help="random specs")
    args = ap.parse_args()
    results = run(args.n)
    errors = sum(1 for r in results.values() if "error" in r)
    print(f"{len(results)} plans ({errors} PlanErrors), digest {digest(results)}")
    if args.write:
        args.write.write_text(json.dumps(results, sort_keys=True, indent=1))
    if args.check:
        golden = json.loads(args.check.read_text())
        diff = [k for k in sorted(set(golden) | set(results)) if golden.get(k) != results.get(k)]
        print(f"{len(diff)} differ from {args.check}" + (f": {diff[:10]}" if diff else ""))
        return 1 if diff else 0
    return 0


if __name__ == "__main__":
    sys.exit(main())
