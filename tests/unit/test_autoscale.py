"""The autoscaling policy: up at once, down slowly and stepwise, never flapping, holding on stale data."""

from __future__ import annotations

import dataclasses
import itertools
import os
import random

from hypothesis import given, settings
from hypothesis import strategies as st

from infercap.core.autoscale import (
    Decision,
    PolicyConfig,
    Sample,
    State,
    decide,
    forecast,
    growth,
    peakedness,
    planning_headroom,
    staffed,
    up_terms,
)
from infercap.core.sizes import replicas_for

CFG = PolicyConfig()
# With the SLO-derived margin on: a request holds a batch slot 2 s, arrivals twice as bursty as Poisson.
SLO_CFG = PolicyConfig(seconds_per_request=2.0, peakedness=2.0)


def run(series: list[float], step: float = 15.0, cfg: PolicyConfig = CFG, spend: bool = False) -> list[Decision]:
    """Feed one sample per `step` seconds; return every decision. `spend`: an SLI that measured no
    misses is passed, so the error budget loosens the margins as the hour fills."""
    samples: list[Sample] = []
    state = State()
    out = []
    for i, d in enumerate(series):
        t = i * step
        samples.append(Sample(t, d))
        dec = decide(samples, t, state, cfg, (step * d, 0.0) if spend else None)
        state = dec.state
        out.append(dec)
    return out


def replicas(decisions: list[Decision], capacity: float = 10.0) -> list[int]:
    return [replicas_for(d.planned, capacity, 0.2) for d in decisions]


def changes(xs: list[int]) -> int:
    return sum(1 for a, b in itertools.pairwise(xs) if a != b)


def test_scales_up_at_once() -> None:
    decisions = run([10.0] * 20 + [50.0])
    assert decisions[-1].reason == "ScaleUp" and decisions[-1].planned >= 50


def test_rising_trend_is_planned_ahead_but_capped() -> None:
    # Five minutes of history (too few whole spans: the cold-start forecast): the plan covers the rise
    # the history has shown within a span (38), and no more.
    ramp = [10.0 + 2 * i for i in range(20)]
    last = run(ramp)[-1]
    assert last.planned > ramp[-1], "plans for the demand expected when new capacity is ready"
    assert last.planned <= max(ramp) + (max(ramp) - min(ramp)) + 1e-9
    # With a full hour of flat history (rises of nothing), the straight line of a breakout is capped by
    # forecast_max_growth over the recent peak.
    flat_then_ramp = [10.0] * 240 + [10.0 + 2 * i for i in range(20)]
    last = run(flat_then_ramp)[-1]
    assert flat_then_ramp[-1] < last.planned <= max(flat_then_ramp) * (1 + CFG.forecast_max_growth) + 1e-9


def test_cold_start_covers_the_rise_seen_so_far_uncapped() -> None:
    # A new deployment: two minutes at 10 req/s, then 100. The history's peak (100) would cap a rise
    # learned from whole spans; minutes of history say little of how far demand goes, so the rise seen
    # so far (90) is planned on top of the recent peak (was: the history's peak x 1.25, 125).
    samples = [Sample(float(t), 10.0 if t < 120 else 100.0) for t in range(0, 300, 15)]
    f = forecast(samples, 285.0, PolicyConfig())
    assert f is not None and f.partial and f.base == 100.0 and f.rise == 90.0
    terms = up_terms(samples, 285.0, PolicyConfig())
    assert terms.rise == 90.0 and terms.target >= 190.0
    # Traffic that starts from nothing: for those minutes the plan is about twice its first level (README).
    launch = [Sample(float(t), 0.0 if t < 30 else 50.0) for t in range(0, 300, 15)]
    assert up_terms(launch, 285.0, PolicyConfig()).target == 100.0
    # Nothing rose yet: the no-evidence default, forecast_max_growth of the recent peak.
    flat = [Sample(float(t), 40.0) for t in range(0, 120, 15)]
    g = forecast(flat, 105.0, PolicyConfig())
    assert g is not None and g.partial and g.rise == 40.0 * PolicyConfig().forecast_max_growth
    assert forecast(flat[:1], 0.0, PolicyConfig()) is None


