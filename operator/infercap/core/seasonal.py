"""Seasonal (periodic) demand forecasting for the autoscaling policy: find a cycle in the demand
history and predict the next provisioning delay from the same phase of past cycles.

Pure functions over a demand series on a uniform time grid (the policy resamples its samples onto one):
- `period`: the lag of the highest autocorrelation of the demand, if it stands well above what an
  aperiodic series shows (a floor on the coefficient and several standard errors of white noise);
- `phase_peaks`: for each grid point, the most demand any past cycle saw over the window that a plan
  made at that point must serve (from the same phase, one delay ahead).

Whether the seasonal predictor is used is decided by the policy's backtest (core.autoscale.forecast):
only when, over the history, it would have covered the same share of the demand as the non-seasonal
predictor while planning less.
"""

from __future__ import annotations

import math
from collections.abc import Sequence


def autocorrelation(xs: Sequence[float], lag: int) -> float:
    """The sample autocorrelation of xs at `lag` (mean removed); 0 for a constant series."""
    n = len(xs)
    if lag <= 0 or lag >= n:
        return 0.0
    m = sum(xs) / n
    den = sum((x - m) ** 2 for x in xs)
    if den <= 0:
        return 0.0
    return sum((xs[i] - m) * (xs[i + lag] - m) for i in range(n - lag)) / den


def period(xs: Sequence[float], min_lag: int, max_lag: int, min_autocorrelation: float = 0.5) -> int | None:
    """The lag in [min_lag, max_lag] (grid steps) where xs is most autocorrelated, or None when that
    coefficient is below `min_autocorrelation` or within four standard errors of white noise
    (1 / sqrt(n)): a cycle must stand out, not be read into noise. The series is detrended first (least
    squares line), so that a ramp, which is correlated with itself at every lag, is not taken for a
    cycle. At least two whole cycles must fit (max_lag is capped at half the series)."""
    n = len(xs)
    hi = min(max_lag, n // 2)
    if n < 4 or hi < max(1, min_lag):
        return None
    mt = (n - 1) / 2
    mx = sum(xs) / n
    var_t = sum((i - mt) ** 2 for i in range(n))
    slope = sum((i - mt) * (x - mx) for i, x in enumerate(xs)) / var_t
    resid = [x - mx - slope * (i - mt) for i, x in enumerate(xs)]
    best, best_r = None, -math.inf
    for lag in range(max(1, min_lag), hi + 1):
        r = autocorrelation(resid, lag)
        if r > best_r:
            best, best_r = lag, r
    if best is None or best_r < max(min_autocorrelation, 4 / math.sqrt(n)):
        return None
    return best


def phase_peaks(xs: Sequence[float], lag: int, horizon: int) -> list[float | None]:
    """[i] = the most of xs over [i - k lag, i - k lag + horizon] for every past cycle k >= 1 that lies
    wholly before i (None where no cycle does): what the same phase held over the window a plan made at
    i must cover. Needs lag > horizon, so that the window of the previous cycle has already been seen."""
    n = len(xs)
    if lag <= horizon:
        raise ValueError(f"the period ({lag}) must exceed the horizon ({horizon})")
    ahead = [max(xs[j : j + horizon + 1]) for j in range(n)]
    out: list[float | None] = [None] * n
    for i in range(lag, n):
        # The previous cycle's value, folded with every older one (ahead[i - lag] and out[i - lag]).
        prev = out[i - lag]
        out[i] = ahead[i - lag] if prev is None else max(prev, ahead[i - lag])
    return out


def on_grid(ts: Sequence[float], ds: Sequence[float], start: float, step: float, count: int) -> list[float]:
    """Demand at start + k step (k < count), holding each sample until the next (ts ascending); before
    the first sample, the first sample's value."""
    out: list[float] = []
    j = 0
    for k in range(count):
        t = start + k * step
        while j + 1 < len(ts) and ts[j + 1] <= t:
            j += 1
        out.append(ds[j])
    return out
