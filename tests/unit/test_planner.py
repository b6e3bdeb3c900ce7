"""The planner: cheapest feasible plan, replicas and nodes, budget, SLOs, and its invariants."""

from __future__ import annotations

import math
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from infercap.api.deployment import ModelDeploymentSpec
from infercap.core.catalog import Catalog, builtin_catalog
from infercap.core.cost import HOURS_PER_MONTH
from infercap.core.errors import PlanError
from infercap.core.planner import plan
from infercap.core.sizes import place, replica_sizes

CAT = builtin_catalog()


def spec(**over: Any) -> ModelDeploymentSpec:
    base: dict[str, Any] = {
        "model": "llama-3.1-70b",
        "traffic": {"requestsPerSecond": 10, "inputTokens": 1000, "outputTokens": 300},
    }
    for k, v in over.items():
        if k == "traffic":
            base["traffic"] = {**base["traffic"], **v}
        else:
            base[k] = v
    return ModelDeploymentSpec.model_validate(base)


def test_plan_serves_demand_with_headroom(catalog: Catalog) -> None:
    p = plan(catalog, spec(headroom="0.25"))
    perf = p.chosen.estimate.performance
    assert perf is not None
    replicas = p.chosen.placement.replicas
    assert replicas * perf.requests_per_second * 0.75 >= 10
    assert (replicas - 1) * perf.requests_per_second * 0.75 < 10, "no more replicas than needed"
    assert p.chosen.utilization <= 0.75 + 1e-9


def test_cost_is_chips_times_price(catalog: Catalog) -> None:
    p = plan(catalog, spec(accelerators=["h200"]))
    o = p.chosen
    assert o.cost.hourly == (o.accelerator.price.per_chip_hour * o.placement.chips).quantize(Decimal("0.01"))
    assert o.cost.monthly == (o.accelerator.price.per_chip_hour * o.placement.chips * HOURS_PER_MONTH).quantize(
        Decimal("0.01")
    )
    # Per million output tokens at the planned load: hourly / (10 req/s x 300 tokens x 3600 s) x 1e6.
    expected = o.accelerator.price.per_chip_hour * o.placement.chips / Decimal(10 * 300 * 3600) * 1_000_000
    assert o.cost.per_million_output_tokens == expected.quantize(Decimal("0.0001"))


def test_chosen_is_the_cheapest_and_alternatives_are_ranked(catalog: Catalog) -> None:
    p = plan(catalog, spec())
    costs = [p.chosen.cost.hourly] + [a.cost.hourly for a in p.alternatives]
    assert costs == sorted(costs)
    assert len({a.accelerator.id for a in p.alternatives}) == len(p.alternatives)


def test_no_cheaper_candidate_is_skipped(catalog: Catalog) -> None:
    p = plan(catalog, spec())
    for acc_id in catalog.accelerators:
        try:
            single = plan(catalog, spec(accelerators=[acc_id]))
        except PlanError:
            continue
        assert p.chosen.cost.hourly <= single.chosen.cost.hourly, acc_id


def test_model_that_fits_nowhere_names_the_fix(catalog: Catalog) -> None:
    with pytest.raises(PlanError) as err:
        plan(catalog, spec(model="gpt-5.5", precision="bf16", accelerators=["tpu-v5e"]))
    assert err.value.reason == "ModelDoesNotFit"
    assert err.value.field == "spec.accelerators"
    assert "spec.precision" in err.value.message


def test_unreachable_slo(catalog: Catalog) -> None:
    with pytest.raises(PlanError) as err:
        plan(catalog, spec(slo={"outputTokensPerSecondPerStream": 5000}))
    assert err.value.reason == "SloUnreachable"
    assert err.value.field == "spec.slo"


def test_ttft_slo_forces_faster_replicas(catalog: Catalog) -> None:
    loose = plan(catalog, spec(traffic={"inputTokens": 30_000}, accelerators=["h100"]))
    tight = plan(
        catalog, spec(traffic={"inputTokens": 30_000}, accelerators=["h100"], slo={"timeToFirstTokenMs": 1500})
    )
    perf = tight.chosen.estimate.performance
    assert perf is not None and perf.time_to_first_token_s <= 1.5
    assert tight.chosen.placement.chips_per_replica >= loose.chosen.placement.chips_per_replica


def test_unknown_accelerator_points_at_the_list_entry(catalog: Catalog) -> None:
    with pytest.raises(PlanError) as err:
        plan(catalog, spec(accelerators=["h100", "h999"]))
    assert err.value.reason == "UnknownAccelerator"
    assert err.value.field == "spec.accelerators[1]"


def test_context_too_long(catalog: Catalog) -> None:
    with pytest.raises(PlanError) as err:
        plan(catalog, spec(model="llama-2-70b", traffic={"inputTokens": 4000, "outputTokens": 500}))
    assert err.value.reason == "ContextTooLong"


def test_budget_caps_the_plan(catalog: Catalog) -> None:
    full = plan(catalog, spec(traffic={"requestsPerSecond": 100}, accelerators=["h100"]))
    limit = full.chosen.cost.monthly / 2
    capped = plan(
        catalog, spec(traffic={"requestsPerSecond": 100}, accelerators=["h100"], budget={"maxMonthlyCost": str(limit)})
    )
    assert capped.budget is not None and not capped.budget.within
    assert capped.applied.cost.monthly <= limit
    assert capped.applied.placement.replicas < full.chosen.placement.replicas
    assert 0.3 < capped.budget.coverage < 0.7
    roomy = plan(catalog, spec(budget={"maxMonthlyCost": "100000000"}))
    assert roomy.budget is not None and roomy.budget.within and roomy.applied is roomy.chosen


