"""Request-level latency of a replica set: queueing, time to first token, per-stream decode speed, and
SLO attainment (the share of requests whose TTFT and decode speed both met the SLO).

The model (pure, deterministic, fast enough for a one-hour trace at 20x in well under a second):
- The ready replicas serve as one pool with continuous batching: a request is admitted (first come,
  first served) while fewer than `ready x max_batch` streams run; the others wait in the queue.
  `max_batch` is the engine's admission cap (vLLM --max-num-seqs): infercap renders the planned batch.
- Every running stream decodes at the speed of the batch its replica runs: one token per
  `step_seconds[b]`, the compute model's mixed step time (decode plus its share of chunked prefill) at
  b = running streams / serving replicas (interpolated between whole batches). A removed replica drains:
  it admits nothing and finishes its streams, so the serving replicas are at least the running streams
  over the cap, and no replica runs above the cap.
- Time to first token = the wait for admission + the request's own prefill (the compute model's
  prefill time for its input length, which the caller supplies) + one running step.
- A stream's decode speed = its output tokens / (finish - admission).

All streams share one decode clock: the clock advances by dt / step_seconds[b] between events, so a
stream admitted at clock value v finishes when the clock reaches v + output_tokens. That turns the
simulation into a heap of finish-clock values: O(log n) per arrival and completion.

What holds, and what the oracle and static-feasible rest on (`tests/unit/test_latency.py`):
- With the cap within the batch that meets the stream SLO (what infercap renders), no stream ever
  decodes below the SLO: a shortfall shows as queueing and TTFT, never as slow streams (a theorem).
- More replicas never miss more, checked (not proven) on random traces for schedules without a
  scale-down, and for one step served alone (`misses_alone`, non-increasing in the replicas). It is
  false above the SLO batch (an extra replica admits a queued request into a batch too slow for the
  SLO) and across a scale-down (draining streams hold the pool's slots, so more replicas before it can
  delay a later admission by milliseconds): both pinned as counterexamples.
- A step served alone from an empty pool with a free tail misses no more than it does inside any
  schedule (property-tested): the oracle's relaxation.
"""

from __future__ import annotations

import heapq
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class ServiceModel:
    """What one replica does, from the compute model."""

    step_seconds: tuple[float, ...]  # [b] = decode step time at batch b (index 0 unused, = [1])
    max_batch: int  # the most streams the engine runs at once (KV cache / engine ceiling)
    kv_sequences: int  # sequences the KV cache holds at the mean context (for KV utilization)

    def step(self, batch: float) -> float:
        if batch <= 1:
            return self.step_seconds[1]
        top = len(self.step_seconds) - 1
        if batch >= top:
            # Past the table (a pool over its admission cap after a scale-down): extrapolate linearly.
            slope = self.step_seconds[top] - self.step_seconds[top - 1] if top > 1 else 0.0
            return self.step_seconds[top] + slope * (batch - top)
        i = int(batch)
        f = batch - i
        return self.step_seconds[i] * (1 - f) + self.step_seconds[i + 1] * f


@dataclass(frozen=True)
class LatencySlo:
    ttft_seconds: float | None  # None: no TTFT target
    stream_tokens_per_second: float | None  # None: no decode-speed target

    def met(self, ttft: float, speed: float) -> bool:
        if self.ttft_seconds is not None and ttft > self.ttft_seconds + 1e-9:
            return False
        return not (self.stream_tokens_per_second is not None and speed < self.stream_tokens_per_second * (1 - 1e-9))


@dataclass(frozen=True)
class Requests:
    """A trace as parallel sequences, sorted by arrival."""

    arrival: Sequence[float]
    output_tokens: Sequence[int]
    prefill_seconds: Sequence[float]  # each request's own prefill on one replica


@dataclass(frozen=True)
class Observation:
    """What engine metrics would show of the pool at one instant (vLLM's num_requests_running /
    num_requests_waiting / kv_cache_usage_perc)."""

    running: int
    waiting: int
    kv_utilization: float  # running / (ready x kv_sequences), capped at 1
    # Requests completed so far and those of them that missed the SLO (what histograms of TTFT and time
    # per output token show): the SLI an error budget is measured on. Zero without an SLO given.
    completed: int = 0
    missed: int = 0


