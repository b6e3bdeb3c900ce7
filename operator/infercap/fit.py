"""Fitting the per-family efficiency factors to measured throughputs (dev-time; no runtime caller).

A bounded coordinate (pattern) search, pure Python and deterministic: it starts every fit from the same
neutral point (the typical-engine priors, mid-range elsewhere), never from previously fitted values, so
that a fit on a subset of the rows (a cross-validation fold) knows nothing about the rows left out.
`hack/calibrate.py` runs it on all rows to produce `data/efficiency.yaml`; `crossval` runs it per fold.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, replace

from infercap import calibration
from infercap.core.catalog import Catalog, FamilyEfficiency


@dataclass(frozen=True)
class Param:
    """One fitted factor: its bounds and whether it is searched on a log scale."""

    low: float
    high: float
    log: bool = False
    integer: bool = False

    def to_x(self, v: float) -> float:
        v = min(max(v, self.low), self.high)
        return math.log(v) if self.log else v

    def from_x(self, x: float) -> float:
        v = math.exp(x) if self.log else x
        v = min(max(v, self.low), self.high)
        return float(round(v)) if self.integer else v

    @property
    def x_bounds(self) -> tuple[float, float]:
        return self.to_x(self.low), self.to_x(self.high)


# Physical ranges of every fitted factor (infercap.api.catalog.Efficiency).
PARAMS: dict[str, Param] = {
    "memory_bandwidth_utilization": Param(0.40, 0.92),
    "flops_utilization": Param(0.30, 0.80),
    "gemm_half_tiles": Param(4.0, 2000.0, log=True),
    "step_overhead_us_per_layer": Param(0.0, 30.0),
    "attention_us_per_sequence_layer": Param(0.0, 0.5),
    "comm_latency_us": Param(2.0, 15.0, log=True),
    "comm_bandwidth_utilization": Param(0.4, 1.0),
    "max_batch": Param(256, 2048, log=True, integer=True),
    "max_tokens_per_step": Param(2048, 16384, log=True, integer=True),
}
# A weak prior toward typical well-tuned-engine efficiencies (REFERENCE.md D.1): the fit leaves them only
# where many rows agree, so predictions for models and sizes outside the rows stay physical.
PRIORS = {"memory_bandwidth_utilization": 0.80, "flops_utilization": 0.60}
PRIOR_WEIGHT = 0.05
# Factors a family other than the reference fits: hardware ones; engine-level ones (batch caps, step
# budgets, per-sequence costs) come from the reference family, which has the most rows.
HARDWARE = ["memory_bandwidth_utilization", "flops_utilization", "gemm_half_tiles", "comm_bandwidth_utilization"]
# Below this many rows a family fits only its bandwidth and FLOP utilizations.
FEW_ROWS = 40


def neutral_start() -> dict[str, float]:
    """Where every fit starts: the priors, else the middle of the range (geometric where log-scaled)."""
    out: dict[str, float] = {}
    for name, p in PARAMS.items():
        lo, hi = p.x_bounds
        out[name] = PRIORS.get(name, p.from_x((lo + hi) / 2))
    return out


def with_family(cat: Catalog, family: str, **changes: float) -> Catalog:
    """A catalog where `family` (and every family that borrows it) has these factors."""
    fam = cat.families[family]
    eff = fam.efficiency.model_copy(update={k: (round(v) if PARAMS[k].integer else v) for k, v in changes.items()})
    families = dict(cat.families)
    families[family] = FamilyEfficiency(eff, fam.calibrated)
    for name, f in cat.families.items():
        if f.borrowed_from == family:
            families[name] = replace(f, efficiency=eff)
    return Catalog(cat.models, cat.accelerators, families, cat.overridden, cat.kernels)


def borrow(cat: Catalog, family: str, source: str) -> Catalog:
    """A catalog where `family` uses `source`'s factors (as families without measurements do)."""
    families = dict(cat.families)
    families[family] = FamilyEfficiency(cat.families[source].efficiency, calibrated=False, borrowed_from=source)
    return Catalog(cat.models, cat.accelerators, families, cat.overridden, cat.kernels)


def best_rows(rows: Iterable[calibration.Row]) -> list[calibration.Row]:
    """One row per configuration: the highest (newest-engine) measurement. The same configuration
    measured on several engine releases can differ 2x; newer engines are faster."""
    by: dict[tuple[object, ...], calibration.Row] = {}
    for r in rows:
        key = (r.model, r.accelerator, r.chips, r.precision, r.input_tokens, r.output_tokens)
        if key not in by or r.measured > by[key].measured:
            by[key] = r
    return list(by.values())


