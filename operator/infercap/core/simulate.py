"""Trace replay: how infercap's policy and three baselines would have provisioned a request trace.

At one-second resolution: demand (requests weighted by their size relative to the plan's mean
request), capacity (ready replicas x per-replica throughput from the compute model), a short queue
(work that waits longer than `max_queue_seconds` counts as not served within capacity), and cost
(every requested node is paid from the moment it is requested: boot and model load included).
Shortfall and cost are measured from the end of the first provisioning delay: before that, what serves
is what the past left, which no policy can change.

Policies, all paying the same provisioning delay:
- infercap: core.autoscale.decide on the demand a Prometheus rate() over the last minute would show,
  every `sync_seconds`;
- static: the trace's peak minute plus headroom, from the start;
- reactive: an HPA-style utilization scaler (15 s sync, 10 % tolerance, scale-up at most
  max(2x, +4) per sync, 300 s scale-down stabilization);
- oracle: knows the future and requests, `provisioning_seconds` ahead, exactly what each moment needs.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from decimal import Decimal

from infercap.api.deployment import ModelDeploymentSpec
from infercap.core.autoscale import PolicyConfig, Sample, State, decide
from infercap.core.catalog import Catalog
from infercap.core.compute import Workload
from infercap.core.estimate import evaluate
from infercap.core.planner import Plan, plan
from infercap.core.sizes import place, replicas_for


@dataclass(frozen=True)
class Setup:
    capacity_per_replica: float  # requests/s of the mean request shape
    input_weight: float  # cost of an input token relative to an output token
    mean_input: float
    mean_output: float
    chips_for: Callable[[int], int]  # replicas -> chips paid for (node packing)
    price_per_chip_hour: Decimal
    headroom: float
    provisioning_seconds: float = 300.0
    sync_seconds: float = 15.0
    rate_window_seconds: float = 60.0
    max_queue_seconds: float = 5.0
    min_replicas: int = 1
    max_replicas: int | None = None


@dataclass
class Outcome:
    name: str
    requested: list[int]  # replicas requested (paid), per second
    ready: list[int]  # replicas serving, per second
    chips: list[int]  # chips paid, per second
    shortfall: float
    demand_total: float
    scale_events: int
    cost: Decimal = Decimal(0)
    accelerator_hours: float = 0.0
    decisions: list[str] = field(default_factory=list)

    @property
    def shortfall_fraction(self) -> float:
        return self.shortfall / self.demand_total if self.demand_total else 0.0

    @property
    def peak_replicas(self) -> int:
        return max(self.requested, default=0)

    @property
    def mean_replicas(self) -> float:
        return sum(self.requested) / len(self.requested) if self.requested else 0.0


def demand_series(arrivals: Sequence[tuple[float, int, int]], setup: Setup) -> list[float]:
    """Normalized requests arriving in each second: a request of twice the mean cost counts 2."""
    if not arrivals:
        return []
    mean_cost = setup.input_weight * setup.mean_input + setup.mean_output
    seconds = math.floor(max(t for t, _, _ in arrivals)) + 1
    series = [0.0] * seconds
    for t, i, o in arrivals:
        series[int(t)] += (setup.input_weight * i + o) / mean_cost
    return series


def _rate(series: Sequence[float], s: int, window: float) -> float:
    """What rate(x[window]) shows at second s: the mean over the preceding window."""
    w = max(1, int(window))
    lo = max(0, s - w + 1)
    return sum(series[lo : s + 1]) / (s + 1 - lo)


def rate_series(series: Sequence[float], window: float) -> list[float]:
    """The whole series as a rate over `window` seconds (what a dashboard would plot)."""
    return [_rate(series, s, window) for s in range(len(series))]


def _serve(
    name: str,
    series: Sequence[float],
    requested: list[int],
    setup: Setup,
    decisions: list[str],
    prior: Sequence[int] = (),
) -> Outcome:
    """Serve the demand with the capacity ready each second. `prior` holds the requests of the seconds
    before the series (what is still booting at its start); without it the start is warm."""
    delay = int(setup.provisioning_seconds)
    # Until a first provisioning delay has passed, the capacity serving reflects the past, not the
    # policy: every policy is measured from then on.
    measure_from = min(delay, max(0, len(series) - 1))
    history = list(prior) if prior else [requested[0]] * delay
    history = [history[0]] * max(0, delay - len(history)) + history[-delay:] if delay else []
    ready: list[int] = []
    queue = shortfall = 0.0
    for s, demand in enumerate(series):
        # What was requested `delay` seconds ago is up now; removal is immediate.
        earlier = requested[s - delay] if s >= delay else history[s] if delay else requested[s]
        r = min(requested[s], earlier)
        ready.append(r)
        cap = r * setup.capacity_per_replica
        queue += demand
        served = min(queue, cap)
        queue -= served
        overflow = max(0.0, queue - cap * setup.max_queue_seconds)
        if s >= measure_from:
            shortfall += overflow
        queue -= overflow
    chips = [setup.chips_for(n) for n in requested]
    hours = sum(chips[measure_from:]) / 3600.0
    out = Outcome(
        name,
        requested,
        ready,
        chips,
        shortfall,
        sum(series[measure_from:]),
        sum(1 for a, b in itertools.pairwise(requested) if a != b),
        decisions=decisions,
    )
    out.accelerator_hours = hours
    out.cost = (setup.price_per_chip_hour * Decimal(repr(hours))).quantize(Decimal("0.01"))
    return out


def _hold(per_sync: list[tuple[int, int]], length: int) -> list[int]:
    """Per-second replica requests from (second, replicas) decisions."""
    out = []
    k = 0
    current = per_sync[0][1]
    for s in range(length):
        while k < len(per_sync) and per_sync[k][0] <= s:
            current = per_sync[k][1]
            k += 1
        out.append(current)
    return out


def _warm_start(series: Sequence[float], setup: Setup) -> int:
    return replicas_for(
        _rate(series, min(len(series) - 1, int(setup.rate_window_seconds)), setup.rate_window_seconds),
        setup.capacity_per_replica,
        setup.headroom,
        setup.min_replicas,
        setup.max_replicas,
    )


def infercap_policy(series: Sequence[float], setup: Setup, cfg: PolicyConfig) -> Outcome:
    samples: list[Sample] = []
    decisions: list[tuple[int, int]] = [(0, _warm_start(series, setup))]
    log = []
    state = State(
        planned=_rate(series, min(len(series) - 1, int(setup.rate_window_seconds)), setup.rate_window_seconds)
    )
    sync = int(setup.sync_seconds)
    for s in range(sync, len(series), sync):
        samples.append(Sample(float(s), _rate(series, s, setup.rate_window_seconds)))
        samples = [x for x in samples if x.t >= s - cfg.scale_down_stabilization_seconds - 60]
        d = decide(samples, float(s), state, cfg)
        state = d.state
        n = replicas_for(d.planned, setup.capacity_per_replica, setup.headroom, setup.min_replicas, setup.max_replicas)
        if n != decisions[-1][1]:
            log.append(f"{s}s {d.reason}: {decisions[-1][1]} -> {n} replicas ({d.message})")
        decisions.append((s, n))
    return _serve("infercap", series, _hold(decisions, len(series)), setup, log)


def static_peak(series: Sequence[float], setup: Setup) -> Outcome:
    peak = max(_rate(series, s, 60) for s in range(len(series)))
    n = replicas_for(peak, setup.capacity_per_replica, setup.headroom, setup.min_replicas, setup.max_replicas)
    return _serve("static-peak", series, [n] * len(series), setup, [f"0s static: {n} replicas for {peak:.3g} req/s"])


def reactive(series: Sequence[float], setup: Setup, stabilization: float = 300.0, tolerance: float = 0.1) -> Outcome:
    target = 1 - setup.headroom
    current = _warm_start(series, setup)
    decisions: list[tuple[int, int]] = [(0, current)]
    recommendations: list[tuple[int, int]] = []
    sync = 15
    for s in range(sync, len(series), sync):
        observed = _rate(series, s, 60)
        ratio = observed / (current * setup.capacity_per_replica * target) if current else math.inf
        desired = current if abs(ratio - 1) <= tolerance else math.ceil(current * ratio) if current else 1
        desired = max(setup.min_replicas, desired)
        if setup.max_replicas is not None:
            desired = min(desired, setup.max_replicas)
        recommendations.append((s, desired))
        recommendations = [r for r in recommendations if r[0] > s - stabilization]
        if desired > current:
            current = min(desired, max(2 * current, current + 4))
        else:
            current = min(current, max(r for _, r in recommendations))
        decisions.append((s, current))
    return _serve("reactive-hpa", series, _hold(decisions, len(series)), setup, [])


def oracle(series: Sequence[float], setup: Setup) -> Outcome:
    """Capacity needed at time u must be requested at u - delay and kept until u: the oracle requests, at
    each sync, the most any moment of the next delay + sync seconds needs (demand as a one-minute rate,
    no headroom), and nothing more. Bursts shorter than a minute are the price it pays for no headroom."""
    delay = int(setup.provisioning_seconds)
    sync = int(setup.sync_seconds)
    smooth = [_rate(series, s, setup.rate_window_seconds) for s in range(len(series))]
    need = [replicas_for(d, setup.capacity_per_replica, 0.0, setup.min_replicas, setup.max_replicas) for d in smooth]
    decisions: list[tuple[int, int]] = []
    for s in range(0, len(series), sync):
        decisions.append((s, max(need[s : s + delay + sync], default=need[-1])))
    return _serve("oracle", series, _hold(decisions, len(series)), setup, [])


def simulate(arrivals: Sequence[tuple[float, int, int]], setup: Setup, cfg: PolicyConfig) -> list[Outcome]:
    """Every policy over the trace. The adaptive policies first see the trace's last minutes (as long as
    provisioning plus stabilization), as a service that ran before the trace began would have: no policy
    starts from nothing, and the figures are those of its steady state. Only the trace itself counts."""
    series = demand_series(arrivals, setup)
    if not series:
        return []
    preroll = min(len(series), int(setup.provisioning_seconds + cfg.scale_down_stabilization_seconds))
    extended = list(series[len(series) - preroll :]) + list(series)
    adaptive = [
        _trim(infercap_policy(extended, setup, cfg), preroll, series, setup),
        _trim(reactive(extended, setup), preroll, series, setup),
    ]
    return [adaptive[0], static_peak(series, setup), adaptive[1], oracle(series, setup)]


def _trim(o: Outcome, preroll: int, series: Sequence[float], setup: Setup) -> Outcome:
    """The part of a replay after the pre-roll, served again so that shortfall and cost cover the trace
    only; what was requested in the pre-roll's last `delay` seconds is still booting at the start."""
    delay = int(setup.provisioning_seconds)
    prior = o.requested[max(0, preroll - delay) : preroll]
    decisions = [d for d in o.decisions if int(d.split("s", 1)[0]) >= preroll]
    return _serve(o.name, series, o.requested[preroll:], setup, decisions, prior)


