"""The autoscaling policy: from a demand history, the demand to plan capacity for next.

A pure function over samples, shared by the operator (live Prometheus demand) and `infercap simulate`
(trace replay). It decides in units of demand (requests/s); the planner turns demand into replicas.

The capacity it plans for is earned, not a flat headroom:
- Queueing margin (core.queueing): the replica set is c batch slots (the engine admits the planned
  batch per replica, so a burst queues rather than slowing running streams); the expected demand holds
  a = rate x seconds_per_request of them; with arrivals of peakedness z (variance / mean of arrivals
  over a slot time; 1 for Poisson), c is the fewest slots whose waiting-time tail beyond the TTFT
  budget left after prefill (`wait_seconds`) is within 1 - target (Erlang C with Hayward's
  approximation). The margin shrinks as the fleet grows and as the TTFT budget holds more
  drain times; with no budget it is square-root staffing on the delay probability.
- Growth over the provisioning delay: capacity asked for now serves only after the delay, so the plan
  covers the demand the history says can arrive within it (`forecast`): for each lookback W, the
  `growth_quantile` (default: the target attainment) of the rise above the peak of the preceding W
  within one delay (and the rate window the samples lag by), over the history's spans; of these
  predictors, which cover the same share of spans, the one that would have planned least on average
  is used (a trend breakout is extrapolated when it goes further). Before the history holds ten
  spans, the largest rise seen so far, uncapped (`_partial`). With autoscaling and a stream-speed
  SLO these margins replace spec.headroom (`planning_headroom`).
- Seasonal forecast: when the history holds a cycle (core.seasonal), the same phase of past cycles may
  predict the next delay instead of the lookback's peak, if the same backtest says it covers as much
  for less.

- Up at once: plan for the larger of the recent peak and the demand expected when new capacity is
  useful (now + provisioning delay, extrapolating a rising trend), so capacity arrives before users
  feel the load.
- Down slowly: plan for the peak over the stabilization window (like the HPA's scale-down
  stabilization, it never goes below what the window saw) and by at most one bounded step per
  scale-down period, so noisy flat demand never flaps.
- Missing or stale signal: hold the last decision (never scale to zero on missing data) and say so.
- Error budget (core.missbudget): the policy accounts for the share of requests its own capacity
  missed (measured, or estimated by the queueing model); while that stays under 1 - target over the
  trailing hour, its margins size for a larger miss share (up to twice the budget), since the target
  is a share of all requests, not a bound at every moment.
"""

from __future__ import annotations

import dataclasses
import itertools
import math
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass
from statistics import median
from typing import TYPE_CHECKING

from infercap.core import missbudget, queueing, seasonal

if TYPE_CHECKING:
    from infercap.api.deployment import ModelDeploymentSpec


@dataclass(frozen=True)
class Sample:
    """Demand observed at time `t` (seconds)."""

    t: float
    demand: float


