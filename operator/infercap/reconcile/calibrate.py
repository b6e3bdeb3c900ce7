"""The calibration step of a reconcile (spec.calibration): at most once per window, read the serving
engine's metrics from the admin-named Prometheus source, fold the sample into the accelerator's
correction filter, and say what the plan may use. The state lives in status.observed.calibration, so a
restart or another operator replica continues the same filter.

Egress is the autoscaler's: only a source of the operator configuration (no tenant URL), bounded by
its timeout and answer size, errors uniform (demand.query). All queries of one window run together
under one timeout, so a slow Prometheus delays a reconcile by at most prometheus.timeoutSeconds.
"""

from __future__ import annotations

import datetime
from dataclasses import dataclass, field
from typing import Any, Protocol

from infercap.api.calibration import CalibrationMode
from infercap.api.conditions import Cond, Reason
from infercap.api.deployment import ModelDeploymentSpec
from infercap.api.errors import ReasonedError
from infercap.core.calibration_live import (
    Readings,
    SelectorOutsideNamespace,
    filters,
    filters_doc,
    fold,
    mixed_window,
    queries,
    sample_fields,
    sample_of,
    scoped_selector,
)
from infercap.core.catalog import Catalog
from infercap.core.compute import Workload
from infercap.core.correction import Correction, FilterParams, usable
from infercap.core.errors import PlanError
from infercap.reconcile.status import Verdict
from infercap.reconcile.world import Pass

CONDITION = Cond.CALIBRATED


@dataclass(frozen=True)
class Outcome:
    """What the reconcile does with calibration: factors for plan(), the status block, the condition."""

    factors: dict[str, float] = field(default_factory=dict)  # accelerator id -> step-time factor (online only)
    block: dict[str, Any] | None = None  # status.observed.calibration; None: calibration is not set
    verdict: Verdict | None = None


class Reader(Protocol):
    """Reads one window of engine metrics from a named source (infercap.egress.EngineMetrics); raises a
    ReasonedError (UnknownSource, SourceMisconfigured, QueryFailed, MetricUnavailable) when it cannot."""

    async def read(self, source: str, promql: dict[str, str]) -> Readings: ...


def _seconds(ts: str) -> float:
    return datetime.datetime.strptime(ts, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=datetime.UTC).timestamp()


def _seconds_or_none(ts: Any) -> float | None:
    """A status timestamp in seconds; None when absent or not one (a hand-edited status)."""
    try:
        return _seconds(ts) if isinstance(ts, str) else None
    except ValueError:
        return None


def due(last: str | None, now: str, window_seconds: int) -> bool:
    """Whether a window has passed since the last query (a second of slack for the reconcile's own pace)."""
    if not last:
        return True
    try:
        return _seconds(now) - _seconds(last) >= window_seconds - 1
    except ValueError:
        return True


def _applied(old: dict[str, Any]) -> tuple[str | None, int]:
    """The accelerator and replica size the engine runs: the last applied plan's (a hand-edited status
    that is not one yields none, not an exception)."""
    plan_ = old.get("plan") or {}
    acc, chips = plan_.get("accelerator"), plan_.get("chipsPerReplica")
    if not isinstance(acc, str) or not acc or isinstance(chips, bool) or not isinstance(chips, int):
        return None, 0
    return acc, chips


def _previous(old: dict[str, Any]) -> Verdict | None:
    prev = next((c for c in old.get("conditions", []) if c.get("type") == CONDITION), None)
    return Verdict(prev["status"], prev["reason"], prev["message"]) if prev is not None else None