def plan_setup(
    catalog: Catalog,
    spec: ModelDeploymentSpec,
    provisioning_seconds: float,
    max_queue_seconds: float = 5.0,
) -> tuple[Setup, Plan]:
    """The capacity model of a replay: the planner's choice for the trace's mean request and rate, the
    replica's throughput, and what an input token costs relative to an output token (from the compute
    model: the replica's time per request at twice the input length)."""
    p = plan(catalog, spec)
    o = p.chosen
    perf = o.estimate.performance
    assert perf is not None
    stream = spec.slo.output_tokens_per_second_per_stream
    work = o.estimate.workload
    longer = evaluate(
        catalog,
        p.model,
        p.shape,
        o.accelerator,
        o.placement.chips_per_replica,
        Workload(work.input_tokens * 2, work.output_tokens),
        float(stream) if stream else None,
    )
    time_per_request = 1 / perf.requests_per_second
    weight = 0.0
    if longer.performance is not None:
        per_input = max(0.0, (1 / longer.performance.requests_per_second - time_per_request) / work.input_tokens)
        per_output = max(1e-12, (time_per_request - per_input * work.input_tokens) / work.output_tokens)
        weight = per_input / per_output

    def chips_for(replicas: int) -> int:
        if replicas <= 0:
            return 0
        return place(o.accelerator, o.placement.chips_per_replica, o.placement.slice, replicas).chips

    setup = Setup(
        capacity_per_replica=perf.requests_per_second,
        input_weight=weight,
        mean_input=work.input_tokens,
        mean_output=work.output_tokens,
        chips_for=chips_for,
        price_per_chip_hour=o.accelerator.price.per_chip_hour,
        headroom=float(spec.headroom),
        provisioning_seconds=provisioning_seconds,
        max_queue_seconds=max_queue_seconds,
    )
    return setup, p
