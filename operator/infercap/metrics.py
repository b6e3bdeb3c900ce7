"""The operator's Prometheus metrics (prometheus-client), one series set per ModelDeployment plus
reconcile totals, timing and errors, build info and the process and platform collectors. Served by
`infercap run --metrics-port`."""

from __future__ import annotations

import contextlib
import platform
from collections.abc import Mapping
from typing import Any

from prometheus_client import (
    GC_COLLECTOR,
    PLATFORM_COLLECTOR,
    PROCESS_COLLECTOR,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    start_http_server,
)

from infercap import __version__
from infercap.api.conditions import Cond
from infercap.api.status import CalibrationStatus, ModelDeploymentStatus, Observed
from infercap.api.status import read as read_status

REGISTRY = CollectorRegistry()
# process_* (CPU, memory, open files, start time), python_info and python_gc_*: the default registry's
# collectors, registered on ours, which serves only infercap's metrics otherwise.
for _collector in (PROCESS_COLLECTOR, PLATFORM_COLLECTOR, GC_COLLECTOR):
    REGISTRY.register(_collector)
LABELS = ("namespace", "name")

BUILD_INFO = Gauge(
    "infercap_build_info", "The running operator's version (value 1).", ("version", "python"), registry=REGISTRY
)
BUILD_INFO.labels(__version__, platform.python_version()).set(1)

DEMAND = Gauge(
    "infercap_demand_requests_per_second", "Demand the plan serves (spec or metric).", LABELS, registry=REGISTRY
)
OBSERVED = Gauge(
    "infercap_observed_demand_requests_per_second",
    "Latest live demand from spec.autoscaling.",
    LABELS,
    registry=REGISTRY,
)
REPLICAS = Gauge("infercap_planned_replicas", "Model replicas planned.", LABELS, registry=REGISTRY)
NODES = Gauge("infercap_planned_nodes", "Nodes planned.", LABELS, registry=REGISTRY)
CHIPS = Gauge("infercap_planned_chips", "Accelerator chips planned.", LABELS, registry=REGISTRY)
COST = Gauge("infercap_cost_hourly", "Hourly cost of the applied plan.", (*LABELS, "currency"), registry=REGISTRY)
INFO = Gauge(
    "infercap_plan_info",
    "The applied plan: accelerator, model and estimate source (value 1).",
    (*LABELS, "model", "accelerator", "source"),
    registry=REGISTRY,
)
# Online calibration (spec.calibration): the model's error on the running replicas, an SLI of the planner.
PREDICTION_ERROR = Gauge(
    "infercap_prediction_error_ratio",
    "Observed step time over the model's at the observed batch, minus 1 (+0.3: replicas 30 % slower than "
    "predicted), from the serving engine's metrics.",
    LABELS,
    registry=REGISTRY,
)
CALIBRATION_FACTOR = Gauge(
    "infercap_calibration_factor",
    "Smoothed step-time correction of the applied accelerator (applied to the plan in online mode).",
    LABELS,
    registry=REGISTRY,
)
# What exists, next to the plan (status.observed): a gap between these and the planned series is capacity
# that Karpenter or the scheduler has not delivered (yet).
OBSERVED_NODES = Gauge(
    "infercap_observed_nodes_ready", "Ready nodes of the ModelDeployment's pools.", LABELS, registry=REGISTRY
)
OBSERVED_REPLICAS = Gauge(
    "infercap_observed_replicas_ready", "Serving replicas that are ready.", LABELS, registry=REGISTRY
)
OBSERVED_COST = Gauge(
    "infercap_observed_cost_hourly",
    "Hourly cost of the nodes that exist, at catalog prices.",
    (*LABELS, "currency"),
    registry=REGISTRY,
)
READY = Gauge("infercap_ready", "1 when the ModelDeployment is Ready.", LABELS, registry=REGISTRY)
CONDITION = Gauge(
    "infercap_condition",
    "Each condition of a ModelDeployment: 1 True, 0 False (absent while Unknown).",
    (*LABELS, "type"),
    registry=REGISTRY,
)
# result: success (Ready), problem (reconciled, but a condition says what is wrong), retry (to be
# retried: a transient failure), error (the API call failed). Failed reconciles are timed too.
RESULTS = ("success", "problem", "retry", "error")
RECONCILE_SECONDS = Histogram(
    "infercap_reconcile_duration_seconds",
    "Time of one reconcile, by result.",
    ("result",),
    registry=REGISTRY,
    buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)
RECONCILES = Counter("infercap_reconciles_total", "Reconciles, by result.", ("result",), registry=REGISTRY)
for _result in RESULTS:  # every series exists from the start, so rate() sees the first one
    RECONCILES.labels(_result)
    RECONCILE_SECONDS.labels(_result)
ERRORS = Counter(
    "infercap_reconcile_errors_total", "Reconciles that ended in a problem, by reason.", ("reason",), registry=REGISTRY
)

_GAUGES_BY_NAME = (
    DEMAND,
    OBSERVED,
    REPLICAS,
    NODES,
    CHIPS,
    READY,
    PREDICTION_ERROR,
    CALIBRATION_FACTOR,
    OBSERVED_NODES,
    OBSERVED_REPLICAS,
)
_info_labels: dict[tuple[str, str], tuple[str, ...]] = {}
_cost_labels: dict[tuple[str, str], str] = {}
_observed_cost_labels: dict[tuple[str, str], str] = {}
_condition_types: dict[tuple[str, str], set[str]] = {}


