"""The compute model: memory fit, rooflines, batch limits, and invariants over random workloads."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from infercap.api.types import Precision
from infercap.core.catalog import Catalog, builtin_catalog
from infercap.core.compute import BatchLimit, Workload
from infercap.core.estimate import estimate_replica
from infercap.core.report import roofline_tokens_per_second

CAT = builtin_catalog()
CONFIGS = [
    ("llama-3.1-8b", "h100", 1),
    ("llama-3.1-70b", "h200", 2),
    ("llama-3.1-405b", "b200", 8),
    ("mixtral-8x7b", "a100", 4),
    ("deepseek-r1", "h200", 8),
    ("gpt-oss-120b", "h100", 1),
    ("qwen3-30b-a3b", "l40s", 1),
    ("gemma-3-27b", "tpu-v6e", 4),
    ("kimi-k2", "gb200", 16),
    ("llama-3.1-70b", "mi300x", 1),
]


def test_small_gpu_cannot_hold_a_big_model(catalog: Catalog) -> None:
    est = estimate_replica(
        catalog, model_id="llama-3.1-405b", accelerator_id="h100", chips=2, input_tokens=1000, output_tokens=1000
    )
    assert not est.fits and est.performance is None


def test_memory_is_split_into_weights_reserve_and_kv(catalog: Catalog) -> None:
    est = estimate_replica(
        catalog,
        model_id="llama-3.1-8b",
        accelerator_id="h100",
        chips=1,
        precision=Precision.FP8,
        input_tokens=1000,
        output_tokens=1000,
    )
    m = est.memory
    assert m.weights + m.reserve + m.kv_pool <= m.capacity
    assert m.max_sequences == int(m.kv_pool // m.kv_per_sequence)
    perf = est.performance
    assert perf is not None and perf.batch <= m.max_sequences


@settings(max_examples=60, deadline=None)
@given(
    config=st.sampled_from(CONFIGS),
    input_tokens=st.integers(min_value=16, max_value=16_000),
    output_tokens=st.integers(min_value=16, max_value=4_000),
)
def test_decode_never_beats_the_bandwidth_roofline(
    config: tuple[str, str, int], input_tokens: int, output_tokens: int
) -> None:
    model, acc, chips = config
    est = estimate_replica(
        CAT, model_id=model, accelerator_id=acc, chips=chips, input_tokens=input_tokens, output_tokens=output_tokens
    )
    if est.performance is None:
        assert not est.fits
        return
    assert est.performance.output_tokens_per_second <= roofline_tokens_per_second(est)
    assert est.performance.batch <= est.memory.max_sequences


@settings(max_examples=40, deadline=None)
@given(config=st.sampled_from(CONFIGS), batch=st.integers(min_value=1, max_value=2000))
def test_step_time_grows_and_throughput_does_not_fall_with_batch(config: tuple[str, str, int], batch: int) -> None:
    model, acc, chips = config
    est = estimate_replica(CAT, model_id=model, accelerator_id=acc, chips=chips, input_tokens=1000, output_tokens=500)
    if not est.fits:
        return
    work = Workload(1000, 500)
    a, b = est.replica.step(batch, work), est.replica.step(batch + 1, work)
    assert b.total >= a.total
    assert (batch + 1) / b.total >= batch / a.total * 0.999


def test_stream_speed_floor_limits_the_batch(catalog: Catalog) -> None:
    free = estimate_replica(
        catalog, model_id="llama-3.1-70b", accelerator_id="h200", chips=4, input_tokens=1000, output_tokens=1000
    )
    slo = estimate_replica(
        catalog,
        model_id="llama-3.1-70b",
        accelerator_id="h200",
        chips=4,
        input_tokens=1000,
        output_tokens=1000,
        min_stream_tokens_per_second=50,
    )
    assert free.performance is not None and slo.performance is not None
    assert slo.performance.batch_limit == BatchLimit.STREAM_SPEED
    assert slo.performance.stream_tokens_per_second >= 50
    assert slo.performance.batch < free.performance.batch
    # One more sequence would break the floor: the search found the largest batch.
    nxt = slo.replica.step(slo.performance.batch + 1, Workload(1000, 1000))
    assert 1 / nxt.total < 50


def test_unreachable_stream_speed_gives_no_performance(catalog: Catalog) -> None:
    est = estimate_replica(
        catalog,
        model_id="llama-3.1-405b",
        accelerator_id="a100",
        chips=16,
        input_tokens=1000,
        output_tokens=1000,
        min_stream_tokens_per_second=500,
    )
    assert est.fits and est.performance is None


def test_more_chips_mean_more_memory_for_kv(catalog: Catalog) -> None:
    two = estimate_replica(
        catalog, model_id="llama-3.1-70b", accelerator_id="h100", chips=2, input_tokens=2000, output_tokens=500
    )
    eight = estimate_replica(
        catalog, model_id="llama-3.1-70b", accelerator_id="h100", chips=8, input_tokens=2000, output_tokens=500
    )
    assert eight.memory.max_sequences > 4 * two.memory.max_sequences


def test_moe_reads_only_active_experts_at_batch_one(catalog: Catalog) -> None:
    est = estimate_replica(
        catalog, model_id="deepseek-r1", accelerator_id="h200", chips=8, input_tokens=1, output_tokens=100
    )
    step1 = est.replica.step(1, Workload(1, 100))
    step_big = est.replica.step(512, Workload(1, 100))
    # One token touches 8 of 256 experts per layer; 512 tokens touch nearly all of them, and at
    # these batches expert time is weight streaming.
    assert step_big.experts > 10 * step1.experts
    assert step_big.weight_bytes_read > 4 * step1.weight_bytes_read


@pytest.mark.parametrize(("model", "acc"), [("llama-3.1-8b", "h100"), ("llama-3.1-8b", "tpu-v6e")])
def test_calibrated_and_analytic_sources(catalog: Catalog, model: str, acc: str) -> None:
    est = estimate_replica(catalog, model_id=model, accelerator_id=acc, chips=1, input_tokens=100, output_tokens=100)
    assert est.source.value == ("calibrated" if acc == "h100" else "analytic")


def test_fp4_weights_without_fp4_tensor_cores_run_bf16_math(catalog: Catalog) -> None:
    # gpt-oss's MXFP4 experts on Hopper: 4-bit weights in memory, BF16 math (no FP4 path, and the
    # kernels do not requantize to FP8); on Blackwell the FP4 tensor cores run them.
    shape = catalog.shape(catalog.model("gpt-oss-120b"))
    assert shape.expert_precision == Precision.FP4
    for acc_id, math_precision in (("h100", Precision.BF16), ("b200", Precision.FP4), ("a100", Precision.BF16)):
        acc = catalog.accelerator(acc_id)
        replica = catalog.replica(shape, acc, 1)
        mfu = catalog.efficiency(acc).efficiency.flops_utilization
        assert replica.f_expert == pytest.approx(acc.dense_tflops[math_precision] * 1e12 * mfu)
    fp8_on_a100 = catalog.replica(
        catalog.shape(catalog.model("llama-3.1-8b"), Precision.FP8), CAT.accelerator("a100"), 1
    )
    assert fp8_on_a100.f_linear == pytest.approx(
        CAT.accelerator("a100").dense_tflops[Precision.BF16]
        * 1e12
        * CAT.families["ampere"].efficiency.flops_utilization
    )


def test_prefill_beyond_the_token_budget_runs_as_more_steps(catalog: Catalog) -> None:
    # A prefill-heavy workload keeps a large decode batch (the budget caps one step's tokens, not the
    # running requests); the extra steps re-read the weights, so each one costs at least a weight read.
    shape = catalog.shape(catalog.model("llama-3.1-8b"), Precision.FP8)
    replica = catalog.replica(shape, catalog.accelerator("h100"), 1)
    work = Workload(8000, 100)
    budget = replica.token_budget
    batch = budget // 2
    steps = batch * (1 + 8000 / 100) / budget
    step = replica.step(batch, work)
    assert step.weight_bytes_read == pytest.approx(replica.linear_bytes_per_chip * steps)
    assert step.total >= steps * replica.linear_bytes_per_chip / replica.bw
    # The same work as one step per budget: doubling the batch doubles the steps and about the time.
    assert replica.step(batch * 2, work).total == pytest.approx(2 * step.total, rel=0.1)
    perf = replica.performance(work)
    assert perf is not None and perf.batch > budget / (1 + 8000 / 100)