def test_a_burst_counts_in_every_span_that_holds_it() -> None:
    # A 30 s spike every 15 minutes lies within 48 % of the spans (one delay + one minute each) but at the
    # end of only 10 %. The rise is measured over the whole span, so an 80 % quantile still covers it
    # (measured at the span's end alone, it would be 0: tests/bench/bench_random.py shows what that cost).
    cfg = PolicyConfig(provisioning_seconds=300, growth_quantile=0.8, lookbacks=(60.0,), seasonal=False)
    spiky = [Sample(float(t), 100.0 if (t % 900) in (60, 75) else 10.0) for t in range(0, 3600, 15)]
    assert growth(spiky, 3600.0, cfg) == 90.0
    assert growth(spiky, 3600.0, dataclasses.replace(cfg, growth_quantile=0.4)) == 0.0


def test_scales_down_only_after_the_stabilization_window_and_stepwise() -> None:
    high, low = 100.0, 10.0
    steps_in_window = int(CFG.scale_down_stabilization_seconds / 15)
    decisions = run([high] * 10 + [low] * (steps_in_window + 40))
    planned = [d.planned for d in decisions]
    drop_start = 10
    # Nothing goes down while the window still holds the peak.
    assert all(p >= high for p in planned[drop_start : drop_start + steps_in_window - 1])
    downs = [(a, b) for a, b in itertools.pairwise(planned) if b < a]
    assert downs, "it does come down eventually"
    for a, b in downs:
        assert b >= a * (1 - CFG.scale_down_max_step) - 1e-9, "bounded steps"
    assert low <= planned[-1] <= low / (1 - CFG.scale_down_tolerance)


def test_stale_signal_holds_and_never_drops_to_zero() -> None:
    samples = [Sample(float(t), 80.0) for t in range(0, 300, 15)]
    state = decide(samples, 285.0, State(), CFG).state
    d = decide(samples, 285.0 + CFG.stale_after_seconds + 60, state, CFG)
    assert d.reason == "StaleSignal" and d.planned == state.planned and d.observed is None
    nothing = decide([], 1000.0, state, CFG)
    assert nothing.reason == "NoSignal" and nothing.planned == state.planned


def test_no_flapping_on_noisy_flat_demand() -> None:
    rng = random.Random(3)
    noisy = [100.0 * (1 + rng.uniform(-0.15, 0.15)) for _ in range(400)]
    # After the first minutes the capacity settles: a handful of changes over 100 minutes, not dozens,
    # also while the error budget loosens the margins.
    for cfg, spend in ((CFG, False), (SLO_CFG, True)):
        reps = replicas(run(noisy, cfg=cfg, spend=spend), capacity=10.0)
        assert changes(reps[20:]) <= 3, (cfg, spend)


@settings(max_examples=int(os.environ.get("INFERCAP_HYPOTHESIS_EXAMPLES", "40")), deadline=None)
@given(
    base=st.floats(min_value=1, max_value=500),
    noise=st.floats(min_value=0.0, max_value=0.3),
    seed=st.integers(min_value=0, max_value=10_000),
    slo=st.booleans(),
    spend=st.booleans(),
)
def test_property_no_flapping(base: float, noise: float, seed: int, slo: bool, spend: bool) -> None:
    rng = random.Random(seed)
    series = [base * (1 + rng.uniform(-noise, noise)) for _ in range(200)]
    cfg = SLO_CFG if slo else CFG
    reps = replicas(run(series, cfg=cfg, spend=spend), capacity=max(1.0, base / 10))
    window = int(cfg.down_window_seconds / 15)
    moves = [(i, reps[i] - reps[i - 1]) for i in range(21, len(reps)) if reps[i] != reps[i - 1]]
    # Flat noise moves capacity rarely (the window's peak drifts), never up and back down within the
    # stabilization window.
    assert len(moves) <= 4, moves
    for (i, a), (j, b) in itertools.pairwise(moves):
        if a > 0 > b:
            assert j - i >= window, (moves, window)


@settings(max_examples=40, deadline=None)
@given(
    series=st.lists(st.floats(min_value=0, max_value=1000), min_size=5, max_size=60),
    factor=st.floats(min_value=1.0, max_value=4.0),
    slo=st.booleans(),
)
def test_property_monotone_in_demand(series: list[float], factor: float, slo: bool) -> None:
    cfg = SLO_CFG if slo else CFG
    low = run(series, cfg=cfg)
    high = run([x * factor for x in series], cfg=cfg)
    for a, b in zip(low, high, strict=True):
        assert b.planned >= a.planned - 1e-6


