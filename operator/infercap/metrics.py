"""The operator's Prometheus metrics (prometheus-client), one series set per ModelDeployment plus
reconcile totals, timing and errors, build info and the process and platform collectors. Served by
`infercap run --metrics-port`."""

from __future__ import annotations

import contextlib
import platform
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


def result_of(status: dict[str, Any], retry: str | None) -> str:
    """The result label of a reconcile that returned `status` (see RESULTS)."""
    if retry:
        return "retry"
    ready = next((c for c in status.get("conditions", []) if c.get("type") == Cond.READY), None)
    return "success" if ready is not None and ready.get("status") == "True" else "problem"


def reconciled(result: str, seconds: float) -> None:
    """Count and time one reconcile."""
    RECONCILES.labels(result).inc()
    RECONCILE_SECONDS.labels(result).observe(seconds)


def serve(port: int, address: str = "0.0.0.0") -> None:
    start_http_server(port, addr=address, registry=REGISTRY)


def observe(namespace: str, name: str, model: str, status: dict[str, Any]) -> None:
    """Update the gauges of one ModelDeployment from its status."""
    key = (namespace, name)
    plan = status.get("plan") or {}
    cost = status.get("cost") or {}
    demand = status.get("demand") or {}
    auto = status.get("autoscaling") or {}
    if demand.get("requestsPerSecond") is not None:
        DEMAND.labels(*key).set(float(demand["requestsPerSecond"]))
    if auto.get("observedRequestsPerSecond") is not None:
        OBSERVED.labels(*key).set(float(auto["observedRequestsPerSecond"]))
    if plan:
        REPLICAS.labels(*key).set(plan.get("replicas", 0))
        NODES.labels(*key).set(plan.get("nodes", 0))
        CHIPS.labels(*key).set(plan.get("chips", 0))
        info = (model, plan.get("accelerator", ""), plan.get("source", ""))
        if _info_labels.get(key) not in (None, info):
            INFO.remove(*key, *_info_labels[key])
        _info_labels[key] = info
        INFO.labels(*key, *info).set(1)
    if cost.get("hourly") is not None:
        currency = cost.get("currency", "USD")
        if _cost_labels.get(key) not in (None, currency):
            COST.remove(*key, _cost_labels[key])
        _cost_labels[key] = currency
        COST.labels(*key, currency).set(float(cost["hourly"]))
    _calibration(key, (status.get("observed") or {}).get("calibration") or {})
    _observe_existing(key, status.get("observed") or {})
    ready = next((c for c in status.get("conditions", []) if c.get("type") == Cond.READY), None)
    READY.labels(*key).set(1 if ready and ready.get("status") == "True" else 0)
    seen = set()
    for cond in status.get("conditions", []):
        if cond.get("status") in ("True", "False"):
            CONDITION.labels(*key, cond["type"]).set(1 if cond["status"] == "True" else 0)
            seen.add(cond["type"])
    for gone in _condition_types.get(key, set()) - seen:
        CONDITION.remove(*key, gone)
    _condition_types[key] = seen


def _calibration(key: tuple[str, str], block: dict[str, Any]) -> None:
    for gauge, field in ((PREDICTION_ERROR, "predictionError"), (CALIBRATION_FACTOR, "factor")):
        if block.get(field) is not None:
            gauge.labels(*key).set(float(block[field]))
        else:
            with contextlib.suppress(KeyError):
                gauge.remove(*key)


def _observe_existing(key: tuple[str, str], observed: dict[str, Any]) -> None:
    """The observed series of one ModelDeployment; absent until the operator has observed anything."""
    if not set(observed) - {"calibration"}:
        return  # nothing observed but the engine's metrics (a provider whose nodes are not counted)
    OBSERVED_NODES.labels(*key).set(observed.get("nodesReady", 0))
    if observed.get("replicasReady") is not None:
        OBSERVED_REPLICAS.labels(*key).set(observed["replicasReady"])
    cost = observed.get("cost") or {}
    if cost.get("hourly") is not None:
        currency = cost.get("currency", "USD")
        if _observed_cost_labels.get(key) not in (None, currency):
            OBSERVED_COST.remove(*key, _observed_cost_labels[key])
        _observed_cost_labels[key] = currency
        OBSERVED_COST.labels(*key, currency).set(float(cost["hourly"]))


def count_problems(status: dict[str, Any]) -> None:
    """Count one reconcile's problems (conditions False, budget aside) by reason."""
    for cond in status.get("conditions", []):
        if cond.get("status") == "False" and cond.get("type") not in (Cond.READY, Cond.WITHIN_BUDGET):
            ERRORS.labels(cond.get("reason", "Unknown")).inc()


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