async def step(
    reader: Reader | None, spec: ModelDeploymentSpec, old: dict[str, Any], catalog: Catalog, namespace: str, now: str
) -> Outcome:
    """Sample if due, update the filter of the applied plan's accelerator, and return the outcome."""
    c = spec.calibration
    if c is None or c.mode == CalibrationMode.OFF:
        return Outcome()
    old_block = dict((old.get("observed") or {}).get("calibration") or {})
    params = FilterParams(min_batch=float(c.min_running_requests))
    states = filters(old_block, params)
    dropped = ("filters", "factor", "samples", "applied", "replicaKey", "planChangeTime", "rolloutPending")
    block = {k: v for k, v in old_block.items() if k not in dropped}
    block.update(mode=c.mode.value, engine=c.engine.value)
    acc, chips = _applied(old)
    key = _replica_key(old, spec)
    change, pending = _plan_change(old_block, old, key, now)
    for name, value in (("replicaKey", key), ("planChangeTime", change), ("rolloutPending", pending or None)):
        if value is not None:
            block[name] = value
    selector, refused = _selector(c.selector, namespace)
    verdict = _previous(old) or Verdict("Unknown", "Waiting", "no sample of the engine's metrics yet")
    if reader is None:
        verdict = Verdict("Unknown", "NoReader", "this reconcile runs without a Prometheus reader (not the operator)")
    elif refused is not None:
        verdict = Verdict("False", Reason.SELECTOR_OUTSIDE_NAMESPACE, refused)
    elif not acc or chips < 1:
        verdict = Verdict("Unknown", "NoPlan", "no applied plan yet to compare the engine's metrics with")
    elif change is not None and mixed_window(_seconds_or_none(change), _seconds(now), c.window_seconds):
        verdict = _settling(acc, chips, change, pending, old, c.window_seconds)
    elif due(old_block.get("lastSampleTime"), now, c.window_seconds):
        block.update(lastSampleTime=now, accelerator=acc, selector=selector)
        verdict = await _sample(reader, spec, catalog, selector, acc, chips, states, block, params)
    current = states.get(acc) if acc else None
    online = c.mode == CalibrationMode.ONLINE
    factors = {a: s.factor for a, s in states.items() if s.samples > 0} if online else {}
    block["filters"] = filters_doc(states, acc)
    if current is not None:
        block["factor"] = f"{current.factor:.4f}"
        block["samples"] = current.samples
    block["applied"] = bool(acc and acc in factors)
    return Outcome(factors, block, verdict)


def _selector(selector: str | None, namespace: str) -> tuple[str, str | None]:
    """The selector within this namespace, or why the user's is refused (then nothing is sent)."""
    try:
        return scoped_selector(selector, namespace), None
    except SelectorOutsideNamespace as e:
        return "", str(e)


def _replica_key(old: dict[str, Any], spec: ModelDeploymentSpec) -> str | None:
    """What one replica of the applied plan is (accelerator, chips, parallel layout, engine): a sample
    describes one kind of replica, so a change of any of these starts a new series of samples."""
    acc, chips = _applied(old)
    if not acc or chips < 1:
        return None
    par = (old.get("plan") or {}).get("parallelism")
    layout = ",".join(f"{k}={v}" for k, v in sorted(par.items())) if isinstance(par, dict) else ""
    assert spec.calibration is not None
    engine = spec.serving.engine.value if spec.serving is not None else spec.calibration.engine.value
    return f"{acc}/{chips}/{layout}/{engine}"


def _rolling_out(old: dict[str, Any]) -> str | None:
    """The Serving condition's message while the workload is not serving the applied plan in full (a
    make-before-break switch keeps the old workload until then; a rolling update mixes pods): None once
    it is, or when infercap runs no workload."""
    c = next((c for c in old.get("conditions", []) if c.get("type") == Cond.SERVING), None)
    if c is None or c.get("status") == "True":
        return None
    return str(c.get("message") or c.get("reason") or "not serving yet")


def _plan_change(old_block: dict[str, Any], old: dict[str, Any], key: str | None, now: str) -> tuple[str | None, bool]:
    """When the replicas last changed kind, as far as samples go, and whether that rollout is still under
    way. A new replica key starts a rollout; while it lasts (and once more when it ends, for the old pods'
    drain) the change moves to now, so the first sample's window begins after the last old replica went.
    The rollout ends at the first later pass that reads Serving True (or no Serving: no rendered workload).
    An accelerator switch the status records (lastSwitchTime) counts too (a status written before the
    replica key was)."""
    change, pending = old_block.get("planChangeTime"), bool(old_block.get("rolloutPending"))
    previous = old_block.get("replicaKey")
    if key is not None and isinstance(previous, str) and previous != key:
        # Not ended in this pass: the status read was written as the new plan was applied, when the
        # workload's own status may not have caught up with it yet.
        change, pending = now, True
    elif pending:
        change, pending = now, _rolling_out(old) is not None
    if _seconds_or_none(change) is None:
        change = None
    switch = old.get("lastSwitchTime")
    if (_seconds_or_none(switch) or 0) > (_seconds_or_none(change) or 0):
        change = switch
    return change, pending


