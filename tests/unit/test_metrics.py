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
        ({"conditions": [{"type": "Ready", "status": "True"}]}, None, "success"),
        ({"conditions": [{"type": "Ready", "status": "False"}]}, None, "problem"),
        ({}, None, "problem"),
        ({"conditions": [{"type": "Ready", "status": "True"}]}, "quota conflict", "retry"),
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
            {"type": "Ready", "status": "False"},
            {"type": "WithinBudget", "status": "False"},
            {"type": "NodePoolsReady", "status": "True"},
            {"type": "DemandObserved", "status": "Unknown"},
        ]
    }
    metrics.observe(ns, name, "llama-3.1-8b", status)
    assert value("infercap_condition", namespace=ns, name=name, type="WithinBudget") == 0
    assert value("infercap_condition", namespace=ns, name=name, type="NodePoolsReady") == 1
    assert value("infercap_condition", namespace=ns, name=name, type="DemandObserved") is None
    metrics.observe(ns, name, "llama-3.1-8b", {"conditions": [{"type": "Ready", "status": "True"}]})
    assert value("infercap_condition", namespace=ns, name=name, type="WithinBudget") is None, "gone with its condition"
    assert value("infercap_condition", namespace=ns, name=name, type="Ready") == 1
    metrics.forget(ns, name)
    assert value("infercap_condition", namespace=ns, name=name, type="Ready") is None


def test_observed_capacity_is_exported_next_to_the_plan() -> None:
    ns, name = "t-metrics", "observed"
    status: dict[str, Any] = {
        "plan": {"replicas": 4, "nodes": 2, "chips": 16, "accelerator": "h100", "source": "calibrated"},
        "observed": {"nodesReady": 1, "replicasReady": 3, "cost": {"currency": "EUR", "hourly": "12.5"}},
    }
    metrics.observe(ns, name, "llama-3.1-70b", status)
    assert value("infercap_planned_nodes", namespace=ns, name=name) == 2
    assert value("infercap_observed_nodes_ready", namespace=ns, name=name) == 1
    assert value("infercap_observed_replicas_ready", namespace=ns, name=name) == 3
    assert value("infercap_observed_cost_hourly", namespace=ns, name=name, currency="EUR") == 12.5
    status["observed"]["cost"] = {"currency": "USD", "hourly": "13"}
    metrics.observe(ns, name, "llama-3.1-70b", status)
    assert value("infercap_observed_cost_hourly", namespace=ns, name=name, currency="EUR") is None, "one currency"
    metrics.forget(ns, name)
    for series in ("infercap_observed_nodes_ready", "infercap_observed_replicas_ready"):
        assert value(series, namespace=ns, name=name) is None
    assert value("infercap_observed_cost_hourly", namespace=ns, name=name, currency="USD") is None


def test_nothing_observed_means_no_observed_series() -> None:
    ns, name = "t-metrics", "unobserved"
    metrics.observe(ns, name, "llama-3.1-8b", {"plan": {"replicas": 1, "nodes": 1, "chips": 1}})
    assert value("infercap_observed_nodes_ready", namespace=ns, name=name) is None
    metrics.forget(ns, name)
