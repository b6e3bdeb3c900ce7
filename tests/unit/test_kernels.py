"""Measured kernel curves (kernels.yaml, distilled from AIConfigurator's tables) and their use by the
compute model for MoE experts on the GPUs that have them."""

from __future__ import annotations

from importlib import resources

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from infercap.api.types import Precision
from infercap.core.catalog import Catalog, builtin_catalog
from infercap.core.compute import Workload
from infercap.core.estimate import Source, estimate_replica
from infercap.core.kernels import Curve, SizedCurves, parse_kernels

CAT = builtin_catalog()
MEASURED_GPUS = {"a100", "h100", "h200", "b200", "b300", "gb200", "gb300", "l40s"}


def test_curve_interpolates_in_log_tokens_and_clamps_outside_the_table() -> None:
    c = Curve.from_points([2.0, 8.0, 32.0], [0.9, 0.5, 0.7])
    assert c(2.0) == pytest.approx(0.9) and c(8.0) == pytest.approx(0.5)
    assert c(4.0) == pytest.approx(0.7)  # halfway in log2 between 2 and 8
    assert c(0.5) == pytest.approx(0.9) and c(1e6) == pytest.approx(0.7)
    sized = SizedCurves((20.0, 24.0), (Curve.from_points([1.0], [0.4]), Curve.from_points([1.0], [0.8])))
    assert sized(2.0**22, 3.0) == pytest.approx(0.6)
    assert sized(2.0**10, 3.0) == pytest.approx(0.4) and sized(2.0**30, 3.0) == pytest.approx(0.8)


@given(size=st.floats(min_value=2.0**16, max_value=2.0**30), x=st.floats(min_value=0.1, max_value=1e5))
def test_a_replicas_fixed_size_curve_equals_the_sized_lookup(size: float, x: float) -> None:
    sized = CAT.kernels["h200"].grouped_gemm[Precision.BF16]
    assert sized.at(size)(x) == pytest.approx(sized(size, x), rel=1e-9)


@pytest.mark.parametrize(
    ("xs", "ys"), [([1.0, 2.0], [0.5]), ([2.0, 1.0], [0.5, 0.5]), ([1.0], [1.5]), ([0.0], [0.5]), ([], [])]
)
def test_bad_curves_are_rejected(xs: list[float], ys: list[float]) -> None:
    with pytest.raises(ValueError):
        Curve.from_points(xs, ys)


def test_catalog_data_names_its_source_version_and_licence() -> None:
    doc = yaml.safe_load((resources.files("infercap") / "data" / "kernels.yaml").read_text(encoding="utf-8"))
    assert "aiconfigurator-core 0.12.0" in doc["source"] and "Apache-2.0" in doc["licence"]
    assert set(doc["accelerators"]) == MEASURED_GPUS
    assert set(parse_kernels(doc)) == MEASURED_GPUS == set(CAT.kernels)
    # AMD, TPU and Trainium have no measured tables: they stay on the analytic expert model.
    assert not {a for a, acc in CAT.accelerators.items() if acc.vendor.value != "nvidia"} & set(CAT.kernels)


@pytest.mark.parametrize(
    ("model", "acc", "chips", "source"),
    [
        ("mixtral-8x7b", "h100", 2, Source.KERNEL_MEASURED),
        ("qwen3-235b-a22b", "b200", 8, Source.KERNEL_MEASURED),
        ("llama-3.1-70b", "h100", 2, Source.CALIBRATED),  # dense: no MoE kernel in the replica
        ("mixtral-8x7b", "mi300x", 1, Source.CALIBRATED),  # no measured tables for AMD
    ],
)
def test_source_says_kernel_measured_where_a_curve_is_used(model: str, acc: str, chips: int, source: Source) -> None:
    est = estimate_replica(CAT, model_id=model, accelerator_id=acc, chips=chips, input_tokens=1000, output_tokens=500)
    assert est.source == source
    assert (est.replica.expert_curve is not None) == (source == Source.KERNEL_MEASURED)


def test_expert_time_is_the_roofline_over_the_measured_efficiency() -> None:
    est = estimate_replica(
        CAT, model_id="mixtral-8x7b", accelerator_id="h200", chips=2, input_tokens=1000, output_tokens=500
    )
    r = est.replica
    work = Workload(1000, 500)
    without = Catalog(CAT.models, CAT.accelerators, CAT.families, CAT.overridden, {})
    plain = without.replica(r.shape, r.acc, r.chips)
    assert plain.expert_curve is None
    for batch in (1, 16, 256):
        step = r.step(batch, work)
        tokens = batch * (1 + 1000 / 500)
        steps = max(1.0, tokens / r.token_budget)
        per_step = tokens / steps
        covered = r.shape.covered_experts(per_step)
        roof = max(covered * r.expert_bytes_per_covered * steps / r.peak_bw, r.expert_peak_seconds_per_token * tokens)
        assert r.expert_curve is not None
        eff = r.expert_curve(per_step * r.shape.experts_per_token / covered)
        assert step.experts == pytest.approx(roof / eff)
        # Only the expert term changes; the other kernels keep the fitted model.
        other = plain.step(batch, work)
        assert step.linear == pytest.approx(other.linear) and step.attention == pytest.approx(other.attention)
        assert step.experts != pytest.approx(other.experts)


@settings(max_examples=60, deadline=None)
@given(
    config=st.sampled_from(
        [
            ("mixtral-8x7b", "h100", 2),
            ("deepseek-r1", "h200", 8),
            ("gpt-oss-120b", "h100", 1),
            ("qwen3-30b-a3b", "l40s", 1),
            ("kimi-k2", "gb200", 16),
            ("llama-4-maverick", "b200", 8),
        ]
    ),
    batch=st.integers(min_value=1, max_value=2000),
    precision=st.sampled_from([None, Precision.FP8]),
)
def test_measured_experts_keep_step_time_monotone_in_batch(
    config: tuple[str, str, int], batch: int, precision: Precision | None
) -> None:
    model, acc, chips = config
    est = estimate_replica(
        CAT,
        model_id=model,
        accelerator_id=acc,
        chips=chips,
        input_tokens=1000,
        output_tokens=500,
        precision=precision,
    )
    if not est.fits:
        return
    work = Workload(1000, 500)
    a, b = est.replica.step(batch, work), est.replica.step(batch + 1, work)
    assert b.total >= a.total
