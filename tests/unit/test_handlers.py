"""Handler helpers that need no cluster: the autoscaler's memory across restarts, its configuration
from the spec, and retry timing of API errors."""

from __future__ import annotations

import pytest

from infercap.api.deployment import Autoscaling, ModelDeploymentSpec
from infercap.api.status import AutoscalingStatus, ErrorBudgetStatus, dump
from infercap.api.status import read as read_status
from infercap.controller import unloaded_ttft
from infercap.handlers import policy_config, restore_state, retry_delay
from infercap.kube.client import KubeError


def test_restart_resumes_the_last_decision() -> None:
    state = restore_state({"plannedRequestsPerSecond": "42.5", "lastScaleDownTime": "2026-11-28T10:00:00Z"})
    assert state.planned == 42.5
    assert state.last_down == 1795860000.0
    assert restore_state({}).planned is None
    assert restore_state({}).budget is None


def test_restart_keeps_the_error_budget() -> None:
    """status.autoscaling.errorBudget round-trips through the status model into the policy's state."""
    block = dump(
        AutoscalingStatus(
            planned_requests_per_second="42.5",
            last_decision="Hold",
            last_decision_time="2026-11-28T10:00:00Z",
            error_budget=ErrorBudgetStatus(
                since="2026-11-28T09:00:00Z", updated="2026-11-28T10:00:00Z", requests=1e5, misses=12.5, allowance=0.01
            ),
        )
    )
    b = restore_state(block).budget
    assert b is not None
    assert (b.t - b.since, b.requests, b.misses) == (3600.0, 1e5, 12.5)


def test_policy_follows_the_spec() -> None:
    a = Autoscaling.model_validate(
        {
            "metric": {"prometheus": {"url": "http://p:9090", "query": "up"}},
            "scaleDownStabilizationSeconds": 900,
            "provisioningSeconds": 120,
            "staleAfterSeconds": 60,
        }
    )
    cfg = policy_config(a)
    assert (cfg.scale_down_stabilization_seconds, cfg.provisioning_seconds, cfg.stale_after_seconds) == (900, 120, 60)
    assert cfg.seconds_per_request is None and cfg.target_attainment == 0.995
    spec = ModelDeploymentSpec.model_validate(
        {
            "model": "llama-3.1-8b",
            "traffic": {"requestsPerSecond": 1, "inputTokens": 100, "outputTokens": 400},
            "slo": {"outputTokensPerSecondPerStream": 20},
            "autoscaling": {
                "metric": {"prometheus": {"url": "http://p:9090", "query": "up"}},
                "targetAttainment": "0.99",
            },
        }
    )
    assert spec.autoscaling is not None
    cfg = policy_config(spec.autoscaling, spec)
    assert cfg.seconds_per_request == 20.0, "400 tokens at 20 tokens/s hold a batch slot 20 s"
    assert cfg.target_attainment == 0.99
    assert cfg.wait_seconds == 0.0, "no TTFT target: the margin sizes for no waiting"
    timed = spec.model_copy(update={"slo": spec.slo.model_copy(update={"time_to_first_token_ms": 1500})})
    assert policy_config(spec.autoscaling, timed).wait_seconds == 0.0, "no planned TTFT yet: no waiting"
    # The applied plan's unloaded TTFT (status.plan.perReplica) leaves the rest of the target to queue in.
    status = read_status({"plan": _plan_status({"timeToFirstTokenMs": 300.0})})
    assert unloaded_ttft(status) == pytest.approx(0.3)
    assert policy_config(spec.autoscaling, timed, unloaded_ttft(status)).wait_seconds == pytest.approx(1.2)
    assert unloaded_ttft(read_status({})) is None


def _plan_status(per_replica: dict[str, float]) -> dict[str, object]:
    return {
        "accelerator": "h100",
        "chipsPerReplica": 1,
        "replicas": 1,
        "nodes": 1,
        "chips": 1,
        "resourceName": "nvidia.com/gpu",
        "source": "analytic",
        "perReplica": per_replica,
    }


def test_transient_api_errors_retry_fast() -> None:
    assert retry_delay(KubeError("TooManyRequests", "storage is (re)initializing", 429)) == 2
    assert retry_delay(KubeError("Conflict", "conflict", 409)) == 2
    assert retry_delay(KubeError("Forbidden", "forbidden", 403)) == 15