def _settling(acc: str, chips: int, change: str, pending: bool, old: dict[str, Any], window: int) -> Verdict:
    """Why no sample is taken while the engine's series mix the previous plan's replicas with these."""
    what = f"the applied plan changed to {chips} {acc} chip(s) per replica"
    rollout = _rolling_out(old) if pending else None
    if rollout:
        why = f"its rollout is under way ({rollout}); samples resume {window} s after it ends"
    else:
        resume = datetime.datetime.fromtimestamp(_seconds(change) + window, datetime.UTC)
        why = f"a window of {window} s would still include them; no sample until {resume:%Y-%m-%dT%H:%M:%SZ}"
    return Verdict(
        "Unknown",
        Reason.PLAN_CHANGED,
        f"{what} and the engine's metrics still include replicas of the previous plan: {why}",
    )


async def _sample(
    reader: Reader,
    spec: ModelDeploymentSpec,
    catalog: Catalog,
    selector: str,
    acc: str,
    chips: int,
    states: dict[str, Correction],
    block: dict[str, Any],
    params: FilterParams,
) -> Verdict:
    c = spec.calibration
    assert c is not None
    try:
        shape = catalog.shape(catalog.model(spec.model), spec.precision, spec.kv_cache_precision)
        replica = catalog.replica(shape, catalog.accelerator(acc), chips)
    except PlanError as e:
        return Verdict("Unknown", "NoPlan", f"the applied plan's replica cannot be modelled: {e}")
    try:
        readings = await reader.read(c.source, queries(c.engine.value, selector, c.window_seconds))
    except ReasonedError as e:
        return Verdict("False", e.reason, f"{e.message}; the plan keeps the last correction")
    work = Workload(spec.traffic.input_tokens, spec.traffic.output_tokens)
    sample = sample_of(replica, work, readings)
    state = states.get(acc) or Correction(variance=params.initial_variance)
    states[acc] = fold(state, sample, params)
    if sample is None:
        return Verdict("False", "NoLoad", f"{c.engine.value} reports no running requests or generated tokens on {acc}")
    if not usable(sample, params):
        return Verdict(
            "False",
            "LowLoad",
            f"{sample.batch:.3g} running request(s) per replica, below spec.calibration.minRunningRequests "
            f"{c.min_running_requests}: a nearly idle replica says nothing about capacity; sample ignored",
        )
    block.update(sample_fields(sample, readings))
    s = states[acc]
    err = sample.ratio - 1
    what = (
        f"{c.engine.value} metrics of {round(readings.replicas)} replica(s) on {acc}: "
        f"{sample.batch:.3g} running requests each, step {sample.observed_step_s * 1000:.1f} ms observed vs "
        f"{sample.predicted_step_s * 1000:.1f} ms predicted ({err:+.0%}); correction {s.factor:.2f}x over "
        f"{s.samples} sample(s)"
    )
    if c.mode == CalibrationMode.ONLINE:
        return Verdict("True", "Correcting", f"{what}; the plan divides replica throughput by {s.factor:.2f}")
    return Verdict("True", "Observing", f"{what}; not applied (spec.calibration.mode is observe)")


def record(new: dict[str, Any], verdicts: dict[str, Verdict], outcome: Outcome | None) -> None:
    """Put the outcome into the new status (a copy of status.observed, never the old one mutated)."""
    if outcome is None:
        return  # the spec could not be read: keep what status says
    observed = dict(new.get("observed") or {})
    if outcome.block is None:
        if "calibration" in observed:
            observed.pop("calibration")
            if observed:
                new["observed"] = observed
            else:
                new.pop("observed", None)
        return
    observed["calibration"] = outcome.block
    new["observed"] = observed
    if outcome.verdict is not None:
        verdicts[CONDITION] = outcome.verdict


async def calibrate_step(ctx: Pass) -> None:
    """ctx.calibration: the correction factors the plan may use and the status block (after loading the
    catalog, before planning)."""
    if ctx.spec is not None and ctx.catalog is not None:
        ctx.calibration = await step(ctx.calibrator, ctx.spec, ctx.old, ctx.catalog, ctx.owner.namespace, ctx.now)


def record_step(ctx: Pass) -> None:
    """The calibration block into status.observed and the Calibrated condition (after observing, which
    rebuilds status.observed)."""
    record(ctx.new, ctx.verdicts, ctx.calibration)