@settings(max_examples=40, deadline=None)
@given(series=st.lists(st.floats(min_value=0, max_value=1000), min_size=2, max_size=80), slo=st.booleans())
def test_property_bounded_steps_down(series: list[float], slo: bool) -> None:
    decisions = run(series, cfg=SLO_CFG if slo else CFG)
    for prev, cur in itertools.pairwise(decisions):
        if cur.planned < prev.planned:
            assert cur.planned >= prev.planned * (1 - CFG.scale_down_max_step) - 1e-6
            assert cur.reason == "ScaleDown"


def test_replicas_for_bounds() -> None:
    assert replicas_for(0, 10, 0.2) == 1
    assert replicas_for(0, 10, 0.2, minimum=0) == 0
    assert replicas_for(80, 10, 0.2) == 10
    assert replicas_for(81, 10, 0.2) == 11
    assert replicas_for(10_000, 10, 0.2, maximum=32) == 32


def test_queueing_margin_shrinks_as_the_fleet_grows() -> None:
    cfg = PolicyConfig(seconds_per_request=2.0)
    small, large = staffed(5.0, cfg) / 5.0, staffed(500.0, cfg) / 500.0
    assert small > large > 1.0, "square-root staffing: relative margin falls like 1/sqrt(load)"
    assert staffed(500.0, PolicyConfig(seconds_per_request=2.0, target_attainment=0.9)) < staffed(500.0, cfg)
    assert staffed(500.0, PolicyConfig(seconds_per_request=2.0, peakedness=10)) > staffed(500.0, cfg)
    assert staffed(500.0, PolicyConfig()) == 500.0, "no slot time, no queueing term"
    # A TTFT budget to wait in (here one slot time) lets the same demand meet the target on fewer slots.
    waiting = PolicyConfig(seconds_per_request=2.0, wait_seconds=2.0)
    assert 500.0 < staffed(500.0, waiting) < staffed(500.0, cfg)
    assert staffed(500.0, waiting) - 500 < 0.5 * (staffed(500.0, cfg) - 500)


def test_peakedness_of_poisson_and_of_clumped_arrivals() -> None:
    rng = random.Random(1)
    poisson = [0.0] * 3600
    for _ in range(36_000):
        poisson[int(rng.uniform(0, 3600))] += 1
    assert peakedness(poisson, 1) < 1.3, "Poisson: about 1 (the estimate is floored at 1)"
    clumped = [0.0] * 3600
    for _ in range(3_600):
        clumped[int(rng.uniform(0, 3600))] += 10  # the same rate, in clumps of ten
    assert peakedness(clumped, 1) > 5


def test_growth_is_learned_from_the_history() -> None:
    # Demand that jumps from 10 to 40 for a minute every ten minutes. With only the one-minute lookback
    # the rise within a provisioning delay that the history shows is the jump, once enough spans are seen.
    # (The jumps are periodic: the seasonal forecast would cover them from the same phase, with no rise;
    # tests/unit/test_seasonal.py tests that.)
    cfg = PolicyConfig(provisioning_seconds=120, growth_quantile=0.9, lookbacks=(60.0,), seasonal=False)
    series = [Sample(t, 40.0 if (t % 600) < 60 else 10.0) for t in range(0, 3600, 15)]
    # Too little history for whole spans, and nothing rose yet: the no-evidence default.
    assert growth(series[:5], 60.0, cfg) == 40.0 * cfg.forecast_max_growth
    rise = growth(series, 3600.0, cfg)
    assert rise is not None and 25 <= rise <= 30.0 + 1e-9
    flat = [Sample(float(t), 10.0) for t in range(0, 3600, 15)]
    assert growth(flat, 3600.0, cfg) == 0.0


