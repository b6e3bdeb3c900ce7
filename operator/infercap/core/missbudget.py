"""The autoscaling policy's SLO error budget: an estimate of the share of requests its own capacity
missed, and the miss allowance its margins may size for next (an SRE burn-rate controller).

The SLO target is a share of all requests (1 - target is the budget), but a margin sized for the
target at every moment spends almost none of it. The policy therefore keeps its own account, from what
it can observe: the demand samples and the capacity it planned, which serves only a provisioning delay
after it was asked for. For each interval between decisions it estimates the share of requests that
waited for a batch slot longer than the TTFT budget allows with the queueing model its margins are
sized with (core.queueing.wait_tail, as core.autoscale.staffed). The sums decay over the growth
history (about an hour).

The allowance for the next decisions is the budget plus the unspent part of the budget of the
trailing window, weighted by how much of the window has been observed:

    allowance = budget x clamp(1 + observed x slack x (ceiling - 1), floor, ceiling)
    slack = 1 - estimated misses / (budget x the window's requests extrapolated from those seen)

With nothing spent over a full window and ceiling 2 the margins size for twice the budget (the
window's unspent allowance carried into the next window of the same length); with the budget spent,
for the budget. The policy's floor is 1 (it does not tighten below the target's margins when
overspent; see PolicyConfig.budget_floor). Early on (a fraction of the window seen) the allowance stays
near the budget: a policy that has not seen a peak has not earned any slack.
The account is the measured SLI where the caller has one (the simulator: the requests completed and
missed since the last decision), else the queueing model's estimate above, which is conservative (it
counts the planned demand, not the replicas it is rounded up to).
Pure and small: the operator keeps a Budget in status.autoscaling, the simulator in its loop.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from infercap.core import queueing


@dataclass(frozen=True)
class Budget:
    """Estimated requests and misses, each an exponentially decayed sum (time constant: the window)."""

    since: float  # the first decision this account covers (seconds)
    t: float  # the last update
    requests: float = 0.0
    misses: float = 0.0
    allowance: float | None = None  # the miss share the margins were last sized for (for the status)

    @property
    def share(self) -> float:
        """The estimated miss share (0 with no requests)."""
        return self.misses / self.requests if self.requests > 0 else 0.0


def miss_share(
    capacity: float, demand: float, seconds_per_request: float | None, peakedness: float, wait_seconds: float = 0.0
) -> float:
    """The share of requests estimated to miss when `capacity` (requests/s at the SLO batch) meets
    `demand` (requests/s): the probability that a request waits for a slot longer than `wait_seconds`
    (core.queueing, the model the margins are sized with). Without a slot time, the fluid shortfall
    (demand - capacity) / demand."""
    if demand <= 0:
        return 0.0
    if seconds_per_request is None or seconds_per_request <= 0:
        return max(0.0, demand - capacity) / demand
    spr = seconds_per_request
    return queueing.wait_tail(capacity * spr, demand * spr, peakedness, wait_seconds / spr)


def update(
    budget: Budget | None,
    now: float,
    demand: float,
    capacity: float | None,
    window: float,
    seconds_per_request: float | None,
    peakedness: float,
    measured: tuple[float, float] | None = None,
    wait_seconds: float = 0.0,
) -> Budget:
    """The account after the interval since the last update: `measured` (requests completed, of them
    missing the SLO, over the interval, as the serving engines' latency histograms show), or else the
    estimate for `capacity` serving `demand` (None: no capacity planned yet, nothing missed)."""
    if budget is None:
        return Budget(now, now)
    dt = max(0.0, now - budget.t)
    keep = math.exp(-dt / window) if window > 0 else 0.0
    if measured is not None:
        served, missed = max(0.0, measured[0]), max(0.0, measured[1])
    else:
        served = demand * dt
        share = 0.0 if capacity is None else miss_share(capacity, demand, seconds_per_request, peakedness, wait_seconds)
        missed = served * share
    return Budget(budget.since, now, budget.requests * keep + served, budget.misses * keep + missed)


def allowance(
    budget: Budget | None, now: float, target: float, window: float, floor: float = 1.0, ceiling: float = 2.0
) -> float:
    """The miss share the margins may size for at `now` (see the module docstring)."""
    allowed = 1.0 - target
    if budget is None or allowed <= 0 or budget.requests <= 0:
        return allowed
    observed = min(1.0, max(0.0, now - budget.since) / window) if window > 0 else 1.0
    # Against the budget of a whole window: the requests seen so far, extrapolated over the window at
    # the rate seen (a miss early in the window is a share of the window, not of its first minutes).
    expected = budget.requests / max(observed, 1e-9)
    slack = 1.0 - budget.misses / (allowed * expected)
    return allowed * min(ceiling, max(floor, 1.0 + observed * slack * (ceiling - 1.0)))
