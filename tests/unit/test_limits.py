"""Bounded planning: the planner's work does not grow with traffic, every tenant number has an upper bound
with a message, and budgets that afford nothing apply nothing (issue 9, items 1 and 4)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from infercap.api.deployment import MAX_REQUESTS_PER_SECOND, ModelDeploymentSpec
from infercap.api.validation import describe
from infercap.core import planner
from infercap.core.catalog import builtin_catalog
from infercap.core.errors import PlanError
from infercap.core.sizes import MAX_REPLICA_CHIPS, largest_true

CAT = builtin_catalog()
ACCELERATORS = sorted(CAT.accelerators)
# Plans evaluate each accelerator's replica sizes once; the budget cap adds a bisection over replicas.
SIZES = sum(len(CAT.replica_sizes(CAT.accelerators[a])) for a in ACCELERATORS)
PLACE_CALLS_BOUND = SIZES + 2 * (planner.MAX_REPLICAS.bit_length() + 2)


def _spec(**over: Any) -> ModelDeploymentSpec:
    base: dict[str, Any] = {
        "model": "llama-3.1-70b",
        "traffic": {"requestsPerSecond": 10, "inputTokens": 2000, "outputTokens": 400},
    }
    base.update(over)
    return ModelDeploymentSpec.model_validate(base)


class Calls:
    place = 0


@pytest.fixture
def counted(monkeypatch: pytest.MonkeyPatch) -> Iterator[type[Calls]]:
    """Counts the planner's calls of place() (node packing), the step the old budget cap repeated once
    per replica."""
    real = planner.place
    Calls.place = 0

    def place(*args: Any, **kwargs: Any) -> Any:
        Calls.place += 1
        return real(*args, **kwargs)

    monkeypatch.setattr(planner, "place", place)
    yield Calls


def test_budget_cap_work_does_not_grow_with_traffic(counted: type[Calls]) -> None:
    calls = []
    for rps in (1, 1_000, MAX_REQUESTS_PER_SECOND):
        counted.place = 0
        p = planner.plan(
            CAT,
            _spec(
                traffic={"requestsPerSecond": rps, "inputTokens": 2000, "outputTokens": 400},
                budget={"maxMonthlyCost": "50000"},
            ),
        )
        calls.append(counted.place)
        assert p.budget is not None
    assert max(calls) <= PLACE_CALLS_BOUND, calls
    # A million times the traffic costs a few bisection steps more, not a million place() calls.
    assert calls[-1] - calls[0] <= 2 * (planner.MAX_REPLICAS.bit_length() + 2), calls


@settings(max_examples=60, deadline=None)
@given(
    rps=st.decimals(min_value=Decimal("0.000001"), max_value=MAX_REQUESTS_PER_SECOND, places=6),
    input_tokens=st.integers(1, 200_000),
    output_tokens=st.integers(1, 50_000),
    budget=st.one_of(st.none(), st.decimals(min_value=Decimal("0.01"), max_value=10_000_000_000, places=2)),
    stream=st.one_of(st.none(), st.decimals(min_value=Decimal("0.001"), max_value=100_000, places=3)),
    headroom=st.decimals(min_value=0, max_value=Decimal("0.94"), places=2),
    accelerators=st.lists(st.sampled_from(ACCELERATORS), unique=True, max_size=4),
)
def test_plan_work_is_bounded_over_the_accepted_input_space(
    rps: Decimal,
    input_tokens: int,
    output_tokens: int,
    budget: Decimal | None,
    stream: Decimal | None,
    headroom: Decimal,
    accelerators: list[str],
) -> None:
    doc: dict[str, Any] = {
        "model": "llama-3.1-70b",
        "traffic": {"requestsPerSecond": str(rps), "inputTokens": input_tokens, "outputTokens": output_tokens},
        "headroom": str(headroom),
        "accelerators": accelerators,
    }
    if budget is not None:
        doc["budget"] = {"maxMonthlyCost": str(budget)}
    if stream is not None:
        doc["slo"] = {"outputTokensPerSecondPerStream": str(stream)}
    try:
        spec = ModelDeploymentSpec.model_validate(doc)
    except ValidationError:
        return  # rejected input is not planned (e.g. a context longer than the model's)
    real = planner.place
    calls = 0

    def place(*args: Any, **kwargs: Any) -> Any:
        nonlocal calls
        calls += 1
        return real(*args, **kwargs)

    planner.place = place  # type: ignore[assignment]
    started = time.perf_counter()
    try:
        p = planner.plan(CAT, spec)
    except PlanError as e:
        assert e.reason[0].isupper() and e.message  # a condition, never another exception
        return
    finally:
        planner.place = real
    elapsed = time.perf_counter() - started
    assert calls <= PLACE_CALLS_BOUND
    applied = p.applied
    assert applied.placement.replicas <= planner.MAX_REPLICAS
    assert applied.placement.chips_per_replica <= MAX_REPLICA_CHIPS
    if p.budget is not None:
        assert applied.cost.monthly <= p.budget.max_monthly or p.budget.within
    # Not a timing assert (see tests/bench/bench_plan.py for figures); a guard against a runaway loop.
    assert elapsed < 30


def test_largest_true_bisects() -> None:
    seen: list[int] = []

    def ok(n: int) -> bool:
        seen.append(n)
        return n <= 123_456

    assert largest_true(ok, 10**9) == 123_456
    assert len(seen) <= 32
    assert largest_true(lambda n: False, 10) == 0
    assert largest_true(lambda n: True, 10) == 10
    assert largest_true(lambda n: True, 0) == 0


def test_a_budget_that_affords_nothing_applies_nothing_and_says_so() -> None:
    p = planner.plan(CAT, _spec(budget={"maxMonthlyCost": "0.01"}))
    assert p.budget is not None and not p.budget.within
    assert p.budget.affordable_replicas == 0
    assert p.applied.placement.replicas == 0 and p.applied.placement.chips == 0
    assert p.applied.cost.monthly == 0
    assert p.budget.coverage == 0
    assert any("nothing is applied" in line for line in p.explanation)
    assert not any("serving 100 %" in line or "serving 100%" in line for line in p.explanation)


def test_a_capped_plan_stays_within_the_budget() -> None:
    full = planner.plan(CAT, _spec(traffic={"requestsPerSecond": 200, "inputTokens": 2000, "outputTokens": 400}))
    limit = (full.chosen.cost.monthly / 3).quantize(Decimal("0.01"))
    p = planner.plan(
        CAT,
        _spec(
            traffic={"requestsPerSecond": 200, "inputTokens": 2000, "outputTokens": 400},
            budget={"maxMonthlyCost": str(limit)},
        ),
    )
    assert p.budget is not None and not p.budget.within
    assert 0 < p.applied.placement.replicas < p.chosen.placement.replicas
    assert p.applied.cost.monthly <= limit
    # One more replica would not fit: the cap is the largest affordable plan.
    acc = p.applied.accelerator
    bigger = planner.place(
        acc, p.applied.placement.chips_per_replica, p.applied.placement.slice, p.applied.placement.replicas + 1
    )
    assert acc.price.per_chip_hour * bigger.chips * 730 > limit


@pytest.mark.parametrize(
    ("traffic", "field", "words"),
    [
        ({"requestsPerSecond": "99999999999999999999999999999999"}, "requestsPerSecond", "at most 1,000,000"),
        ({"requestsPerSecond": "0.00000000000000000000000000001"}, "requestsPerSecond", "decimal places"),
        ({"requestsPerSecond": "1000000.5"}, "requestsPerSecond", "split the traffic"),
        ({"outputTokensPerSecond": "1000000000000000"}, "outputTokensPerSecond", "at most 1,000,000,000"),
        ({"outputTokensPerSecond": "0"}, "outputTokensPerSecond", "greater than 0"),
    ],
)
def test_every_rate_has_a_bound_with_a_message(traffic: dict[str, str], field: str, words: str) -> None:
    doc = {"model": "llama-3.1-70b", "traffic": {"inputTokens": 2000, "outputTokens": 400, **traffic}}
    with pytest.raises(ValidationError) as err:
        ModelDeploymentSpec.model_validate(doc)
    line = describe(err.value, "spec")
    assert f"spec.traffic.{field}" in line and words in line, line


@pytest.mark.parametrize(
    ("budget", "words"),
    [("100000000000", "at most 10,000,000,000"), ("0.001", "at most 2 decimal places"), ("0", "greater than 0")],
)
def test_budget_has_bounds(budget: str, words: str) -> None:
    with pytest.raises(ValidationError) as err:
        _spec(budget={"maxMonthlyCost": budget})
    assert words in describe(err.value, "spec")


def test_demand_from_a_metric_beyond_the_bound_is_a_plan_error() -> None:
    with pytest.raises(PlanError) as err:
        planner.plan(CAT, _spec(), demand_rps=1e15)
    assert err.value.reason == "DemandTooHigh"
    # A vanishing metric is no demand: the minimum replicas, and no absurd cost per token.
    p = planner.plan(CAT, _spec(), demand_rps=1e-300)
    assert p.applied.placement.replicas == 1
    assert p.applied.cost.per_million_output_tokens is None


def test_the_largest_accepted_traffic_plans_or_is_refused_with_a_reason() -> None:
    huge = {"outputTokensPerSecond": "1000000000", "inputTokens": 10_000, "outputTokens": 1}
    try:
        p = planner.plan(CAT, _spec(traffic=huge))
    except PlanError as e:
        assert e.reason in ("PlanTooLarge", "DemandTooHigh"), e
    else:
        assert p.applied.placement.replicas <= planner.MAX_REPLICAS


def test_pool_names_keep_namespace_and_name_apart() -> None:
    from infercap.providers import Owner, deployment_label, pool_name

    a, b = Owner("x-y", "team", "u1"), Owner("y", "team-x", "u2")
    assert pool_name(a, "h100") != pool_name(b, "h100")
    assert deployment_label(a) != deployment_label(b)
    long = Owner("m" * 200, "n" * 63, "u3")
    for limit in (63, 56):
        name = pool_name(long, "h100", limit=limit)
        assert len(name) <= limit and name == pool_name(long, "h100", limit=limit)
    assert len(deployment_label(long)) <= 63
    assert pool_name(a, "h100").startswith("infercap-team-x-y-h100-")
