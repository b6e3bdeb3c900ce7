"""Online correction of the compute model from what the deployed replicas actually do.

The serving engine's metrics give, per replica, the running batch and the time per output token (or
the generated-token rate). The compute model predicts the step time at that same batch. Their ratio
is the model's error for this deployment; a one-dimensional Kalman filter on its logarithm smooths it
into a correction factor that multiplies the predicted step time (and divides the replica capacity).

Safety: the factor stays inside fixed bounds whatever the samples say; samples at low load (a batch too
small, or too few requests) are ignored, since a nearly idle replica's step time is weight reads and
fixed costs and says nothing about its capacity; each sample's pull is limited by the filter's gain.
Pure functions; the operator keeps the state in status and feeds it samples.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

from infercap.core.compute import Replica, Workload

_INITIAL_VARIANCE = 0.05  # confidence in "no correction" before any sample (log units^2)


@dataclass(frozen=True, slots=True)
class Sample:
    """One observation of a replica under load, averaged over a scrape window."""

    batch: float  # mean running requests per replica
    observed_step_s: float  # mean time per output token (one decode step)
    predicted_step_s: float  # the model's step time at the same batch and request shape

    @property
    def ratio(self) -> float:
        return self.observed_step_s / self.predicted_step_s


@dataclass(frozen=True, slots=True)
class FilterParams:
    """Tuning of the filter; the defaults suit samples every 30-60 s."""

    min_batch: float = 8.0  # below this the replica is too idle to say anything about capacity
    min_ratio: float = 0.5  # the correction never makes the model more than 2x faster...
    max_ratio: float = 2.0  # ...or slower
    process_variance: float = 0.0005  # how fast the true ratio may drift per sample (log units^2)
    measurement_variance: float = 0.01  # noise of one sample (log units^2, ~10 % standard deviation)
    initial_variance: float = _INITIAL_VARIANCE

    def __post_init__(self) -> None:
        if not 0 < self.min_ratio <= 1 <= self.max_ratio:
            raise ValueError("bounds must satisfy 0 < min_ratio <= 1 <= max_ratio")
        if self.process_variance < 0 or self.measurement_variance <= 0 or self.initial_variance <= 0:
            raise ValueError("variances must be positive (process variance may be 0)")


@dataclass(frozen=True, slots=True)
class Correction:
    """Filter state: the log of the step-time ratio and its variance."""

    log_ratio: float = 0.0
    variance: float = _INITIAL_VARIANCE
    samples: int = 0  # samples used
    ignored: int = 0  # samples left out (low load or invalid)

    @property
    def factor(self) -> float:
        """Multiply predicted step times by this (divide predicted capacity by it)."""
        return math.exp(self.log_ratio)

    def capacity(self, predicted: float) -> float:
        """A predicted throughput (requests/s or tokens/s) corrected by the factor."""
        return predicted / self.factor


def usable(sample: Sample, params: FilterParams) -> bool:
    """Whether a sample says something about capacity: finite, positive, and under load."""
    values = (sample.batch, sample.observed_step_s, sample.predicted_step_s)
    if not all(math.isfinite(v) and v > 0 for v in values):
        return False
    return sample.batch >= params.min_batch


def update(state: Correction, sample: Sample, params: FilterParams | None = None) -> Correction:
    """One Kalman step on log(observed / predicted), the measurement clipped to the bounds."""
    p = params or FilterParams()
    if not usable(sample, p):
        return replace(state, ignored=state.ignored + 1)
    lo, hi = math.log(p.min_ratio), math.log(p.max_ratio)
    z = min(max(math.log(sample.ratio), lo), hi)
    prior_var = state.variance + p.process_variance
    gain = prior_var / (prior_var + p.measurement_variance)
    x = state.log_ratio + gain * (z - state.log_ratio)
    return Correction(
        log_ratio=min(max(x, lo), hi),
        variance=(1 - gain) * prior_var,
        samples=state.samples + 1,
        ignored=state.ignored,
    )


def run(samples: list[Sample], params: FilterParams | None = None, state: Correction | None = None) -> Correction:
    """Fold a sequence of samples into the filter."""
    p = params or FilterParams()
    s = state or Correction(variance=p.initial_variance)
    for sample in samples:
        s = update(s, sample, p)
    return s


def prediction_error(sample: Sample) -> float:
    """Signed error of the model's capacity at the observed batch: +0.3 means the model promised 30 %
    more than the replica delivers (predicted capacity / observed capacity - 1)."""
    return sample.ratio - 1


def engine_sample(
    replica: Replica,
    work: Workload,
    *,
    replicas: int,
    running_requests: float,
    generation_tokens_per_second: float,
    time_per_output_token_s: float | None = None,
) -> Sample | None:
    """A sample from a serving engine's metrics summed over the deployment's replicas (vLLM:
    `vllm:num_requests_running`, the rate of `vllm:generation_tokens_total`, and the mean of
    `vllm:time_per_output_token_seconds` when scraped; SGLang's equivalents). The step time is the
    engine's own TPOT when given, else batch / per-replica token rate; the prediction is the model's
    step at the same batch and request shape. None when the numbers cannot describe a loaded replica."""
    if replicas < 1 or not running_requests > 0 or not generation_tokens_per_second > 0:
        return None
    batch = running_requests / replicas
    observed = time_per_output_token_s or batch / (generation_tokens_per_second / replicas)
    predicted = replica.step(max(1, round(batch)), work).total
    return Sample(batch=batch, observed_step_s=observed, predicted_step_s=predicted)