@dataclass(frozen=True)
class PolicyConfig:
    provisioning_seconds: float = 300.0  # a new node boots and loads the model
    scale_up_window_seconds: float = 60.0  # recent peak that scale-up covers
    trend_window_seconds: float = 120.0  # how far back the rising trend is measured
    # A straight-line forecast over the provisioning delay overshoots oscillating demand: it may reach
    # the highest demand of the stabilization window (a level seen minutes ago is a plausible level
    # again) or add this fraction to the recent peak, whichever is more.
    forecast_max_growth: float = 0.25
    scale_down_stabilization_seconds: float = 300.0
    scale_down_period_seconds: float = 60.0  # at most one step down per period
    scale_down_max_step: float = 0.25  # at most this fraction of demand removed per step
    scale_down_tolerance: float = 0.1  # step down only when the window needs this much less (hysteresis)
    stale_after_seconds: float = 120.0
    # The SLO-derived margin. Without seconds_per_request (mean time a request holds a batch slot at the
    # SLO batch) there is no queueing term.
    target_attainment: float = 0.995
    seconds_per_request: float | None = None
    peakedness: float = 1.0  # variance / mean of arrivals over a slot time (1: Poisson; Hayward's z)
    # What a request may wait for a slot and still meet the TTFT target: the target minus the planned
    # replica's unloaded TTFT (prefill + one step). 0 (no TTFT target): size for no waiting.
    wait_seconds: float = 0.0
    # Of the rise over a provisioning delay seen in the history. None: the target attainment, since a
    # rise the plan does not cover costs the requests that arrive until capacity catches up, so the
    # share of spans left uncovered is spent from the same miss budget as the queueing tail.
    growth_quantile: float | None = None
    growth_history_seconds: float = 3600.0  # how much history the growth quantile draws on
    growth_min_spans: int = 120  # spans of history before the quantile is trusted
    # The lookbacks the forecast chooses among (seconds; see forecast()): from the scale-up window to
    # a quarter of the growth history.
    lookbacks: tuple[float, ...] = (60.0, 120.0, 300.0, 600.0, 900.0)
    # Seasonal forecast (core.seasonal): when the history holds a cycle, plan from the same phase of
    # past cycles, if the backtest says that covers the same share of spans for less (see forecast()).
    seasonal: bool = True
    seasonal_min_autocorrelation: float = 0.5  # the least autocorrelation at the period that counts
    # Error budget (core.missbudget): size the margins for the miss share the budget has left over the
    # growth history, instead of for the target at every moment.
    miss_budget: bool = True
    # The allowance spans [floor, ceiling] x (1 - target) (core.missbudget.allowance). The floor is 1: an
    # overspent budget does not tighten the margins below the target's, since the misses that overspend
    # it come from rises the forecast did not foresee, which a larger queueing margin does not cover
    # (tried: 0.25 raised the cost on the bursty synthetic shapes at the same attainment).
    budget_floor: float = 1.0
    budget_ceiling: float = 2.0
    # The error budget's account from a measured SLI (TTFT/TPOT histograms) instead of the queueing
    # model's estimate: the caller passes decide() its `sli`. The operator sets it with
    # spec.autoscaling.sli (controller.policy_config; an interval whose read failed is still estimated);
    # the simulator shows the measured variant as a separate row (`infercap simulate --measured-sli`).
    measured_sli: bool = False

    @property
    def history_seconds(self) -> float:
        """How far back decisions look."""
        return max(
            self.scale_down_stabilization_seconds + 2 * self.trend_window_seconds + 60,
            self.growth_history_seconds,
        )

    @property
    def down_window_seconds(self) -> float:
        """Scale-down waits at least a provisioning delay: a replica released and needed again within it
        costs its boot again, more than keeping it (the ski-rental break-even)."""
        return max(self.scale_down_stabilization_seconds, self.provisioning_seconds)


@dataclass(frozen=True)
class State:
    """What the policy remembers between decisions."""

    planned: float | None = None  # demand the current capacity was planned for
    last_down: float | None = None  # time of the last step down
    # Recent scale-up recommendations (time, demand): scale-down never goes below any of them within the
    # stabilization window, so a trend-driven step up is not undone by the next quiet sample.
    recommendations: tuple[tuple[float, float], ...] = ()
    # The error budget's account (core.missbudget) and the plans (time, demand) of the last provisioning
    # delay, from which it knows what capacity was serving (asked for a delay earlier).
    budget: missbudget.Budget | None = None
    plans: tuple[tuple[float, float], ...] = ()


@dataclass(frozen=True)
class Decision:
    planned: float  # demand to plan capacity for
    state: State
    reason: str  # PascalCase: ScaleUp, ScaleDown, Hold, Stabilizing, StaleSignal, NoSignal
    observed: float | None  # the latest sample's demand, if fresh
    message: str


def _peak(samples: Sequence[Sample], since: float) -> float:
    return max((s.demand for s in samples if s.t >= since), default=0.0)


def _trend(samples: Sequence[Sample], now: float, window: float, min_r2: float = 0.7) -> float:
    """Least-squares slope of demand over the window (demand per second). Zero with too few points or
    when the line explains too little of the variation (R^2 < min_r2): noise is not a trend."""
    pts = [s for s in samples if s.t >= now - window]
    if len(pts) < 3:
        return 0.0
    n = len(pts)
    mt = sum(s.t for s in pts) / n
    md = sum(s.demand for s in pts) / n
    var_t = sum((s.t - mt) ** 2 for s in pts)
    var_d = sum((s.demand - md) ** 2 for s in pts)
    if var_t == 0 or var_d == 0:
        return 0.0
    cov = sum((s.t - mt) * (s.demand - md) for s in pts)
    if cov * cov / (var_t * var_d) < min_r2:
        return 0.0
    return cov / var_t