def test_forecast_chooses_the_cheapest_lookback() -> None:
    # The same jumps: planning "last minute's peak + the jump" costs 10 + 30 most of the time; holding the
    # peak of the last ten minutes covers every jump with no rise, for 40: the forecast holds.
    every_ten = [Sample(t, 40.0 if (t % 600) < 60 else 10.0) for t in range(0, 3600, 15)]
    f = forecast(every_ten, 3600.0, PolicyConfig(provisioning_seconds=120))
    assert f is not None and f.lookback >= 600 and f.base == 40.0 and f.rise == 0.0
    # Jumps once an hour are rarer than a 90 % quantile's tail: the short lookback, no rise. The default
    # quantile is the target attainment (99.5 %): the jump is covered.
    hourly = [Sample(t, 40.0 if (t % 3000) < 60 else 10.0) for t in range(0, 3600, 15)]
    g = forecast(hourly, 3590.0, PolicyConfig(provisioning_seconds=120, growth_quantile=0.9))
    assert g is not None and g.lookback == 60.0 and g.base == 10.0 and g.rise == 0.0
    g = forecast(hourly, 3590.0, PolicyConfig(provisioning_seconds=120))
    assert g is not None and g.base + g.rise >= 40.0 - 1e-9
    # A fast-changing signal: the short lookback follows it.
    rng = random.Random(2)
    walk = [Sample(float(t), 100.0 + 10 * rng.random() + t / 60) for t in range(0, 3600, 15)]
    h = forecast(walk, 3600.0, PolicyConfig(provisioning_seconds=120))
    assert h is not None and h.lookback < 600


def test_planning_headroom_is_not_counted_twice() -> None:
    from infercap.api.deployment import ModelDeploymentSpec
    from infercap.core.catalog import builtin_catalog
    from infercap.core.planner import plan

    traffic = {"requestsPerSecond": 10, "inputTokens": 1000, "outputTokens": 200}
    doc = {"model": "llama-3.1-8b", "accelerators": ["h100"], "traffic": traffic, "headroom": "0.3"}
    with_slo = ModelDeploymentSpec.model_validate({**doc, "slo": {"outputTokensPerSecondPerStream": 20}})
    assert planning_headroom(with_slo) == 0.0, "the policy's SLO-derived margin replaces it"
    assert planning_headroom(ModelDeploymentSpec.model_validate(doc)) == 0.3, "no slot time, no margin"
    # The planner takes the override: the same planned demand, fewer replicas than with spec.headroom.
    cat = builtin_catalog()
    on_spec = plan(cat, with_slo, demand_rps=400.0)
    margin_once = plan(cat, with_slo, demand_rps=400.0, headroom=planning_headroom(with_slo))
    assert margin_once.chosen.placement.replicas < on_spec.chosen.placement.replicas


# The error budget loosens the margins as it fills (core.missbudget); without it the floor's margin is exact.
FIXED_SLO_CFG = dataclasses.replace(SLO_CFG, miss_budget=False)


def run_scheduled(series: list[float], floors: list[float], cfg: PolicyConfig = CFG) -> list[Decision]:
    """As run(), with the schedule's floor at each step (core.schedule.floor's rate, 0: none)."""
    samples: list[Sample] = []
    state = State()
    out = []
    for i, (d, f) in enumerate(zip(series, floors, strict=True)):
        samples.append(Sample(i * 15.0, d))
        dec = decide(samples, i * 15.0, state, cfg, scheduled=f, scheduled_window="business-hours")
        state = dec.state
        out.append(dec)
    return out


def test_a_scheduled_floor_is_one_more_scale_up_recommendation_with_the_queueing_margin() -> None:
    low = [5.0] * 40
    for cfg in (CFG, FIXED_SLO_CFG):
        plain = run(low, cfg=cfg)
        scheduled = run_scheduled(low, [0.0] * 20 + [40.0] * 20, cfg=cfg)
        assert [d.planned for d in scheduled[:20]] == [d.planned for d in plain[:20]], "no floor: unchanged"
        opened = scheduled[20]
        # Demand the user expects is planned as any demand level: with its queueing margin.
        assert opened.reason == "ScaleUp" and opened.planned == staffed(40.0, cfg) >= 40.0
        assert "the scheduled floor of business-hours: 40 req/s" in opened.message
        assert all(d.planned >= staffed(40.0, cfg) for d in scheduled[20:])
        held = scheduled[-1]
        assert held.reason == "Hold" and "the scheduled floor of business-hours" in held.message
    assert staffed(40.0, FIXED_SLO_CFG) > 40.0, "the SLO configuration has a margin to show"
    # A floor under what demand calls for changes nothing, and the message does not claim it.
    busy = run_scheduled([100.0] * 30, [10.0] * 30)
    assert [d.planned for d in busy] == [d.planned for d in run([100.0] * 30)]
    assert not any("scheduled floor" in d.message for d in busy)