class Pool:
    """The replica pool as time advances; `advance` moves it to a time with a number of ready replicas.
    Outcomes land in `ttft` and `speed`, indexed like the requests (NaN until known)."""

    def __init__(self, requests: Requests, model: ServiceModel, slo: LatencySlo | None = None) -> None:
        self.r = requests
        self.m = model
        self.slo = slo
        self.completed = 0
        self.missed = 0
        n = len(requests.arrival)
        self.ttft = [float("nan")] * n
        self.speed = [float("nan")] * n
        self.t = requests.arrival[0] if n else 0.0
        self.clock = 0.0  # decode tokens every running stream has advanced
        self.running: list[tuple[float, int, float]] = []  # (finish clock, request, admitted at)
        self.queue: deque[int] = deque()
        self.next_arrival = 0
        self.ready = 0

    def _batch(self) -> float:
        """Streams per serving replica: a replica removed drains (admits nothing, finishes what it runs),
        so as many replicas serve as the running streams need at the admission cap, at least the ready."""
        running = len(self.running)
        serving = max(self.ready, -(-running // self.m.max_batch))
        return running / serving if serving else 0.0

    def _admit(self, i: int, now: float) -> None:
        self.ttft[i] = now - self.r.arrival[i] + self.r.prefill_seconds[i] + self.m.step(self._batch())
        heapq.heappush(self.running, (self.clock + self.r.output_tokens[i], i, now))

    def _fill(self) -> None:
        cap = self.ready * self.m.max_batch
        while self.queue and len(self.running) < cap:
            self._admit(self.queue.popleft(), self.t)

    def advance(self, until: float, ready: int) -> None:
        """Serve with `ready` replicas up to time `until`."""
        self.ready = ready
        arrival = self.r.arrival
        count = len(arrival)
        if ready > 0:
            self._fill()
        while True:
            nxt = arrival[self.next_arrival] if self.next_arrival < count else float("inf")
            step = self.m.step(self._batch()) if self.running else 0.0
            done_at = self.t + (self.running[0][0] - self.clock) * step if step else float("inf")
            if nxt == done_at == float("inf") or min(nxt, done_at) > until:
                if step:
                    self.clock += (until - self.t) / step
                self.t = max(self.t, until) if until != float("inf") else self.t
                return
            if done_at <= nxt:
                self.clock = self.running[0][0]
                self.t = done_at
                _, i, admitted = heapq.heappop(self.running)
                self.speed[i] = self.r.output_tokens[i] / max(1e-9, done_at - admitted)
                if self.slo is not None:
                    self.completed += 1
                    self.missed += not self.slo.met(self.ttft[i], self.speed[i])
                if ready > 0:
                    self._fill()
            else:
                if step:
                    self.clock += (nxt - self.t) / step
                self.t = nxt
                i = self.next_arrival
                self.next_arrival += 1
                if ready > 0 and not self.queue and len(self.running) < ready * self.m.max_batch:
                    self._admit(i, nxt)
                else:
                    self.queue.append(i)

    def flush(self) -> None:
        """Drop the queue (its requests never start: TTFT infinite). The simulator's judged window starts
        with an empty queue, as a backlog left by the warm-up before it is no policy's choice."""
        for i in self.queue:
            self.ttft[i], self.speed[i] = float("inf"), 0.0
        self.queue.clear()

    def finish(self, ready: int) -> None:
        """Serve everything left with `ready` replicas (at least one)."""
        self.advance(float("inf"), max(1, ready))

    def observe(self) -> Observation:
        kv = len(self.running) / (self.ready * self.m.kv_sequences) if self.ready else 1.0
        return Observation(len(self.running), len(self.queue), min(1.0, kv), self.completed, self.missed)


def attainment(pool: Pool, slo: LatencySlo, since: float = float("-inf")) -> tuple[int, int]:
    """(requests that met the SLO, requests) among those arriving at or after `since`."""
    met = total = 0
    for i, t in enumerate(pool.r.arrival):
        if t < since:
            continue
        total += 1
        if slo.met(pool.ttft[i], pool.speed[i]):
            met += 1
    return met, total


def serve(requests: Requests, model: ServiceModel, ready: Sequence[int], dt: float = 1.0) -> Pool:
    """The pool after serving the whole trace, with ready[k] replicas during [k dt, (k + 1) dt)."""
    pool = Pool(requests, model)
    for k, n in enumerate(ready):
        pool.advance((k + 1) * dt, n)
    pool.finish(ready[-1] if ready else 1)
    return pool


def misses_alone(
    requests: Requests, lo: int, hi: int, start: float, end: float, ready: int, model: ServiceModel, slo: LatencySlo
) -> int:
    """SLO misses among requests[lo:hi] (arriving in [start, end)) served by `ready` replicas that hold
    nothing else at `start`; at `end` every stream still running continues at batch-1 speed and every
    queued request is admitted at once. This undercounts the misses these requests
    have in any schedule that runs `ready` replicas over [start, end) (an empty start and a free tail
    only remove load; checked by property tests): the oracle's relaxation."""
    sub = Requests(requests.arrival[lo:hi], requests.output_tokens[lo:hi], requests.prefill_seconds[lo:hi])
    if hi <= lo:
        return 0
    pool = Pool(sub, model)
    pool.t = start
    pool.advance(end, ready)
    # Lower-bound tail: the rest at batch 1, the queue admitted at `end` with nobody ahead of it.
    step1 = model.step(1)
    for v, i, admitted in pool.running:
        pool.speed[i] = sub.output_tokens[i] / max(1e-9, end - admitted + (v - pool.clock) * step1)
    for i in pool.queue:
        pool.ttft[i] = end - sub.arrival[i] + sub.prefill_seconds[i] + step1
        pool.speed[i] = 1 / step1
    return sum(1 for i in range(hi - lo) if not slo.met(pool.ttft[i], pool.speed[i]))
