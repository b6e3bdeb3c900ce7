"""Online correction filter: bounded, converges on a steady signal, ignores low-load samples."""

from __future__ import annotations

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from infercap.api.types import Precision
from infercap.core.catalog import builtin_catalog
from infercap.core.compute import Workload
from infercap.core.correction import (
    Correction,
    FilterParams,
    Sample,
    engine_sample,
    prediction_error,
    run,
    update,
)

P = FilterParams()
ratios = st.floats(min_value=1e-3, max_value=1e3, allow_nan=False)
batches = st.floats(min_value=0.0, max_value=4096.0, allow_nan=False)
samples = st.builds(lambda b, r: Sample(b, 0.02 * r, 0.02), batches, ratios)


@settings(max_examples=200, deadline=None)
@given(st.lists(samples, max_size=60))
def test_correction_stays_within_bounds(seq: list[Sample]) -> None:
    state = run(seq, P)
    assert P.min_ratio - 1e-12 <= state.factor <= P.max_ratio + 1e-12
    assert state.variance > 0
    assert state.samples + state.ignored == len(seq)


@settings(max_examples=100, deadline=None)
@given(st.floats(min_value=0.6, max_value=1.9), st.floats(min_value=8.0, max_value=2048.0))
def test_converges_on_a_steady_signal(ratio: float, batch: float) -> None:
    state = run([Sample(batch, 0.03 * ratio, 0.03)] * 60, P)
    assert state.factor == pytest.approx(ratio, rel=0.02)


def test_tracks_a_noisy_signal_to_its_geometric_mean() -> None:
    noise = [1.15, 0.87, 1.05, 0.95, 1.1, 0.91]  # about +-10 %, geometric mean ~1
    seq = [Sample(64, 0.02 * 1.3 * n, 0.02) for n in noise * 20]
    assert run(seq, P).factor == pytest.approx(1.3, rel=0.05)


@settings(max_examples=100, deadline=None)
@given(st.lists(samples, max_size=20), st.floats(min_value=0.0, max_value=7.99), ratios)
def test_low_load_samples_change_nothing(seq: list[Sample], batch: float, ratio: float) -> None:
    before = run(seq, P)
    after = update(before, Sample(batch, 0.02 * ratio, 0.02), P)
    assert after.log_ratio == before.log_ratio and after.variance == before.variance
    assert after.ignored == before.ignored + 1


@pytest.mark.parametrize("bad", [Sample(64, math.nan, 0.02), Sample(64, 0.02, 0.0), Sample(64, -1.0, 0.02)])
def test_invalid_samples_are_ignored(bad: Sample) -> None:
    assert update(Correction(), bad, P) == Correction(ignored=1)


@settings(max_examples=100, deadline=None)
@given(st.lists(samples, max_size=20), st.floats(min_value=8.0, max_value=512.0), ratios)
def test_a_sample_pulls_toward_itself_by_less_than_the_gap(seq: list[Sample], batch: float, ratio: float) -> None:
    before = run(seq, P)
    after = update(before, Sample(batch, 0.02 * ratio, 0.02), P)
    target = min(max(math.log(ratio), math.log(P.min_ratio)), math.log(P.max_ratio))
    gap = target - before.log_ratio
    moved = after.log_ratio - before.log_ratio
    assert moved * gap >= 0  # same direction
    assert abs(moved) <= abs(gap) + 1e-12


def test_thirty_percent_slower_replicas_mean_thirty_percent_more_replicas() -> None:
    state = run([Sample(96, 0.039, 0.030)] * 40, P)  # every replica 30 % slower than predicted
    predicted_rps = 3.2
    demand = 40.0
    before = math.ceil(demand / predicted_rps)
    after = math.ceil(demand / state.capacity(predicted_rps))
    assert state.factor == pytest.approx(1.3, rel=0.01)
    assert after / before == pytest.approx(1.3, rel=0.1)
    assert prediction_error(Sample(96, 0.039, 0.030)) == pytest.approx(0.3)


def test_bad_params_are_refused() -> None:
    with pytest.raises(ValueError):
        FilterParams(min_ratio=1.5)
    with pytest.raises(ValueError):
        FilterParams(measurement_variance=0)


def test_engine_metrics_give_the_step_ratio() -> None:
    cat = builtin_catalog()
    replica = cat.replica(cat.shape(cat.model("llama-3.1-8b"), Precision.FP8), cat.accelerator("h100"), 1)
    work = Workload(1000, 200)
    predicted = replica.step(64, work).total
    # Three replicas, 64 running each, each generating 30 % slower than the model's step at 64.
    tokens = 3 * 64 / (predicted * 1.3)
    s = engine_sample(replica, work, replicas=3, running_requests=192, generation_tokens_per_second=tokens)
    assert s is not None and s.batch == 64
    assert s.ratio == pytest.approx(1.3)
    tpot = engine_sample(
        replica, work, replicas=3, running_requests=192, generation_tokens_per_second=1, time_per_output_token_s=0.05
    )
    assert tpot is not None and tpot.observed_step_s == 0.05
    assert engine_sample(replica, work, replicas=3, running_requests=0, generation_tokens_per_second=tokens) is None
    assert engine_sample(replica, work, replicas=0, running_requests=9, generation_tokens_per_second=tokens) is None
