"""The operator's metrics: build info and the process/platform collectors are served, reconciles are
counted and timed by result (failures included), and conditions become series that go away with them."""

from __future__ import annotations

from typing import Any

import pytest
from prometheus_client import generate_latest

from infercap import __version__, metrics

R = metrics.REGISTRY


def value(metric: str, **labels: str) -> float | None:
    return R.get_sample_value(metric, labels)


def cond(ctype: str, status: str) -> dict[str, str]:
    """A condition as the operator writes it (the metrics read status through its model)."""
    reason = {"True": "Ready", "False": "Problem", "Unknown": "Waiting"}[status]
    return {"type": ctype, "status": status, "reason": reason, "lastTransitionTime": "2026-12-01T00:00:00Z"}


def plan(**fields: Any) -> dict[str, Any]:
    base = {"accelerator": "h100", "chipsPerReplica": 4, "resourceName": "nvidia.com/gpu", "source": "calibrated"}
    return {**base, **fields}


def test_build_info_and_process_and_platform_collectors_are_served() -> None:
    text = generate_latest(R).decode()
    assert 'infercap_build_info{python="' in text and f'version="{__version__}"' in text
    for family in ("process_cpu_seconds_total", "process_resident_memory_bytes", "python_info", "python_gc_"):
        assert family in text, family


def test_every_result_series_exists_before_the_first_reconcile() -> None:
    for result in metrics.RESULTS:
        assert value("infercap_reconciles_total", result=result) is not None
        assert value("infercap_reconcile_duration_seconds_count", result=result) is not None


@pytest.mark.parametrize(
    ("status", "retry", "result"),
    [
        ({"conditions": [cond("Ready", "True")]}, None, "success"),
        ({"conditions": [cond("Ready", "False")]}, None, "problem"),
        ({}, None, "problem"),
        ({"conditions": [cond("Ready", "True")]}, "quota conflict", "retry"),
    ],
)
def test_result_of(status: dict[str, Any], retry: str | None, result: str) -> None:
    assert metrics.result_of(status, retry) == result


def test_failed_reconciles_are_counted_and_timed() -> None:
    before = value("infercap_reconciles_total", result="error") or 0
    timed = value("infercap_reconcile_duration_seconds_count", result="error") or 0
    metrics.reconciled("error", 0.2)
    assert value("infercap_reconciles_total", result="error") == before + 1
    assert value("infercap_reconcile_duration_seconds_count", result="error") == timed + 1
    assert (value("infercap_reconcile_duration_seconds_bucket", result="error", le="0.25") or 0) >= 1


def test_conditions_become_series_that_follow_the_status() -> None:
    ns, name = "t-metrics", "md"
    status = {
        "conditions": [
            cond("Ready", "False"),
            cond("WithinBudget", "False"),
            cond("NodePoolsReady", "True"),
            cond("DemandObserved", "Unknown"),
        ]
    }
    metrics.observe(ns, name, "llama-3.1-8b", status)
    assert value("infercap_condition", namespace=ns, name=name, type="WithinBudget") == 0
    assert value("infercap_condition", namespace=ns, name=name, type="NodePoolsReady") == 1
    assert value("infercap_condition", namespace=ns, name=name, type="DemandObserved") is None
    metrics.observe(ns, name, "llama-3.1-8b", {"conditions": [cond("Ready", "True")]})
    assert value("infercap_condition", namespace=ns, name=name, type="WithinBudget") is None, "gone with its condition"
    assert value("infercap_condition", namespace=ns, name=name, type="Ready") == 1
    metrics.forget(ns, name)
    assert value("infercap_condition", namespace=ns, name=name, type="Ready") is None


def test_observed_capacity_is_exported_next_to_the_plan() -> None:
    ns, name = "t-metrics", "observed"
    status: dict[str, Any] = {
        "plan": plan(replicas=4, nodes=2, chips=16),
        "observed": {
            "nodesReady": 1,
            "replicasReady": 3,
            "cost": {"currency": "EUR", "hourly": "12.5", "monthly": "9125"},
        },
    }
    metrics.observe(ns, name, "llama-3.1-70b", status)
    assert value("infercap_planned_nodes", namespace=ns, name=name) == 2
    assert value("infercap_observed_nodes_ready", namespace=ns, name=name) == 1
    assert value("infercap_observed_replicas_ready", namespace=ns, name=name) == 3
    assert value("infercap_observed_cost_hourly", namespace=ns, name=name, currency="EUR") == 12.5
    status["observed"]["cost"] = {"currency": "USD", "hourly": "13", "monthly": "9490"}
    metrics.observe(ns, name, "llama-3.1-70b", status)
    assert value("infercap_observed_cost_hourly", namespace=ns, name=name, currency="EUR") is None, "one currency"
    metrics.forget(ns, name)
    for series in ("infercap_observed_nodes_ready", "infercap_observed_replicas_ready"):
        assert value(series, namespace=ns, name=name) is None
    assert value("infercap_observed_cost_hourly", namespace=ns, name=name, currency="USD") is None


def test_nothing_observed_means_no_observed_series() -> None:
    ns, name = "t-metrics", "unobserved"
    metrics.observe(ns, name, "llama-3.1-8b", {"plan": plan(replicas=1, nodes=1, chips=1)})
    assert value("infercap_observed_nodes_ready", namespace=ns, name=name) is None
    metrics.forget(ns, name)


def test_a_block_that_does_not_validate_is_left_out_not_fatal() -> None:
    """Metrics read status through its model: a hand-edited block costs its own series, not the others."""
    ns, name = "t-metrics", "edited"
    metrics.observe(ns, name, "m", {"plan": {"replicas": "many"}, "conditions": [cond("Ready", "True")]})
    assert value("infercap_planned_replicas", namespace=ns, name=name) is None
    assert value("infercap_ready", namespace=ns, name=name) == 1
    metrics.forget(ns, name)


def test_no_prediction_error_series_while_a_change_of_replica_kind_rolls_out() -> None:
    """The last sample describes the replicas being replaced: an alert on it would fire on the old plan."""
    ns, name = "t-metrics", "switching"
    cal = {"mode": "online", "engine": "vllm", "predictionError": "0.4", "factor": "1.3"}
    metrics.observe(ns, name, "m", {"observed": {"calibration": cal}})
    assert value("infercap_prediction_error_ratio", namespace=ns, name=name) == 0.4
    metrics.observe(ns, name, "m", {"observed": {"calibration": {**cal, "rolloutPending": True}}})
    assert value("infercap_prediction_error_ratio", namespace=ns, name=name) is None
    assert value("infercap_calibration_factor", namespace=ns, name=name) == 1.3, "the filter state still holds"
    metrics.forget(ns, name)