def test_budget_in_another_currency_is_refused(catalog: Catalog) -> None:
    with pytest.raises(PlanError) as err:
        plan(catalog, spec(budget={"maxMonthlyCost": "1000", "currency": "EUR"}))
    assert err.value.reason == "CurrencyMismatch"


def test_demand_override_and_replica_bounds(catalog: Catalog) -> None:
    s = spec(accelerators=["h100"])
    zero = plan(catalog, s, demand_rps=0, min_replicas=1)
    assert zero.chosen.placement.replicas == 1
    capped = plan(catalog, s, demand_rps=1000, max_replicas=3)
    assert capped.chosen.placement.replicas == 3


def test_tpu_replicas_are_slices(catalog: Catalog) -> None:
    p = plan(catalog, spec(model="gemma-3-27b", accelerators=["tpu-v6e"]))
    pl = p.chosen.placement
    assert pl.slice is not None
    assert pl.chips_per_replica == pl.slice.chips
    assert pl.nodes == pl.replicas * max(1, pl.slice.chips // pl.slice.chips_per_host)


def test_packing_never_straddles_nodes_needlessly(catalog: Catalog) -> None:
    h100 = catalog.accelerators["h100"]
    assert place(h100, 2, None, 5).nodes == 2  # 4 replicas per 8-GPU node
    assert place(h100, 1, None, 3).chips == 3  # 1-GPU nodes exist for H100
    assert place(h100, 16, None, 2).nodes == 4  # multi-node replicas take whole nodes
    assert [n for n, _ in replica_sizes(h100)][:5] == [1, 2, 4, 8, 16]


def test_explanation_states_every_step(catalog: Catalog) -> None:
    text = "\n".join(plan(catalog, spec()).explanation)
    for needle in ("weights", "KV", "Decode step", "Replica throughput", "Replicas:", "Nodes:", "Cost:"):
        assert needle in text


# --------------------------------------------------------------------------- properties

MODELS = ["llama-3.1-8b", "llama-3.1-70b", "mixtral-8x7b", "qwen3-30b-a3b", "gpt-oss-120b", "deepseek-r1"]


@settings(max_examples=25, deadline=None)
@given(
    model=st.sampled_from(MODELS),
    rps=st.floats(min_value=0.5, max_value=200),
    factor=st.floats(min_value=1.0, max_value=5.0),
    input_tokens=st.integers(min_value=50, max_value=8000),
    output_tokens=st.integers(min_value=20, max_value=2000),
)
def test_more_traffic_never_means_fewer_nodes(
    model: str, rps: float, factor: float, input_tokens: int, output_tokens: int
) -> None:
    s = spec(
        model=model,
        traffic={"requestsPerSecond": f"{rps:.3f}", "inputTokens": input_tokens, "outputTokens": output_tokens},
    )
    low = plan(CAT, s)
    high = plan(CAT, s, demand_rps=rps * factor)
    assert high.chosen.cost.hourly >= low.chosen.cost.hourly
    # Within one accelerator and replica size, more traffic never means fewer chips. (Not nodes: packing buys
    # the fewest chips, so 2 one-GPU nodes can become 1 eight-GPU node, e.g. gpt-oss-120b on h100 at 126 and
    # 504 req/s.)
    same = plan(
        CAT,
        spec(
            model=model,
            accelerators=[low.chosen.accelerator.id],
            traffic={"requestsPerSecond": f"{rps:.3f}", "inputTokens": input_tokens, "outputTokens": output_tokens},
        ),
        demand_rps=rps * factor,
    )
    if same.chosen.placement.chips_per_replica == low.chosen.placement.chips_per_replica:
        assert same.chosen.placement.chips >= low.chosen.placement.chips


@settings(max_examples=25, deadline=None)
@given(
    model=st.sampled_from(MODELS),
    rps=st.floats(min_value=0.1, max_value=100),
    input_tokens=st.integers(min_value=50, max_value=8000),
    output_tokens=st.integers(min_value=20, max_value=2000),
    stream=st.sampled_from([None, 10, 30]),
)
def test_every_plan_fits_memory_and_meets_its_targets(
    model: str, rps: float, input_tokens: int, output_tokens: int, stream: int | None
) -> None:
    s = spec(
        model=model,
        traffic={"requestsPerSecond": f"{rps:.3f}", "inputTokens": input_tokens, "outputTokens": output_tokens},
        slo={"outputTokensPerSecondPerStream": stream} if stream else {},
    )
    try:
        p = plan(CAT, s)
    except PlanError as e:
        assert e.reason == "SloUnreachable"
        return
    for option in [p.chosen, *p.alternatives]:
        est = option.estimate
        perf = est.performance
        assert perf is not None and est.memory.fits
        assert est.memory.weights + est.memory.reserve + perf.batch * est.memory.kv_per_sequence <= (
            est.memory.capacity
        )
        if stream:
            assert perf.stream_tokens_per_second >= stream
        assert option.capacity_rps * (1 - option.headroom) >= float(f"{rps:.3f}") - 1e-9
        assert option.placement.chips >= option.placement.replicas * option.placement.chips_per_replica
        assert math.isclose(
            float(option.cost.hourly),
            float(option.accelerator.price.per_chip_hour) * option.placement.chips,
            abs_tol=0.01,
        )
