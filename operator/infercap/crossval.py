"""Out-of-sample accuracy of the compute model: leave-one-model-out and leave-one-family-out folds.

Each fold refits the efficiency factors (infercap.fit, from its neutral start) on the rows outside the
fold and predicts the rows inside it, so the errors are those of a model or an accelerator family the
factors have never seen. Models with the same architecture (Llama 2 70B, 3.1 70B and 3.3 70B differ only
in vocabulary and context) are held out together: leaving one of them out would leave its twin in.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from infercap import calibration, fit
from infercap.core.catalog import Catalog

# Catalog models that are one architecture for the compute model (held out together).
SAME_ARCHITECTURE: dict[str, str] = {
    "llama-2-70b": "llama-70b",
    "llama-3.1-70b": "llama-70b",
    "llama-3.3-70b": "llama-70b",
    "deepseek-r1": "deepseek-v3",
}


def model_group(model_id: str) -> str:
    return SAME_ARCHITECTURE.get(model_id, model_id)


@dataclass(frozen=True)
class Stats:
    """Error figures of a set of predictions."""

    count: int
    median: float  # median |predicted / measured - 1|
    p90: float
    worst_ratio: float  # max over rows of max(predicted/measured, measured/predicted)
    median_signed: float

    def line(self) -> str:
        if not self.count:
            return "no rows"
        return (
            f"n={self.count:4}  median {self.median:6.1%}  p90 {self.p90:6.1%}  worst {self.worst_ratio:5.2f}x  "
            f"signed {self.median_signed:+6.1%}"
        )


def stats(results: Iterable[calibration.Result]) -> Stats:
    res = list(results)
    if not res:
        return Stats(0, math.nan, math.nan, math.nan, math.nan)
    errs = [r.error for r in res]
    abs_errs = sorted(abs(e) for e in errs)
    p90 = abs_errs[min(len(abs_errs) - 1, math.ceil(0.9 * len(abs_errs)) - 1)]
    worst = max(max(r.predicted / r.row.measured, r.row.measured / r.predicted) for r in res)
    return Stats(len(res), statistics.median(abs_errs), p90, worst, statistics.median(errs))


@dataclass(frozen=True)
class Report:
    """Predictions of one validation scheme (in-sample, or the pooled held-out folds)."""

    name: str
    results: list[calibration.Result]
    is_moe: Callable[[str], bool]
    # Rows the model could not predict (the configuration does not fit), per fold.
    missing: int = 0

    @property
    def all(self) -> Stats:
        return stats(self.results)

    @property
    def dense(self) -> Stats:
        return stats(r for r in self.results if not self.is_moe(r.row.model))

    @property
    def moe(self) -> Stats:
        return stats(r for r in self.results if self.is_moe(r.row.model))

    def lines(self) -> list[str]:
        return [
            f"{self.name:24} all   {self.all.line()}",
            f"{'':24} dense {self.dense.line()}",
            f"{'':24} MoE   {self.moe.line()}",
        ]


def _moe_test(cat: Catalog) -> Callable[[str], bool]:
    return lambda model_id: cat.models[model_id].architecture.moe is not None


def in_sample(cat: Catalog, rows: Sequence[calibration.Row]) -> Report:
    """Errors of `cat`'s factors on the rows they were fitted to."""
    res = calibration.predict(cat, rows)
    return Report("in-sample", res, _moe_test(cat), len(rows) - len(res))


def held_out(
    cat: Catalog,
    rows: Sequence[calibration.Row],
    key: Callable[[calibration.Row], str],
    name: str,
    sweeps: int = 6,
    log: Callable[[str], None] | None = None,
) -> Report:
    """Pool the predictions of every fold `key` defines, each from factors fitted without it."""
    folds = sorted({key(r) for r in rows})
    results: list[calibration.Result] = []
    missing = 0
    for fold in folds:
        train = [r for r in rows if key(r) != fold]
        test = [r for r in rows if key(r) == fold]
        fitted = fit.fit_catalog(cat, train, sweeps=sweeps)
        res = calibration.predict(fitted, test)
        missing += len(test) - len(res)
        results.extend(res)
        if log:
            log(f"{name} fold {fold}: {stats(res).line()}")
    return Report(name, results, _moe_test(cat), missing)


def leave_one_model_out(
    cat: Catalog, rows: Sequence[calibration.Row], sweeps: int = 6, log: Callable[[str], None] | None = None
) -> Report:
    return held_out(cat, rows, lambda r: model_group(r.model), "leave-one-model-out", sweeps, log)


def leave_one_family_out(
    cat: Catalog, rows: Sequence[calibration.Row], sweeps: int = 6, log: Callable[[str], None] | None = None
) -> Report:
    return held_out(cat, rows, lambda r: cat.accelerators[r.accelerator].family, "leave-one-family-out", sweeps, log)


def fit_rows(root: Path) -> list[calibration.Row]:
    """The rows the calibration fits: offline rows of both CSVs, the best per configuration, without
    the dstack runs (early-2025 engines; see README)."""
    base = root / "data"
    rows = calibration.load_rows(base / "calibration.csv") + calibration.load_rows(base / "calibration-extended.csv")
    return fit.best_rows(r for r in rows if "dstack" not in r.scenario)