def loss(cat: Catalog, rows: Sequence[calibration.Row]) -> float:
    """Mean absolute log error; infinite when more than a tenth of the rows stop fitting."""
    res = calibration.predict(cat, rows)
    if len(res) < len(rows) * 0.9:
        return math.inf
    return statistics.fmean(abs(math.log(r.predicted / r.row.measured)) for r in res)


def pattern_search(
    objective: Callable[[list[float]], float],
    x0: list[float],
    bounds: list[tuple[float, float]],
    sweeps: int = 6,
    shrink: float = 0.5,
) -> tuple[list[float], float]:
    """Bounded coordinate search: try +/- step on each coordinate, keep improvements, shrink the steps
    after each sweep. Starts at a quarter of each range; `sweeps` sweeps (2 evaluations per coordinate
    each, plus a repeat in the improving direction)."""
    x = list(x0)
    best = objective(x)
    steps = [(hi - lo) / 4 for lo, hi in bounds]
    for _ in range(sweeps):
        for i, (lo, hi) in enumerate(bounds):
            for direction in (1.0, -1.0):
                moved = False
                while True:
                    trial = list(x)
                    trial[i] = min(max(x[i] + direction * steps[i], lo), hi)
                    if trial[i] == x[i]:
                        break
                    value = objective(trial)
                    if value < best - 1e-9:
                        x, best, moved = trial, value, True
                    else:
                        break
                if moved:
                    break
        steps = [s * shrink for s in steps]
    return x, best


def fit_family(
    cat: Catalog, family: str, rows: Sequence[calibration.Row], reference: str | None, sweeps: int = 6
) -> tuple[Catalog, float]:
    """Fit one family's factors to its rows. The reference family (None) fits every factor from the
    neutral start; other families start from the reference's factors and fit the hardware ones."""
    if reference is None:
        start = neutral_start()
        names = list(PARAMS)
    else:
        ref = cat.families[reference].efficiency
        start = {k: float(getattr(ref, k)) for k in PARAMS}
        names = HARDWARE if len(rows) >= FEW_ROWS else HARDWARE[:2]
        for k, v in PRIORS.items():  # hardware utilizations restart from the priors, not the reference's
            start[k] = v
    cat = with_family(cat, family, **start)

    def params(x: list[float]) -> dict[str, float]:
        return {n: PARAMS[n].from_x(v) for n, v in zip(names, x, strict=True)}

    def objective(x: list[float]) -> float:
        p = params(x)
        prior = sum(PRIOR_WEIGHT * math.log(p[k] / v) ** 2 for k, v in PRIORS.items() if k in p)
        return loss(with_family(cat, family, **p), rows) + prior

    x0 = [PARAMS[n].to_x(start[n]) for n in names]
    x, value = pattern_search(objective, x0, [PARAMS[n].x_bounds for n in names], sweeps=sweeps)
    return with_family(cat, family, **params(x)), value


def families_of(cat: Catalog, rows: Iterable[calibration.Row]) -> dict[str, list[calibration.Row]]:
    out: dict[str, list[calibration.Row]] = {}
    for r in rows:
        out.setdefault(cat.accelerators[r.accelerator].family, []).append(r)
    return out


def fit_catalog(
    cat: Catalog,
    rows: Sequence[calibration.Row],
    families: Iterable[str] | None = None,
    sweeps: int = 6,
    log: Callable[[str], None] | None = None,
) -> Catalog:
    """Fit every calibrated family that has rows; the family with the most rows is the reference.
    Calibrated families without rows (a held-out family) borrow the reference's factors, as families
    without measurements do in the shipped catalog."""
    by_family = families_of(cat, rows)
    wanted = set(families) if families is not None else {f for f, v in cat.families.items() if v.calibrated}
    fitted = sorted((f for f in wanted if f in by_family), key=lambda f: (-len(by_family[f]), f))
    if not fitted:
        return cat
    reference = fitted[0]
    for family in fitted:
        cat, value = fit_family(cat, family, by_family[family], None if family == reference else reference, sweeps)
        if log:
            log(f"{family}: {len(by_family[family])} rows, loss {value:.4f}")
    for family in sorted(wanted - set(fitted)):
        cat = borrow(cat, family, reference)
    return cat
