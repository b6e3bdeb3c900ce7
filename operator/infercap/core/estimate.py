"""What one fixed replica configuration sustains: the `infercap estimate` question, and the unit the
planner evaluates for every candidate."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from infercap.api.catalog import AcceleratorProfileSpec, ModelProfileSpec
from infercap.api.measured import MeasuredPoint
from infercap.api.types import Precision
from infercap.core import measured
from infercap.core.catalog import Catalog
from infercap.core.compute import Memory, Performance, Replica, Workload
from infercap.core.errors import PlanError
from infercap.core.shape import ModelShape


class Source(StrEnum):
    """Where an estimate comes from."""

    ANALYTIC = "analytic"  # physics with efficiency factors not fitted to this family
    CALIBRATED = "calibrated"  # physics with factors fitted to measurements of this family
    # calibrated, and the MoE expert kernels from measured kernel tables of this accelerator (kernels.yaml)
    KERNEL_MEASURED = "kernel-measured"
    MEASURED = "measured"  # a measured profile supplied by a ModelProfile
    PUBLISHED = "published"  # figures as a public source states them


@dataclass(frozen=True)
class Estimate:
    model: ModelProfileSpec
    accelerator: AcceleratorProfileSpec
    chips: int
    shape: ModelShape
    workload: Workload
    memory: Memory
    performance: Performance | None
    source: Source
    replica: Replica
    measured: measured.MeasuredFit | None = None  # set when the model profile has points for this size
    correction: float | None = None  # step-time factor from online calibration, when one was applied

    @property
    def fits(self) -> bool:
        return self.memory.fits


def check_workload(
    model: ModelProfileSpec, input_tokens: int, output_tokens: int, input_field: str, output_field: str
) -> Workload:
    """Validate request lengths against the model; the field names (or flags) go into messages."""
    if input_tokens < 1:
        raise PlanError("InvalidTraffic", f"must be at least 1, got {input_tokens}", input_field)
    if output_tokens < 1:
        raise PlanError("InvalidTraffic", f"must be at least 1, got {output_tokens}", output_field)
    if input_tokens + output_tokens > model.max_context_tokens:
        raise PlanError(
            "ContextTooLong",
            f"inputTokens + outputTokens = {input_tokens + output_tokens} exceeds {model.id}'s context "
            f"of {model.max_context_tokens} tokens; shorten the requests or pick a longer-context model",
            input_field,
        )
    if model.max_output_tokens is not None and output_tokens > model.max_output_tokens:
        raise PlanError(
            "ContextTooLong",
            f"{model.id} generates at most {model.max_output_tokens} tokens per request",
            output_field,
        )
    return Workload(input_tokens, output_tokens)


def source_for(catalog: Catalog, acc: AcceleratorProfileSpec) -> Source:
    return Source.CALIBRATED if catalog.efficiency(acc).calibrated else Source.ANALYTIC


def evaluate(
    catalog: Catalog,
    model: ModelProfileSpec,
    shape: ModelShape,
    acc: AcceleratorProfileSpec,
    chips: int,
    work: Workload,
    min_stream_tokens_per_second: float | None,
    time_factor: float = 1.0,
) -> Estimate:
    """Evaluate one candidate (shape and workload already validated). `time_factor` multiplies every step
    time (online calibration: what this deployment's replicas were seen to do against the model)."""
    replica = catalog.replica(shape, acc, chips)
    memory = replica.memory(work)
    perf = replica.performance(work, min_stream_tokens_per_second) if memory.fits else None
    source = Source.KERNEL_MEASURED if replica.expert_curve is not None else source_for(catalog, acc)
    if time_factor != 1.0 and perf is not None:
        # The correction was learnt against the model itself, so it replaces measured points rather than
        # stacking on them; slower steps also lower the batch that meets a per-stream speed floor.
        if min_stream_tokens_per_second is not None:
            perf = replica.performance(work, min_stream_tokens_per_second * time_factor)
        perf = perf.scaled(time_factor) if perf is not None else None
        return Estimate(model, acc, chips, shape, work, memory, perf, source, replica, correction=time_factor)
    points = measured.matching(model.measured, acc.id, chips, shape.precision) if model.measured else []
    if not points or perf is None:
        return Estimate(model, acc, chips, shape, work, memory, perf, source, replica)
    m = _measured_fit(replica, points, work, perf.batch)
    if m.covered and min_stream_tokens_per_second is not None:
        # The measured level changes which batch meets the speed floor: search again at the corrected
        # speed, and check the points still cover the batch found.
        assert m.ratio is not None
        again = replica.performance(work, min_stream_tokens_per_second / m.ratio)
        if again is None:
            return Estimate(model, acc, chips, shape, work, memory, None, Source.MEASURED, replica, m)
        m_again = _measured_fit(replica, points, work, again.batch)
        if not m_again.covered:
            # The corrected batch falls outside the measured range: keep the model's own answer.
            return Estimate(model, acc, chips, shape, work, memory, perf, source, replica, m_again)
        perf, m = again, m_again
    if m.covered:
        assert m.ratio is not None
        perf, source = perf.scaled(1 / m.ratio), Source.MEASURED
    return Estimate(model, acc, chips, shape, work, memory, perf, source, replica, m)


def _measured_fit(replica: Replica, points: list[MeasuredPoint], work: Workload, batch: int) -> measured.MeasuredFit:
    def predict(input_tokens: float, output_tokens: float, concurrency: float) -> float:
        b = max(1, round(concurrency))
        w = Workload(max(1, round(input_tokens)), max(1, round(output_tokens)))
        return b / replica.step(b, w).total

    return measured.fit(points, work.input_tokens, work.output_tokens, batch, predict)


def estimate_replica(
    catalog: Catalog,
    *,
    model_id: str,
    accelerator_id: str,
    chips: int,
    input_tokens: int,
    output_tokens: int,
    precision: Precision | None = None,
    kv_precision: Precision | None = None,
    min_stream_tokens_per_second: float | None = None,
) -> Estimate:
    """One replica of `model_id` on `chips` chips of `accelerator_id`. With no speed floor the batch is
    as large as memory and the engine allow: the maximum offline throughput."""
    model = catalog.model(model_id, "--model")
    acc = catalog.accelerator(accelerator_id, "--accelerator")
    if chips < 1:
        raise PlanError("InvalidChips", f"must be at least 1, got {chips}", "--chips")
    if min_stream_tokens_per_second is not None and min_stream_tokens_per_second <= 0:
        raise PlanError(
            "InvalidSlo",
            f"must be positive, got {min_stream_tokens_per_second}",
            "--stream-tokens-per-second",
        )
    work = check_workload(model, input_tokens, output_tokens, "--input-tokens", "--output-tokens")
    shape = catalog.shape(model, precision, kv_precision)
    return evaluate(catalog, model, shape, acc, chips, work, min_stream_tokens_per_second)
