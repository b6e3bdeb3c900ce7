"""Measured profiles in the compute model: where a ModelProfile's benchmark points cover a configuration,
they set its level and the physics only its shape.

For each measured point the model predicts the same run (accelerator, chips, lengths, concurrency as the
batch); the ratio measured / predicted is the model's error there. A configuration is covered when its
lengths and batch lie inside the measured ranges (10 % slack on lengths): the ratio is interpolated
(inverse-distance in log lengths and log concurrency, exact at a point) and multiplies the predicted
throughput. Outside the ranges the points are not used, and the reason says why: never extrapolated.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from infercap.api.measured import MeasuredPoint
from infercap.api.types import Precision

_LENGTH_SLACK = 0.10


@dataclass(frozen=True, slots=True)
class MeasuredFit:
    """The outcome of looking for measured points for one configuration."""

    ratio: float | None  # measured / predicted throughput; None when not covered
    points: int  # points for this accelerator, size and precision
    reason: str  # why the points were (not) used

    @property
    def covered(self) -> bool:
        return self.ratio is not None


def matching(
    points: Sequence[MeasuredPoint], accelerator: str, chips: int, precision: Precision
) -> list[MeasuredPoint]:
    """Points measured on this accelerator, size and weight precision (None in a point = native)."""
    return [
        p
        for p in points
        if p.accelerator == accelerator and p.chips == chips and (p.precision is None or p.precision == precision)
    ]


def _inside(value: float, values: list[float], slack: float) -> bool:
    return min(values) * (1 - slack) <= value <= max(values) * (1 + slack)


def fit(
    points: Sequence[MeasuredPoint],
    input_tokens: float,
    output_tokens: float,
    batch: float,
    predict: Callable[[float, float, float], float],
) -> MeasuredFit:
    """Interpolated measured/predicted ratio at (input, output, batch); `predict(input, output, batch)`
    is the model's output tokens/s for one replica."""
    if not points:
        return MeasuredFit(None, 0, "no measured points for this accelerator and size")
    ins = [p.input_tokens for p in points]
    outs = [p.output_tokens for p in points]
    conc = [p.concurrency for p in points]
    for name, value, values, slack in (
        ("input tokens", input_tokens, ins, _LENGTH_SLACK),
        ("output tokens", output_tokens, outs, _LENGTH_SLACK),
        ("batch", batch, conc, 0.0),
    ):
        if not _inside(value, values, slack):
            return MeasuredFit(
                None,
                len(points),
                f"{name} {value:,.0f} outside the measured {min(values):,.0f}-{max(values):,.0f}: not extrapolated",
            )
    weights: list[tuple[float, float]] = []
    for p in points:
        predicted = predict(p.input_tokens, p.output_tokens, p.concurrency)
        if not predicted > 0:
            continue
        log_ratio = math.log(p.output_tokens_per_second / predicted)
        d = math.dist(
            (math.log(input_tokens), math.log(output_tokens), math.log(batch)),
            (math.log(p.input_tokens), math.log(p.output_tokens), math.log(p.concurrency)),
        )
        if d < 1e-9:
            return MeasuredFit(math.exp(log_ratio), len(points), "at a measured point")
        weights.append((1 / d**2, log_ratio))
    if not weights:
        return MeasuredFit(None, len(points), "the model cannot run the measured configurations")
    total = sum(w for w, _ in weights)
    ratio = math.exp(sum(w * r for w, r in weights) / total)
    return MeasuredFit(ratio, len(points), f"interpolated between {len(points)} measured points")