def _trailing_max(ts: Sequence[float], ds: Sequence[float], window: float) -> list[float]:
    """[i] = the most of ds over [ts[i] - window, ts[i]] (ts ascending), by a monotone deque."""
    out: list[float] = []
    q: deque[int] = deque()
    for i, d in enumerate(ds):
        while q and ds[q[-1]] <= d:
            q.pop()
        q.append(i)
        while ts[q[0]] < ts[i] - window:
            q.popleft()
        out.append(ds[q[0]])
    return out


def _leading_max(ts: Sequence[float], ds: Sequence[float], horizon: float) -> list[float]:
    """[i] = the most of ds over (ts[i], ts[i] + horizon], or ds[i] when nothing follows within it."""
    out = [0.0] * len(ds)
    q: deque[int] = deque()
    for i in range(len(ds) - 1, -1, -1):
        while q and ts[q[0]] > ts[i] + horizon:
            q.popleft()
        out[i] = ds[q[0]] if q else ds[i]
        while q and ds[q[-1]] <= ds[i]:
            q.pop()
        q.append(i)
    return out


@dataclass(frozen=True)
class Forecast:
    """How far demand can rise within a provisioning delay, by the cheapest lookback the history
    supports."""

    lookback: float  # seconds: plan from the peak over this window
    base: float  # that peak now (seasonal: the most the same phase of past cycles saw over the next delay)
    rise: float  # the growth quantile of the rise above it within one delay, over the history
    period: float | None = None  # seconds: the cycle the seasonal predictor uses; None: not seasonal
    # From fewer than ten whole spans (_partial): the rise is not capped by the history's peak.
    partial: bool = False


def forecast(history: Sequence[Sample], now: float, cfg: PolicyConfig) -> Forecast | None:
    """For each lookback W in `cfg.lookbacks`: the `growth_quantile` of how far demand rose above its
    peak over the preceding W within one provisioning delay, over the spans of the history that ended by
    now (sorted samples). Each W gives a predictor "peak over W + that rise" that covered the same share
    of the history's spans; the one that would have planned the least demand on average over them is
    chosen (a short lookback needs a large rise on demand that swings, a long one holds a past peak).
    With fewer than ten spans, `_partial`; None with fewer than two samples.

    The span is one delay plus the scale-up window: the samples are rates over a trailing window (about
    the scale-up window), so the demand that capacity asked for now meets one delay ahead shows in the
    samples up to a window later (as in _seasonal). Measured over the delay alone, a steady rise is
    underestimated by its slope times that lag, which the stationary queueing margin does not cover.
    Each span's rise is the most within the whole span, not only at its end (where the capacity asked
    for at its start serves): the stricter measure counts each burst in every span that holds it, not
    in the few that end on it, so a quantile of an hour's spans rests on more of each burst. Measured at
    the end alone, the policy saved 1 to 4 % on the public trace and lost up to 25 points of
    attainment on random bursty traces (tests/bench/bench_random.py)."""
    horizon = cfg.provisioning_seconds + cfg.scale_up_window_seconds
    pts = [s for s in history if s.t >= now - cfg.growth_history_seconds]
    ts = [s.t for s in pts]
    ds = [s.demand for s in pts]
    spans = sum(1 for t in ts if t + horizon <= now)
    if spans < 10:
        return _partial(ts, ds, cfg)
    ahead = _leading_max(ts, ds, horizon)
    # A quantile of few spans is an unreliable estimate: until the history holds `growth_min_spans`, the
    # quantile moves from the largest rise seen towards `growth_quantile`.
    quantile = cfg.target_attainment if cfg.growth_quantile is None else cfg.growth_quantile
    q = 1 - (1 - quantile) * min(1.0, spans / cfg.growth_min_spans)
    rank = max(0, math.ceil(q * spans) - 1)
    best: Forecast | None = None
    best_mean = math.inf
    for w in cfg.lookbacks:
        back = _trailing_max(ts, ds, w)
        rises = sorted(max(0.0, ahead[i] - back[i]) for i in range(spans))
        rise = rises[rank]
        mean = sum(back[:spans]) / spans + rise
        # Ties (within rounding) go to the shorter lookback, so that scaling the demand keeps the choice.
        if mean < best_mean * (1 - 1e-9):
            best, best_mean = Forecast(w, back[-1], rise), mean
    if cfg.seasonal and best is not None:
        return _seasonal(ts, ds, now, cfg, best) or best
    return best


