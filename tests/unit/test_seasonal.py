"""The seasonal forecast: cycles found where the demand has them and not read into aperiodic demand;
the same phase of past cycles predicts the next delay; the policy uses it only when its backtest beats
the non-seasonal predictor, and on a periodic trace it then costs less at the same SLO attainment."""

from __future__ import annotations

import dataclasses
import math
import random
from decimal import Decimal

from hypothesis import given, settings
from hypothesis import strategies as st

from infercap.core import seasonal
from infercap.core import simulate as sim
from infercap.core.autoscale import PolicyConfig, Sample, forecast
from infercap.traces import poisson

# Demand sampled every 15 s for an hour: 10 req/s, 40 for two minutes of every ten.
SPIKES = [Sample(float(t), 40.0 if (t % 600) < 120 else 10.0) for t in range(0, 3600, 15)]
CFG = PolicyConfig(provisioning_seconds=120)


def test_period_of_a_noisy_cycle() -> None:
    rng = random.Random(1)
    xs = [10 + 5 * math.sin(2 * math.pi * i / 40) + rng.gauss(0, 1) for i in range(240)]
    assert seasonal.period(xs, 10, 120) in (39, 40, 41)


def test_no_period_in_noise_a_ramp_or_random_spikes() -> None:
    rng = random.Random(2)
    assert seasonal.period([rng.gauss(10, 1) for _ in range(240)], 10, 120) is None
    # A ramp is correlated with itself at every lag until it is detrended.
    assert seasonal.period([i + rng.gauss(0, 1) for i in range(240)], 10, 120) is None
    starts = set(rng.sample(range(240), 24))
    spikes = [40.0 if any(i - s in range(8) for s in starts) else 10.0 for i in range(240)]
    assert seasonal.period(spikes, 10, 120) is None
    assert seasonal.period([5.0] * 240, 10, 120) is None, "a constant has no cycle"


@settings(max_examples=100, deadline=None)
@given(st.lists(st.floats(0, 100, allow_nan=False), min_size=1, max_size=40), st.integers(1, 5), st.integers(0, 4))
def test_property_phase_peaks_is_the_most_over_past_cycles(xs: list[float], extra: int, horizon: int) -> None:
    lag = horizon + extra
    out = seasonal.phase_peaks(xs, lag, horizon)
    for i, v in enumerate(out):
        windows = [xs[j : j + horizon + 1] for j in range(i - lag, -1, -lag)]
        assert v == (max(max(w) for w in windows) if windows else None)
        # Causal: every value it draws on lies before i.
        assert all(j + horizon < i for j in range(i - lag, -1, -lag))


def test_on_grid_holds_each_sample() -> None:
    assert seasonal.on_grid([0.0, 20.0, 25.0], [1.0, 2.0, 3.0], 0.0, 10.0, 4) == [1.0, 1.0, 2.0, 3.0]


def test_forecast_plans_from_the_same_phase_when_it_pays() -> None:
    off = PolicyConfig(provisioning_seconds=120, seasonal=False)
    plain = forecast(SPIKES, 3585.0, off)
    # Without the cycle, the cheapest lookback holds the spike level throughout.
    assert plain is not None and plain.period is None and plain.base + plain.rise == 40.0
    # Between spikes, with the next one more than a delay (and the rate's minute of lag) away: plan for
    # the base level.
    quiet = forecast([s for s in SPIKES if s.t <= 3360], 3360.0, CFG)
    assert quiet is not None and quiet.period == 600.0 and quiet.base + quiet.rise == 10.0
    # A delay before the next spike the same phase of the past cycles says it comes.
    before = forecast(SPIKES, 3585.0, CFG)
    assert before is not None and before.period == 600.0 and before.base + before.rise == 40.0


def test_forecast_stays_off_without_a_cycle() -> None:
    rng = random.Random(1)
    starts = set(rng.sample(range(240), 24))
    aperiodic = [Sample(i * 15.0, 40.0 if any(i - s in range(8) for s in starts) else 10.0) for i in range(240)]
    f = forecast(aperiodic, 3585.0, CFG)
    assert f is not None and f.period is None
    walk, x = [], 100.0
    for i in range(240):
        x = max(0.0, x + rng.gauss(0, 5))
        walk.append(Sample(i * 15.0, x))
    g = forecast(walk, 3585.0, CFG)
    assert g is not None and g.period is None


def _replay(arrivals: list[tuple[float, int, int]], setup: sim.Setup, cfg: PolicyConfig) -> sim.Outcome:
    series = sim.demand_series(arrivals)
    seconds = len(series)
    preroll = min(seconds, int(setup.provisioning_seconds + cfg.down_window_seconds + 2 * cfg.trend_window_seconds))
    ctl, n0 = sim.infercap_policy(list(series[seconds - preroll :]) + list(series), setup, cfg, preroll)
    return sim.replay("infercap", sim.requests_of(arrivals, setup), seconds, setup, ctl, n0)


def test_periodic_trace_costs_less_at_the_same_attainment() -> None:
    from tests.bench.bench_synthetic import synthetic_setup

    setup = synthetic_setup()  # 60 s provisioning delay, replicas of 10 slots at 5 req/s
    # A one-minute spike to 4x every ten minutes, for an hour.
    arrivals = poisson(lambda t: 20 * (4 if int(t // 60) % 10 == 3 else 1), 3600, seed=5, output_tokens=100)
    base = PolicyConfig(provisioning_seconds=60, scale_down_stabilization_seconds=120, seconds_per_request=2.0)
    on = _replay(arrivals, setup, base)
    off = _replay(arrivals, setup, dataclasses.replace(base, seasonal=False))
    print(f"\nseasonal: {on.cost} at {on.attainment:.2%}; without: {off.cost} at {off.attainment:.2%}")
    assert on.cost < off.cost * Decimal("0.95"), "plans for the spikes only around them"
    assert on.attainment >= off.attainment - 1e-9
    # Both miss the first spikes (before the history holds a cycle, or a rise as large); once the
    # seasonal forecast is on, every later spike is planned for.
    late = [ok for ok, (t, _, _) in zip(on.ok, sorted(arrivals), strict=True) if t >= 1500]
    assert sum(late) / len(late) >= 0.995