def test_a_window_that_closes_steps_down_by_the_usual_rules() -> None:
    cfg = FIXED_SLO_CFG
    open_steps, after = 30, 80
    floors = [60.0] * open_steps + [0.0] * after
    decisions = run_scheduled([5.0] * (open_steps + after), floors, cfg=cfg)
    planned = [d.planned for d in decisions]
    held = int(cfg.down_window_seconds / 15)
    # Held for the down window after the last recommendation the floor made, then bounded steps.
    assert all(p == planned[open_steps - 1] for p in planned[open_steps : open_steps + held])
    downs = [i for i in range(1, len(planned)) if planned[i] < planned[i - 1]]
    assert downs and downs[0] >= open_steps + held
    for i in downs:
        assert planned[i] >= planned[i - 1] * (1 - cfg.scale_down_max_step) - 1e-9
        assert decisions[i].reason == "ScaleDown"
    assert all(b - a >= cfg.scale_down_period_seconds / 15 for a, b in itertools.pairwise(downs))
    assert planned[-1] < planned[open_steps - 1], "it does come down"


@settings(max_examples=int(os.environ.get("INFERCAP_HYPOTHESIS_EXAMPLES", "40")), deadline=None)
@given(
    base=st.floats(min_value=0.5, max_value=200),
    rate=st.floats(min_value=1, max_value=500),
    opens=st.integers(min_value=0, max_value=40),
    length=st.integers(min_value=1, max_value=60),
    cfg=st.sampled_from([CFG, SLO_CFG, FIXED_SLO_CFG]),
)
def test_property_a_scheduled_window_never_flaps(
    base: float, rate: float, opens: int, length: int, cfg: PolicyConfig
) -> None:
    n = opens + length + 60
    floors = [rate if opens <= i < opens + length else 0.0 for i in range(n)]
    decisions = run_scheduled([base] * n, floors, cfg=cfg)
    held = int(cfg.down_window_seconds / 15)
    last_down: int | None = None
    for i, d in enumerate(decisions):
        # Never below a floor of the last down window (the hold the recommendations give), stepping down
        # by bounded steps, one per period.
        # (With the error budget on, its margin may be looser than the target's, never below the floor.)
        least = (lambda f: f) if cfg.miss_budget else (lambda f: staffed(f, cfg))
        assert all(d.planned >= least(f) - 1e-9 for f in floors[max(0, i - held) : i + 1])
        if i and d.planned < decisions[i - 1].planned:
            assert d.planned >= decisions[i - 1].planned * (1 - cfg.scale_down_max_step) - 1e-9
            assert last_down is None or (i - last_down) * 15 >= cfg.scale_down_period_seconds
            last_down = i


def test_the_floor_raises_capacity_while_the_metric_is_missing() -> None:
    cfg = FIXED_SLO_CFG
    floor = staffed(40.0, cfg)
    # No sample yet: plan for the floor, not for nothing.
    first = decide([], 0.0, State(), cfg, scheduled=40.0, scheduled_window="launch")
    assert first.reason == "NoSignal" and first.planned == floor == first.state.planned
    assert "the scheduled floor of launch: 40 req/s" in first.message
    assert decide([], 0.0, State(), cfg).planned == 0.0, "without a floor: as before"
    # Stale: the held plan rises to the floor; a floor below it holds it.
    samples = [Sample(float(t), 5.0) for t in range(0, 300, 15)]
    state = decide(samples, 285.0, State(), cfg).state
    later = 285.0 + cfg.stale_after_seconds + 60
    stale = decide(samples, later, state, cfg, scheduled=40.0)
    assert stale.reason == "StaleSignal" and stale.planned == floor and stale.observed is None
    assert (later, floor) in stale.state.recommendations, "held after the window like any recommendation"
    small = decide(samples, later, state, cfg, scheduled=0.1)
    assert small.planned == state.planned and "holding capacity" in small.message
    # The signal returns after the window closed: the hold of the usual down window, not a drop.
    back = [*samples, Sample(later + 15, 5.0)]
    resumed = decide(back, later + 15, stale.state, cfg)
    assert resumed.planned == floor and resumed.reason == "Hold"