def _partial(ts: Sequence[float], ds: Sequence[float], cfg: PolicyConfig) -> Forecast | None:
    """The forecast from a history shorter than ten whole spans (a new deployment, a restart without
    status): from the scale-up window's peak, the largest rise above it seen within any stretch of up
    to one span so far (a whole span would show at least as much), and at least the no-evidence
    default (cfg.forecast_max_growth of that peak). Not capped by the history's peak (up_terms): minutes
    of history say little of the level demand can reach. None with fewer than two samples."""
    if len(ts) < 2:
        return None
    w = cfg.scale_up_window_seconds
    back = _trailing_max(ts, ds, w)
    ahead = _leading_max(ts, ds, cfg.provisioning_seconds + w)
    rise = max(max(0.0, a - b) for a, b in zip(ahead, back, strict=True))
    return Forecast(w, back[-1], max(rise, back[-1] * cfg.forecast_max_growth), partial=True)


SEASONAL_GRID_POINTS = 480


def _seasonal(
    ts: Sequence[float], ds: Sequence[float], now: float, cfg: PolicyConfig, other: Forecast
) -> Forecast | None:
    """The seasonal predictor "the most the same phase of past cycles saw over the next delay (and at
    least the recent peak) + the growth quantile of the rise above it", if the history holds a cycle
    (seasonal.period) and, over the spans that have a past cycle, it would have planned less on average
    than the chosen non-seasonal predictor at the same coverage. On a grid of the samples' spacing."""
    # At most ~480 grid points whatever the poll interval: the period search is quadratic in them.
    spacing = median(b - a for a, b in itertools.pairwise(ts)) if len(ts) > 1 else 1.0
    step = max(1.0, spacing, cfg.growth_history_seconds / SEASONAL_GRID_POINTS)
    count = int((now - ts[0]) // step) + 1
    g = seasonal.on_grid(ts, ds, ts[0], step, count)
    horizon = max(1, math.ceil(cfg.provisioning_seconds / step))
    recent = max(0, round(cfg.scale_up_window_seconds / step))
    lag = seasonal.period(g, horizon + recent + 1, count // 2, cfg.seasonal_min_autocorrelation)
    if lag is None:
        return None
    # The samples are rates over a trailing window (about the scale-up window): demand shows in them up to
    # that window late, so the phase window reaches that much further ahead in the past cycle.
    peaks = seasonal.phase_peaks(g, lag, horizon + recent)
    gs = [k * step for k in range(count)]
    back = _trailing_max(gs, g, other.lookback)
    near = _trailing_max(gs, g, cfg.scale_up_window_seconds)
    ahead = _leading_max(gs, g, (horizon + recent) * step)  # as in forecast(): the samples lag
    judged = [i for i in range(count - horizon - recent) if peaks[i] is not None]
    if len(judged) < 10:
        return None
    pred = {i: max(near[i], peaks[i] or 0.0) for i in judged}
    quantile = cfg.target_attainment if cfg.growth_quantile is None else cfg.growth_quantile
    q = 1 - (1 - quantile) * min(1.0, len(judged) / cfg.growth_min_spans)
    rank = max(0, math.ceil(q * len(judged)) - 1)
    rise_s = sorted(max(0.0, ahead[i] - pred[i]) for i in judged)[rank]
    rise_o = sorted(max(0.0, ahead[i] - back[i]) for i in judged)[rank]
    mean_s = sum(pred.values()) / len(judged) + rise_s
    mean_o = sum(back[i] for i in judged) / len(judged) + rise_o
    if mean_s >= mean_o * (1 - 1e-9):
        return None
    return Forecast(other.lookback, peaks[-1] or 0.0, rise_s, lag * step)


def growth(history: Sequence[Sample], now: float, cfg: PolicyConfig) -> float | None:
    """The rise the chosen forecast adds to its lookback's peak (requests/s); None with too little
    history."""
    f = forecast(history, now, cfg)
    return None if f is None else f.rise


def peakedness(counts: Sequence[float], window: int, local: int = 30) -> float:
    """Peakedness of arrivals from per-second counts: variance over mean of the counts in consecutive
    `window`-second spans around their local mean (over `local` seconds, so that the swings of demand
    over minutes, which the growth term covers, are not counted as bursts). 1 for Poisson arrivals."""
    w = max(1, window)
    spans = [sum(counts[i : i + w]) for i in range(0, len(counts) - w + 1, w)]
    k = max(1, local // w)
    num = den = 0.0
    for i in range(0, len(spans) - k + 1, k):
        group = spans[i : i + k]
        mean = sum(group) / len(group)
        num += sum((x - mean) ** 2 for x in group) / max(1, len(group) - 1) * len(group)
        den += mean * len(group)
    return max(1.0, num / den) if den > 0 else 1.0


def staffed(demand: float, cfg: PolicyConfig) -> float:
    """Demand plus the queueing margin, in requests/s: the fewest slots c whose wait beyond the TTFT
    budget (`cfg.wait_seconds`) stays within the miss share 1 - target, for a = demand x seconds per
    request and the arrivals' peakedness (core.queueing: Erlang C with Hayward's approximation)."""
    if cfg.seconds_per_request is None or demand <= 0:
        return demand
    spr = cfg.seconds_per_request
    miss = 1 - min(0.999999, max(0.5, cfg.target_attainment))
    return queueing.slots_for(demand * spr, cfg.peakedness, miss, cfg.wait_seconds / spr) / spr


def planning_headroom(spec: ModelDeploymentSpec) -> float:
    """The headroom the planner adds to the demand this policy planned for. With a stream-speed SLO the
    policy's demand already carries its queueing and growth margins (`staffed`, `forecast`), so none:
    spec.headroom on top would count the margin twice. Without one there is no slot time and no queueing
    margin, and spec.headroom stays the margin for bursts."""
    return 0.0 if spec.slo.output_tokens_per_second_per_stream else float(spec.headroom)


@dataclass(frozen=True)
class UpTerms:
    """What sets a scale-up recommendation (decide), kept apart so a benchmark can say which term
    set it at each step."""

    recent_peak: float  # the peak over the scale-up window
    forecast: Forecast  # the lookback chosen from the history (or the no-evidence default)
    base: float  # the level planned from: the larger of the lookback's peak and the recent peak
    rise: float  # the history's rise within one delay, capped by the highest demand it saw
    burst: float  # the queueing margin at `base` (staffed(base) - base)
    level: float  # base + the growth and burst margins in quadrature
    expected: float  # the demand one delay ahead by a confirmed breakout's straight line
    target: float  # the recommendation: the larger of `level` and staffed(expected)


def up_terms(history: Sequence[Sample], now: float, cfg: PolicyConfig) -> UpTerms:
    """The scale-up recommendation at `now` and its terms, from sorted, fresh samples up to `now`."""
    latest = history[-1]
    recent_peak = _peak(history, now - cfg.scale_up_window_seconds)
    slope = _trend(history, now, cfg.trend_window_seconds)
    since = now - cfg.scale_down_stabilization_seconds
    window_high = _peak(history[:-1], since)
    ceiling = max(recent_peak * (1 + cfg.forecast_max_growth), window_high)
    # Extrapolate only a breakout (demand above anything the window saw) that the longer window confirms:
    # on flat or oscillating demand a chance run of rising samples is not a trend.
    rising = latest.demand >= window_high and _trend(history, now, 2 * cfg.trend_window_seconds, 0.5) > 0
    expected = min(latest.demand + (max(0.0, slope) if rising else 0.0) * cfg.provisioning_seconds, ceiling)
    f = forecast(history, now, cfg)
    if f is None:  # no evidence yet: the most a forecast may add
        f = Forecast(cfg.scale_up_window_seconds, recent_peak, recent_peak * cfg.forecast_max_growth)
    base = max(f.base, recent_peak)
    # A level the history reached is plausible again within a delay; beyond it only a trend (expected)
    # argues for more, so the rise is capped by the history's peak.
    seen = max(_peak(history, now - cfg.growth_history_seconds), recent_peak * (1 + cfg.forecast_max_growth))
    rise = f.rise if f.partial else max(0.0, min(base + f.rise, seen) - base)
    # Growth over the delay and bursts within a slot time are independent: their margins add in
    # quadrature, not one on top of the other.
    burst = staffed(base, cfg) - base
    level = base + math.hypot(rise, burst)
    return UpTerms(recent_peak, f, base, rise, burst, level, expected, max(level, staffed(expected, cfg)))


def _source(f: Forecast) -> str:
    if f.period is not None:
        return f"same phase of the {f.period:.0f} s cycle"
    return f"peak over {f.lookback:.0f} s"


def _serving(plans: Sequence[tuple[float, float]], t: float, delay: float) -> float | None:
    """The capacity (planned demand) serving at `t`: the smaller of the plan then and the plan a
    provisioning delay earlier (capacity asked for then has just booted; removal is immediate). None
    before any plan."""

    def at(x: float) -> float | None:
        earlier = [d for u, d in plans if u <= x]
        return earlier[-1] if earlier else None

    now_plan, booted = at(t), at(t - delay)
    if now_plan is None:
        return None
    return now_plan if booted is None else min(now_plan, booted)


def _plans(
    plans: Sequence[tuple[float, float]], now: float, planned: float, cfg: PolicyConfig
) -> tuple[tuple[float, float], ...]:
    """The plans of the last provisioning delay, and the last one before it (what served then)."""
    kept = [*plans, (now, planned)]
    cut = now - cfg.provisioning_seconds
    older = [i for i, (u, _) in enumerate(kept) if u <= cut]
    return tuple(kept[older[-1] if older else 0 :])


def _spend(
    state: State, latest: Sample, now: float, cfg: PolicyConfig, sli: tuple[float, float] | None
) -> tuple[missbudget.Budget | None, PolicyConfig]:
    """The error budget's account after the interval since the last decision, and the configuration whose
    target attainment is the miss allowance it leaves (unchanged without `cfg.miss_budget`)."""
    if not cfg.miss_budget:
        return state.budget, cfg
    account = state.budget
    if account is not None and now - account.t > cfg.stale_after_seconds:
        account = None  # a gap in the decisions (a restart, an outage): what it served is unknown, reopen
    prev = account.t if account is not None else now
    serving = _serving(state.plans, prev, cfg.provisioning_seconds)
    window = cfg.growth_history_seconds
    budget = missbudget.update(
        account, now, latest.demand, serving, window, cfg.seconds_per_request, cfg.peakedness, sli, cfg.wait_seconds
    )
    allowed = missbudget.allowance(budget, now, cfg.target_attainment, window, cfg.budget_floor, cfg.budget_ceiling)
    budget = dataclasses.replace(budget, allowance=allowed)
    if allowed <= (1 - cfg.target_attainment) * (1 + 1e-9):  # nothing to spend: the target's own margins
        return budget, cfg
    return budget, dataclasses.replace(cfg, target_attainment=1 - allowed)


def _budget_note(budget: missbudget.Budget | None, cfg: PolicyConfig) -> str:
    if budget is None or not cfg.miss_budget:
        return ""
    return f" (error budget: {budget.share:.3%} estimated missed; margins for {1 - cfg.target_attainment:.3%})"


def _unobserved(
    history: Sequence[Sample], now: float, state: State, cfg: PolicyConfig, floor: float, note: str
) -> Decision:
    """No fresh sample (none yet, or the latest older than cfg.stale_after_seconds): hold the last plan,
    never scale to zero. A scheduled floor (`floor`, already staffed; `note` says whose) still raises it:
    the user said that demand comes, and a missing metric is no reason to meet it short; it counts as a
    recommendation, so the hold after the window closes is the usual one once the signal is back."""
    if not history:
        held, reason, what = state.planned, "NoSignal", "no demand observed"
    else:
        held = state.planned if state.planned is not None else history[-1].demand
        reason, what = "StaleSignal", f"last demand sample is {now - history[-1].t:.0f} s old"
    if floor > 0 and (held is None or floor > held):
        recs = (*(r for r in state.recommendations if r[0] >= now - cfg.down_window_seconds), (now, floor))
        message = f"{what}; planning for {floor:.3g} req/s with the queueing margin{note}"
        return Decision(floor, dataclasses.replace(state, planned=floor, recommendations=recs), reason, None, message)
    if held is None:
        return Decision(0.0, state, reason, None, f"{what} yet")
    message = f"{what}; holding capacity for {held:.3g} req/s"
    return Decision(held, dataclasses.replace(state, planned=held) if history else state, reason, None, message)


def _scheduled_note(scheduled: float, window: str) -> str:
    """What a message says of the floor that set its target."""
    return f" (the scheduled floor of {window}: {scheduled:.3g} req/s)"


def decide(
    samples: Sequence[Sample],
    now: float,
    state: State,
    cfg: PolicyConfig,
    sli: tuple[float, float] | None = None,
    scheduled: float = 0.0,
    scheduled_window: str = "",
) -> Decision:
    """The demand to plan for at `now`, from samples (any order, any spacing) up to `now`; `sli`: the
    requests completed since the last decision and those of them that missed the SLO, when measured.
    `scheduled`: the schedule's demand floor now (core.schedule.floor over the next provisioning delay;
    0: none), named `scheduled_window` in messages: one more scale-up recommendation, also while the
    signal is missing (_unobserved), so after the window closes demand steps down by the usual rules."""
    history = sorted(
        (s for s in samples if s.t <= now and math.isfinite(s.demand) and s.demand >= 0), key=lambda s: s.t
    )
    note = _scheduled_note(scheduled, scheduled_window or "the schedule")
    if not history or now - history[-1].t > cfg.stale_after_seconds:
        return _unobserved(history, now, state, cfg, staffed(scheduled, cfg), note)
    latest = history[-1]
    budget, cfg = _spend(state, latest, now, cfg, sli)
    u = up_terms(history, now, cfg)
    recent_peak, f, base, rise, level, up_target = u.recent_peak, u.forecast, u.base, u.rise, u.level, u.target
    # The floor is demand the user expects, planned as any demand level: with the queueing margin (its
    # requests queue as any others), but without the growth margin, which covers rises the history may
    # bring and which the forecast already adds to the observed demand.
    floor = staffed(scheduled, cfg)
    note = note if floor > up_target else ""
    up_target = max(up_target, floor)
    down_since = now - cfg.down_window_seconds
    recs = (*(r for r in state.recommendations if r[0] >= down_since), (now, up_target))
    window_peak = max(*(d for _, d in recs), staffed(_peak(history, down_since), cfg))
    current = state.planned

    def keep(planned: float, last_down: float | None) -> State:
        return State(planned, last_down, recs, budget, _plans(state.plans, now, planned, cfg))

    if current is None or up_target > current:
        return Decision(
            up_target,
            keep(up_target, state.last_down),
            "ScaleUp",
            latest.demand,
            f"demand {latest.demand:.3g} req/s, recent peak {recent_peak:.3g}, expected in "
            f"{cfg.provisioning_seconds:.0f} s {level:.3g} ({_source(f)} {base:.3g}, "
            f"history: +{rise:.3g}): "
            f"planning for {up_target:.3g} with the queueing margin{note}{_budget_note(budget, cfg)}",
        )
    if window_peak >= current * (1 - cfg.scale_down_tolerance):
        return Decision(
            current,
            keep(current, state.last_down),
            "Hold",
            latest.demand,
            f"demand {latest.demand:.3g} req/s; the last {cfg.down_window_seconds:.0f} s called for up "
            f"to {window_peak:.3g} of the planned {current:.3g}{note if floor >= window_peak else ''}",
        )
    if state.last_down is not None and now - state.last_down < cfg.scale_down_period_seconds:
        return Decision(
            current,
            keep(current, state.last_down),
            "Stabilizing",
            latest.demand,
            f"stepped down {now - state.last_down:.0f} s ago; next step after {cfg.scale_down_period_seconds:.0f} s",
        )
    floor = current * (1 - cfg.scale_down_max_step)
    target = max(window_peak, floor)
    return Decision(
        target,
        keep(target, now),
        "ScaleDown",
        latest.demand,
        f"the last {cfg.down_window_seconds:.0f} s called for at most {window_peak:.3g} req/s: "
        f"planning for {target:.3g} (at most {cfg.scale_down_max_step:.0%} less per step)",
    )