def _typed(status: Mapping[str, Any] | ModelDeploymentStatus) -> ModelDeploymentStatus:
    return status if isinstance(status, ModelDeploymentStatus) else read_status(status)


def _ready(st: ModelDeploymentStatus) -> bool:
    return any(c.type == Cond.READY and c.status == "True" for c in st.conditions)


def result_of(status: Mapping[str, Any] | ModelDeploymentStatus, retry: str | None) -> str:
    """The result label of a reconcile that returned `status` (see RESULTS)."""
    if retry:
        return "retry"
    return "success" if _ready(_typed(status)) else "problem"


def reconciled(result: str, seconds: float) -> None:
    """Count and time one reconcile."""
    RECONCILES.labels(result).inc()
    RECONCILE_SECONDS.labels(result).observe(seconds)


def serve(port: int, address: str = "0.0.0.0") -> None:
    start_http_server(port, addr=address, registry=REGISTRY)


def observe(namespace: str, name: str, model: str, status: Mapping[str, Any] | ModelDeploymentStatus) -> None:
    """Update the gauges of one ModelDeployment from its status (read through the status model)."""
    st = _typed(status)
    key = (namespace, name)
    if st.demand is not None:
        DEMAND.labels(*key).set(float(st.demand.requests_per_second))
    if st.autoscaling is not None and st.autoscaling.observed_requests_per_second is not None:
        OBSERVED.labels(*key).set(float(st.autoscaling.observed_requests_per_second))
    if st.plan is not None:
        plan = st.plan
        REPLICAS.labels(*key).set(plan.replicas)
        NODES.labels(*key).set(plan.nodes)
        CHIPS.labels(*key).set(plan.chips)
        info = (model, plan.accelerator, plan.source)
        if _info_labels.get(key) not in (None, info):
            INFO.remove(*key, *_info_labels[key])
        _info_labels[key] = info
        INFO.labels(*key, *info).set(1)
    if st.cost is not None:
        _set_cost(COST, _cost_labels, key, st.cost.currency, st.cost.hourly)
    _calibration(key, st.observed.calibration if st.observed is not None else None)
    if st.observed is not None:
        _observe_existing(key, st.observed)
    READY.labels(*key).set(1 if _ready(st) else 0)
    seen = set()
    for cond in st.conditions:
        if cond.status in ("True", "False"):
            CONDITION.labels(*key, cond.type).set(1 if cond.status == "True" else 0)
            seen.add(cond.type)
    for gone in _condition_types.get(key, set()) - seen:
        CONDITION.remove(*key, gone)
    _condition_types[key] = seen


def _set_cost(
    gauge: Gauge, labels: dict[tuple[str, str], str], key: tuple[str, str], currency: str, hourly: str
) -> None:
    """One series per ModelDeployment: a change of currency removes the old one (never summed across)."""
    if labels.get(key) not in (None, currency):
        gauge.remove(*key, labels[key])
    labels[key] = currency
    gauge.labels(*key, currency).set(float(hourly))


def _calibration(key: tuple[str, str], cal: CalibrationStatus | None) -> None:
    # While a change of replica kind rolls out, the last sample describes the replicas being replaced:
    # no error series then (an alert on it would fire on the old plan's figure).
    settling = cal is not None and bool(cal.rollout_pending)
    for gauge, value in (
        (PREDICTION_ERROR, None if cal is None or settling else cal.prediction_error),
        (CALIBRATION_FACTOR, None if cal is None else cal.factor),
    ):
        if value is not None:
            gauge.labels(*key).set(float(value))
        else:
            with contextlib.suppress(KeyError):
                gauge.remove(*key)


def _observe_existing(key: tuple[str, str], observed: Observed) -> None:
    """The observed series of one ModelDeployment; absent until the operator has observed anything."""
    if not observed.model_fields_set - {"calibration"}:
        return  # nothing observed but the engine's metrics (a provider whose nodes are not counted)
    OBSERVED_NODES.labels(*key).set(observed.nodes_ready)
    if observed.replicas_ready is not None:
        OBSERVED_REPLICAS.labels(*key).set(observed.replicas_ready)
    if observed.cost is not None:
        _set_cost(OBSERVED_COST, _observed_cost_labels, key, observed.cost.currency, observed.cost.hourly)


def count_problems(status: Mapping[str, Any] | ModelDeploymentStatus) -> None:
    """Count one reconcile's problems (conditions False, budget aside) by reason."""
    for cond in _typed(status).conditions:
        if cond.status == "False" and cond.type not in (Cond.READY, Cond.WITHIN_BUDGET):
            ERRORS.labels(cond.reason).inc()


def forget(namespace: str, name: str) -> None:
    """Drop a deleted ModelDeployment's series."""
    key = (namespace, name)
    for gauge in _GAUGES_BY_NAME:
        with contextlib.suppress(KeyError):
            gauge.remove(*key)
    if key in _info_labels:
        INFO.remove(*key, *_info_labels.pop(key))
    if key in _cost_labels:
        COST.remove(*key, _cost_labels.pop(key))
    if key in _observed_cost_labels:
        OBSERVED_COST.remove(*key, _observed_cost_labels.pop(key))
    for ctype in _condition_types.pop(key, set()):
        CONDITION.remove(*key, ctype)
