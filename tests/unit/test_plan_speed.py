"""The planner's fast paths against straightforward ones: replica sizes against the set-based definition,
and plans on warm caches (shared by many specs) against plans on a fresh catalog."""

from __future__ import annotations

import random

import pytest

from infercap.api.catalog import AcceleratorProfileSpec
from infercap.api.deployment import ModelDeploymentSpec
from infercap.core.catalog import Catalog, builtin_catalog
from infercap.core.errors import PlanError
from infercap.core.planner import plan
from infercap.core.sizes import MAX_REPLICA_CHIPS, replica_sizes


def _sizes_by_definition(largest: int, domain: int) -> list[int]:
    """Powers of two up to a node (or a scale-up domain up to 64), the whole domain, node multiples."""
    sizes = set()
    n = 1
    while n <= max(largest, min(domain, 64)):
        if n <= largest or n % largest == 0:
            sizes.add(n)
        n *= 2
    if domain > largest and domain % largest == 0:
        sizes.add(domain)
    k = 2
    while k * largest <= MAX_REPLICA_CHIPS:
        sizes.add(k * largest)
        k += 1
    return sorted(sizes)


@pytest.mark.parametrize("nodes", [[1], [2], [4], [8], [1, 4, 8], [16], [12], [6, 3], [288], [600]])
def test_replica_sizes_match_their_definition(nodes: list[int]) -> None:
    base = builtin_catalog().accelerator("h100")
    shapes = [base.node_shapes[0].model_copy(update={"chips": c}) for c in nodes]
    for domain in (1, 2, 4, 8, 12, 16, 32, 64, 72, 96, 128, 576, 600, 1152, 8960):
        acc = AcceleratorProfileSpec.model_validate(
            base.model_copy(update={"node_shapes": shapes, "scale_up_domain": domain}).model_dump()
        )
        assert [n for n, _ in replica_sizes(acc)] == _sizes_by_definition(max(nodes), domain)


def _specs(n: int) -> list[ModelDeploymentSpec]:
    rng = random.Random(5)
    cat = builtin_catalog()
    out = []
    for _ in range(n):
        slo = {"outputTokensPerSecondPerStream": rng.choice([10, 30, 60])} if rng.random() < 0.6 else {}
        if rng.random() < 0.4:
            slo["timeToFirstTokenMs"] = rng.choice([500, 3000])
        out.append(
            ModelDeploymentSpec.model_validate(
                {
                    "model": rng.choice(sorted(cat.models)),
                    "traffic": {
                        "requestsPerSecond": round(rng.uniform(0.1, 300), 2),
                        "inputTokens": rng.randint(50, 6000),
                        "outputTokens": rng.randint(20, 2000),
                    },
                    "slo": slo,
                }
            )
        )
    return out


def test_warm_caches_plan_like_a_fresh_catalog() -> None:
    """Caches shared across specs (replicas, best batches, shapes, sizes) never change a plan."""
    base = builtin_catalog()
    shared = Catalog(base.models, base.accelerators, base.families, base.overridden, base.kernels)
    specs = _specs(30)
    for spec in specs + specs:
        fresh = Catalog(base.models, base.accelerators, base.families, base.overridden, base.kernels)
        try:
            cold = plan(fresh, spec)
        except PlanError as e:
            with pytest.raises(PlanError) as again:
                plan(shared, spec)
            assert str(again.value) == str(e)
            continue
        warm = plan(shared, spec)
        assert warm.explanation == cold.explanation
        assert [(o.accelerator.id, o.placement, o.estimate.performance.step) for o in warm.alternatives] == [  # type: ignore[union-attr]
            (o.accelerator.id, o.placement, o.estimate.performance.step)
            for o in cold.alternatives  # type: ignore[union-attr]
        ]


def test_step_time_factors_and_measured_points_reuse_nothing_stale() -> None:
    """A re-plan with online-calibration factors, or on a catalog with measured points, on caches warmed
    by plain plans, says what a fresh catalog says."""
    base = builtin_catalog()
    spec = ModelDeploymentSpec.model_validate(
        {
            "model": "llama-3.1-8b",
            "traffic": {"requestsPerSecond": 40, "inputTokens": 1000, "outputTokens": 200},
            "slo": {"outputTokensPerSecondPerStream": 20},
        }
    )
    factors = dict.fromkeys(base.accelerators, 1.4)
    shared = Catalog(base.models, base.accelerators, base.families, base.overridden, base.kernels)
    plain = plan(shared, spec)
    corrected = plan(shared, spec, step_time_factors=factors)
    fresh = Catalog(base.models, base.accelerators, base.families, base.overridden, base.kernels)
    assert corrected.explanation == plan(fresh, spec, step_time_factors=factors).explanation
    assert corrected.chosen.placement.replicas > plain.chosen.placement.replicas
    assert plan(shared, spec).explanation == plain.explanation

    points = [
        {
            "accelerator": "h100",
            "chips": 1,
            "inputTokens": 1000,
            "outputTokens": 200,
            "concurrency": c,
            "outputTokensPerSecond": c * 20.0,
        }
        for c in (1, 8, 64, 256)
    ]
    doc = base.model("llama-3.1-8b").model_dump(by_alias=True, exclude_none=True)
    measured = base.model("llama-3.1-8b").model_validate({**doc, "measured": points})
    with_points = shared.with_overrides(models=[measured])
    h100 = spec.model_copy(update={"accelerators": ["h100"]})
    first = plan(with_points, h100)
    again = plan(with_points.with_overrides(), h100)
    assert first.explanation == again.explanation
    assert first.chosen.estimate.measured is not None
    assert first.explanation != plan(shared, h100).explanation
