"""Measured kernel efficiency curves (catalog data in infercap/data/kernels.yaml).

Each curve gives the achieved fraction of a kernel's roofline as a function of one size variable, as
distilled by hack/distill_kernels.py from AIConfigurator's measured tables (Apache-2.0). The compute
model divides its roofline time by the curve where the accelerator has one, instead of using the fitted
family factors for that kernel. Pure data and interpolation: no I/O here.
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from infercap.api.types import Precision


@dataclass(frozen=True, slots=True)
class Curve:
    """Piecewise-linear in log2(x), clamped at both ends (the tables' range; never extrapolated)."""

    log_x: tuple[float, ...]
    y: tuple[float, ...]

    @classmethod
    def from_points(cls, xs: list[float], ys: list[float]) -> Curve:
        if len(xs) != len(ys) or not xs:
            raise ValueError("a curve needs as many x as y values, at least one")
        if any(x <= 0 for x in xs) or any(not 0 < y <= 1 for y in ys):
            raise ValueError("curve x must be positive and efficiencies in (0, 1]")
        if sorted(xs) != xs:
            raise ValueError("curve x must be increasing")
        return cls(tuple(math.log2(x) for x in xs), tuple(ys))

    def __call__(self, x: float) -> float:
        lx = math.log2(max(x, 1e-9))
        xs, ys = self.log_x, self.y
        if lx <= xs[0]:
            return ys[0]
        if lx >= xs[-1]:
            return ys[-1]
        i = bisect.bisect_right(xs, lx)
        w = (lx - xs[i - 1]) / (xs[i] - xs[i - 1])
        return ys[i - 1] + w * (ys[i] - ys[i - 1])


@dataclass(frozen=True, slots=True)
class SizedCurves:
    """Curves for several kernel sizes (log2 of a size variable), interpolated linearly in log2(size)
    between the two nearest and clamped outside the measured sizes."""

    log_size: tuple[float, ...]
    curves: tuple[Curve, ...]

    def __call__(self, size: float, x: float) -> float:
        ls = math.log2(max(size, 1.0))
        sizes, curves = self.log_size, self.curves
        if ls <= sizes[0]:
            return curves[0](x)
        if ls >= sizes[-1]:
            return curves[-1](x)
        i = bisect.bisect_right(sizes, ls)
        w = (ls - sizes[i - 1]) / (sizes[i] - sizes[i - 1])
        return (1 - w) * curves[i - 1](x) + w * curves[i](x)

    def at(self, size: float) -> Curve:
        """The curve of one size (same values as calling with that size): a replica evaluates it per step."""
        xs = sorted({lx for c in self.curves for lx in c.log_x})
        return Curve(tuple(xs), tuple(self(size, 2.0**lx) for lx in xs))


@dataclass(frozen=True, slots=True)
class KernelCurves:
    """The measured curves of one accelerator."""

    engine: str
    # Grouped-GEMM MoE, by expert precision: fraction of the roofline vs (weight elements of one expert
    # on one chip, routed tokens per active expert).
    grouped_gemm: Mapping[Precision, SizedCurves]


def parse_kernels(doc: Mapping[str, Any] | None) -> dict[str, KernelCurves]:
    """Parse kernels.yaml: accelerator id -> its curves."""
    if not doc:
        return {}
    out: dict[str, KernelCurves] = {}
    for acc_id, entry in doc.get("accelerators", {}).items():
        grouped: dict[Precision, SizedCurves] = {}
        for p, sized in entry.get("groupedGemm", {}).items():
            ordered = sorted(sized, key=lambda c: float(c["expertElements"]))
            grouped[Precision(p)] = SizedCurves(
                tuple(math.log2(float(c["expertElements"])) for c in ordered),
                tuple(Curve.from_points(list(c["tokensPerExpert"]), list(c["efficiency"])) for c in ordered),
            )
        out[acc_id] = KernelCurves(str(entry.get("engine", "")), grouped)
    return out
