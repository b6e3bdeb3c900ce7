"""The Kopf-free runtime (infercap.controller) and the handlers' translation: a reconcile through the
Operator posts the events and metrics of its result under a clock passed in, a transient failure is a
Retry, and handlers turn a Retry into kopf.TemporaryError with its delay."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import kopf
import pytest
from tests.unit.fakekube import FakeKube, mdep
from tests.unit.fakeprom import serve_demand

from infercap.api.config import OperatorConfig
from infercap.controller import Operator, Retry
from infercap.handlers import retrying

SPEC: dict[str, Any] = {
    "model": "llama-3.1-8b",
    "traffic": {"requestsPerSecond": 10, "inputTokens": 1000, "outputTokens": 200},
    "accelerators": ["h100"],
}
KEY = ("infercap.dev/v1alpha1", "ModelDeployment", "team", "chat")
log = logging.getLogger("test")


def operator(kube: FakeKube, clock: str = "2026-12-01T00:00:00Z") -> Operator:
    op = Operator(OperatorConfig(), clock=lambda: clock)
    op.kube = kube  # type: ignore[assignment]
    return op


def test_a_reconcile_posts_its_events_once_and_uses_the_clock() -> None:
    kube = FakeKube()
    body = kube.put(mdep("chat", "team", SPEC))

    async def twice() -> None:
        await operator(kube).run_reconcile(body, log, {})
        await operator(kube, "2026-12-01T01:00:00Z").run_reconcile(body, log, {})
        await asyncio.sleep(0)

    asyncio.run(twice())
    reasons = [e.reason for e in kube.client.events]
    assert reasons == ["Planned"], "the second reconcile changed nothing: no event"
    assert kube.client.events[0].reportingController == "infercap"
    conds = {c["type"]: c for c in kube.objects[KEY]["status"]["conditions"]}
    assert conds["Planned"]["lastTransitionTime"] == "2026-12-01T00:00:00Z"


def test_an_unreachable_api_is_a_retry_soon() -> None:
    kube = FakeKube()
    body = kube.put(mdep("chat", "team", SPEC))
    kube.fail = {"get"}
    with pytest.raises(Retry) as e:
        asyncio.run(operator(kube).run_reconcile(body, log, {}))
    assert e.value.delay == 2.0 and "ServiceUnavailable" in e.value.message


def test_an_apply_failure_is_a_retry_after_the_status_is_written() -> None:
    kube = FakeKube()
    body = kube.put(mdep("chat", "team", SPEC))
    kube.fail_apply = {"NodePool"}
    with pytest.raises(Retry) as e:
        asyncio.run(operator(kube).run_reconcile(body, log, {}))
    assert e.value.delay == 30 and e.value.message == "apply failed"
    conds = {c["type"]: c for c in kube.objects[KEY]["status"]["conditions"]}
    assert conds["NodePoolsReady"]["reason"] == "ApplyFailed"


def test_deletion_removes_the_pools_and_forgets_the_object() -> None:
    kube = FakeKube()
    body = kube.put(mdep("chat", "team", SPEC))
    op = operator(kube)
    asyncio.run(op.run_reconcile(body, log, {}))
    assert kube.of_kind("NodePool") and body["metadata"]["uid"] in op.locks
    asyncio.run(op.delete(kube.objects[KEY], log, {}))
    assert not kube.of_kind("NodePool") and not kube.of_kind("ResourceQuota")
    assert body["metadata"]["uid"] not in op.locks


def test_handlers_turn_a_retry_into_kopfs_temporary_error() -> None:
    async def fails() -> None:
        raise Retry("apply failed", 30)

    async def works() -> int:
        return 7

    with pytest.raises(kopf.TemporaryError) as e:
        asyncio.run(retrying(fails()))
    assert e.value.delay == 30 and "apply failed" in str(e.value)
    assert asyncio.run(retrying(works())) == 7


def test_handler_ids_survive_the_split_of_build_registry() -> None:
    """Kopf keeps handler progress in annotations under these ids, and logs name them: an upgrade must
    find the same ones (they were the qualified names of functions defined inside build_registry)."""
    from infercap.handlers import build_registry

    registry, _ = build_registry(OperatorConfig())
    ids = {h.id for reg in (registry._changing, registry._spawning) for h in reg.get_all_handlers()}
    old = {f"build_registry.<locals>.{n}" for n in ("changed", "changed/spec", "deleted", "resync", "autoscale")}
    assert old <= ids


def test_health_reports_the_catalog_it_loaded() -> None:
    from infercap.controller import Operator
    from infercap.core.catalog import builtin_catalog

    health = Operator.health()
    assert health == {"models": len(builtin_catalog().models), "accelerators": len(builtin_catalog().accelerators)}
    assert health["models"] > 0 and health["accelerators"] > 0


def test_the_autoscaler_writes_its_status_block_through_the_model(monkeypatch: pytest.MonkeyPatch) -> None:
    """A poll records the observed and planned demand (status.autoscaling, keys from api/status.py); a
    failed poll keeps the last observation and says so in DemandObserved."""
    from infercap.api.status import read as read_status

    kube = FakeKube()
    spec = {
        **SPEC,
        "slo": {"outputTokensPerSecondPerStream": 30},
        "autoscaling": {"metric": {"prometheus": {"source": "main", "query": "sum(rate(x[1m]))"}}},
    }
    body = kube.put(mdep("chat", "team", spec))
    serve_demand(monkeypatch, 24.0, None)
    op = operator(kube)
    asyncio.run(op.autoscale(body, log, {}))
    status = read_status(kube.objects[KEY]["status"])
    assert status.autoscaling is not None and status.autoscaling.observed_requests_per_second == "24"
    assert status.autoscaling.planned_requests_per_second and status.autoscaling.last_decision
    # The error budget's account opens with the first decision (nothing served yet) and rides in status.
    budget = status.autoscaling.error_budget
    assert budget is not None and budget.requests == 0 and budget.allowance == pytest.approx(0.005)
    assert kube.objects[KEY]["status"]["demand"]["source"] == "metric"
    first = status.autoscaling
    asyncio.run(op.autoscale(kube.objects[KEY], log, {}))
    again = read_status(kube.objects[KEY]["status"])
    assert again.autoscaling is not None and again.autoscaling.observed_requests_per_second == "24", "kept"
    assert again.autoscaling.observed_time == first.observed_time
    cond = {c.type: c for c in again.conditions}["DemandObserved"]
    assert cond.status == "False" and cond.reason == "QueryFailed"


def test_the_autoscaler_passes_the_schedules_floor_and_records_it(monkeypatch: pytest.MonkeyPatch) -> None:
    """The floor of the windows open within the next provisioning delay, at the controller's clock, raises
    the planned demand and rides in status.autoscaling; once no window is near, the fields go."""
    from infercap import controller

    kube = FakeKube()
    window = {"name": "launch", "start": "09:00", "end": "10:00", "timeZone": "Europe/Berlin", "requestsPerSecond": 40}
    spec = {
        **SPEC,
        "autoscaling": {
            "metric": {"prometheus": {"source": "main", "query": "sum(rate(x[1m]))"}},
            "provisioningSeconds": 600,
            "schedule": [window],
        },
    }
    body = kube.put(mdep("chat", "team", spec))

    serve_demand(monkeypatch, 2.0)
    clock = {"t": 1_764_661_800.0}  # 2025-12-02T07:50:00Z, 08:50 in Berlin: the window opens within 600 s
    monkeypatch.setattr(controller.time, "time", lambda: clock["t"])
    op = operator(kube)
    asyncio.run(op.autoscale(body, log, {}))
    auto = kube.objects[KEY]["status"]["autoscaling"]
    assert auto["scheduledRequestsPerSecond"] == "40" and auto["scheduleWindow"] == "launch"
    assert float(auto["plannedRequestsPerSecond"]) >= 40 and "launch" in auto["message"]
    assert kube.objects[KEY]["status"]["demand"]["source"] == "metric"
    clock["t"] += 3 * 3600  # 11:50 in Berlin: closed, and no window within the next delay
    asyncio.run(op.autoscale(kube.objects[KEY], log, {}))
    auto = kube.objects[KEY]["status"]["autoscaling"]
    assert "scheduledRequestsPerSecond" not in auto and "scheduleWindow" not in auto


def test_an_unknown_time_zone_is_an_invalid_spec_naming_the_field() -> None:
    kube = FakeKube()
    window = {"start": "09:00", "end": "17:00", "timeZone": "Europe/Berln", "requestsPerSecond": 40}
    spec = {**SPEC, "autoscaling": {"metric": {"prometheus": {"source": "main", "query": "q"}}, "schedule": [window]}}
    body = kube.put(mdep("chat", "team", spec))
    asyncio.run(operator(kube).autoscale(body, log, {}))
    conds = {c["type"]: c for c in kube.objects[KEY]["status"]["conditions"]}
    assert conds["Planned"]["status"] == "False" and conds["Planned"]["reason"] == "InvalidSpec"
    assert conds["Planned"]["message"].startswith("spec.autoscaling.schedule[0].timeZone: unknown time zone")
    assert [(e.type, e.reason) for e in kube.client.events] == [("Warning", "InvalidSpec")]


def test_the_first_plan_falls_back_to_spec_traffic_and_a_floor_only_raises_it() -> None:
    from infercap.controller import first_plan
    from infercap.core.autoscale import Decision, State

    def decision(planned: float, reason: str) -> Decision:
        return Decision(planned, State(planned=planned or None), reason, None, "")

    assert first_plan(decision(0.0, "NoSignal"), State(), 10.0) == 10.0
    assert first_plan(decision(0.0, "ScaleUp"), State(), 10.0) == 10.0, "only zero demand seen"
    assert first_plan(decision(4.0, "NoSignal"), State(), 10.0) == 10.0, "a floor under spec.traffic"
    assert first_plan(decision(40.0, "NoSignal"), State(), 10.0) == 40.0, "a floor above it"
    assert first_plan(decision(4.0, "ScaleUp"), State(), 10.0) == 4.0, "demand observed"
    assert first_plan(decision(4.0, "NoSignal"), State(planned=4.0), 10.0) == 4.0, "not the first plan"
