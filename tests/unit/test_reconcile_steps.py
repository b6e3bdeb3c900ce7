"""The reconcile's steps one by one, and the controller-level scenarios (the middle test tier): the whole
reconcile against the fake API (tests/unit/fakekube.py) with the fake node-pool provider
(tests/unit/fakepool.py), a clock passed in, table-driven where the cases share a shape."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import pytest
from tests.unit.fakekube import FakeKube, mdep
from tests.unit.fakepool import ID, KIND, FakePoolProvider

from infercap.api.conditions import Cond, Reason
from infercap.api.config import OperatorConfig
from infercap.providers import ProviderError, base
from infercap.reconcile import Autoscale, reconcile
from infercap.reconcile.load import load_demand, load_spec
from infercap.reconcile.pools import prune
from infercap.reconcile.report import budget_verdict, judge, with_removals
from infercap.reconcile.run import start
from infercap.reconcile.status import Verdict

T0, T1, T2 = "2026-12-01T00:00:00Z", "2026-12-01T00:05:00Z", "2026-12-01T00:10:00Z"
KEY = ("infercap.dev/v1alpha1", "ModelDeployment", "team", "chat")
SPEC: dict[str, Any] = {
    "model": "llama-3.1-8b",
    "traffic": {"requestsPerSecond": 10, "inputTokens": 1000, "outputTokens": 200},
    "accelerators": ["h100"],
}


@pytest.fixture
def fake() -> Iterator[FakePoolProvider]:
    provider = FakePoolProvider()
    base.register(provider)
    yield provider
    base.unregister(ID)


def cfg() -> OperatorConfig:
    c = OperatorConfig()
    return c.model_copy(update={"default_provider": ID, "enabled_providers": [*c.enabled_providers, ID]})


def at(kube: FakeKube, now: str, spec: dict[str, Any] | None = None) -> Any:
    """One reconcile of team/chat at time `now` (created with `spec` on first use)."""
    body = kube.objects.get(KEY) or kube.put(mdep("chat", "team", spec or SPEC))
    return asyncio.run(reconcile(kube, cfg(), body, now))  # type: ignore[arg-type]


def conds(kube: FakeKube) -> dict[str, dict[str, Any]]:
    return {c["type"]: c for c in kube.objects[KEY]["status"]["conditions"]}


# --- the steps ---------------------------------------------------------------------------------------


def ctx_for(spec: dict[str, Any], status: dict[str, Any] | None = None, autoscale: Autoscale | None = None) -> Any:
    body = {"metadata": {"name": "chat", "namespace": "team", "uid": "u1", "generation": 3}, "spec": spec}
    if status is not None:
        body["status"] = status
    return start(FakeKube(), OperatorConfig(), body, T0, autoscale, None)  # type: ignore[arg-type]


def test_load_spec_names_the_invalid_field() -> None:
    ctx = ctx_for({**SPEC, "traffic": {"requestsPerSecond": -1, "inputTokens": 1, "outputTokens": 1}})
    load_spec(ctx)
    v = ctx.verdicts[Cond.PLANNED]
    assert ctx.spec is None and (v.status, v.reason) == ("False", Reason.INVALID_SPEC) and "spec.traffic" in v.message


OBSERVED = Verdict("True", Reason.OBSERVED, "12 req/s from prometheus")
AUTOSCALING = {"metric": {"prometheus": {"url": "http://prometheus:9090", "query": "up"}}, "maxReplicas": 4}


@pytest.mark.parametrize(
    ("status", "autoscale", "rps", "reason"),
    [
        (None, None, None, Reason.WAITING),  # no sample yet: spec.traffic
        ({"autoscaling": {"plannedRequestsPerSecond": "7.5"}}, None, 7.5, Reason.WAITING),  # between polls
        (None, Autoscale(12.0, {"plannedRequestsPerSecond": "12"}, OBSERVED), 12.0, Reason.OBSERVED),
    ],
)
def test_load_demand(
    status: dict[str, Any] | None, autoscale: Autoscale | None, rps: float | None, reason: str
) -> None:
    ctx = ctx_for({**SPEC, "autoscaling": AUTOSCALING}, status, autoscale)
    load_spec(ctx)
    load_demand(ctx)
    assert ctx.demand_rps == rps and ctx.verdicts[Cond.DEMAND_OBSERVED].reason == reason


def test_without_a_plan_the_applied_conditions_are_kept() -> None:
    kept = {"type": Cond.NODE_POOLS_READY, "status": "True", "reason": Reason.APPLIED, "message": "m"}
    ctx = ctx_for(SPEC, {"conditions": [kept]})
    judge(ctx)
    assert ctx.verdicts == {Cond.NODE_POOLS_READY: Verdict("True", Reason.APPLIED, "m")}


def test_a_status_patch_clears_keys_that_went() -> None:
    assert with_removals({"observed": {}, "plan": 1}, {"plan": 2}) == {"plan": 2, "observed": None}
    # In nested objects too: a merge patch keeps an object's old keys (a closed window's floor would stay).
    old = {"autoscaling": {"plannedRequestsPerSecond": "40", "scheduleWindow": "launch"}, "conditions": [1, 2]}
    new = {"autoscaling": {"plannedRequestsPerSecond": "5"}, "conditions": [1]}
    patch = with_removals(old, new)
    assert patch == {"autoscaling": {"plannedRequestsPerSecond": "5", "scheduleWindow": None}, "conditions": [1]}
    from tests.unit.fakekube import merge

    merge(old, patch)
    assert old == new, "the API server's merge of the patch is the new status"


def test_prune_keeps_the_previous_pools_during_a_switch_and_removes_them_after() -> None:
    from infercap.providers import Owner

    kube = FakeKube()
    owner = Owner("chat", "team", "u1")
    old = kube.put(
        {
            "apiVersion": "karpenter.sh/v1",
            "kind": "NodePool",
            "metadata": {"name": "old", "labels": {"infercap.dev/owner-uid": "u1"}},
        }
    )
    foreign = {"apiVersion": "karpenter.sh/v1", "kind": "NodePool", "metadata": {"name": "theirs"}}
    kube.put(foreign)
    refs = [{"apiVersion": "karpenter.sh/v1", "kind": "NodePool", "name": n} for n in ("old", "theirs")]
    kept = asyncio.run(prune(kube, owner, [], refs, keep_previous=True))  # type: ignore[arg-type]
    assert [r["name"] for r in kept] == ["old", "theirs"] and len(kube.of_kind("NodePool")) == 2
    asyncio.run(prune(kube, owner, [], refs, keep_previous=False))  # type: ignore[arg-type]
    assert [o["metadata"]["name"] for o in kube.of_kind("NodePool")] == ["theirs"], "only ours is deleted"
    assert old["metadata"]["name"] == "old"


def test_budget_verdicts() -> None:
    from infercap.api.deployment import ModelDeploymentSpec
    from infercap.core.catalog import builtin_catalog
    from infercap.core.planner import plan

    cat = builtin_catalog()
    for budget, status, reason in (
        (None, "True", Reason.NO_BUDGET),
        ("1000000", "True", Reason.WITHIN_BUDGET),
        ("0.01", "False", Reason.OVER_BUDGET),
    ):
        spec = {**SPEC, **({"budget": {"maxMonthlyCost": budget}} if budget else {})}
        v = budget_verdict(plan(cat, ModelDeploymentSpec.model_validate(spec)))
        assert (v.status, v.reason) == (status, reason)


# --- controller-level scenarios ----------------------------------------------------------------------


def test_happy_path_then_idempotent(fake: FakePoolProvider) -> None:
    kube = FakeKube()
    first = at(kube, T0)
    assert first.written and [e.reason for e in first.events] == [Reason.PLANNED]
    c = conds(kube)
    assert c[Cond.PLANNED]["status"] == "True" and c[Cond.QUOTA_APPLIED]["status"] == "True"
    assert c[Cond.NODE_POOLS_READY]["status"] == "Unknown"  # applied; the pool's controller has not judged it
    assert len(kube.of_kind(KIND.kind)) == 1 and len(kube.of_kind("ResourceQuota")) == 1
    writes = kube.calls["patch"]
    again = at(kube, T1)
    assert not again.written and again.events == [] and kube.calls["patch"] == writes, "nothing changed: no write"
    assert conds(kube)[Cond.PLANNED]["lastTransitionTime"] == T0


@pytest.mark.parametrize(
    ("ready", "status", "reason"),
    [
        (None, "Unknown", Reason.NODE_POOL_PENDING),
        ("Unknown", "Unknown", Reason.NODE_POOL_PENDING),
        ("False", "False", Reason.NODE_POOL_NOT_READY),
        ("True", "True", Reason.READY),
    ],
)
def test_node_pools_ready_follows_the_pools_own_condition(
    fake: FakePoolProvider, ready: str | None, status: str, reason: str
) -> None:
    kube = FakeKube()
    at(kube, T0)
    if ready is not None:
        kube.set_ready(KIND.kind, ready, "NodeClassNotReady" if ready == "False" else "", "no capacity")
    at(kube, T1)
    c = conds(kube)[Cond.NODE_POOLS_READY]
    assert (c["status"], c["reason"]) == (status, reason)
    assert (c["lastTransitionTime"] == T1) == (status != "Unknown"), "the time moves only when status changes"
    if status == "False":
        assert "no capacity" in c["message"] and conds(kube)[Cond.READY]["status"] == "False"


@pytest.mark.parametrize(
    ("error", "quota"),
    [
        (ProviderError(Reason.PROVIDER_UNSUPPORTED, "cannot make h100"), False),  # refused: no quota
        (ProviderError(Reason.TARGET_NOT_ALLOWED, "not your pool"), False),
    ],
)
def test_a_provider_refusal_is_the_condition_and_gets_no_quota(
    fake: FakePoolProvider, error: ProviderError, quota: bool
) -> None:
    fake.render_error = error
    kube = FakeKube()
    result = at(kube, T0)
    c = conds(kube)[Cond.NODE_POOLS_READY]
    assert (c["status"], c["reason"], c["message"]) == ("False", error.reason, error.message)
    assert bool(kube.of_kind("ResourceQuota")) == quota and not kube.of_kind(KIND.kind)
    assert [e.type for e in result.events if e.reason == error.reason] == ["Warning"]
    assert result.retry is None, "a refusal is not retried in seconds: the spec must change"


def test_an_apply_failure_is_retried_and_converges(fake: FakePoolProvider) -> None:
    kube = FakeKube()
    kube.fail_apply = {KIND.kind}
    result = at(kube, T0)
    assert result.retry == "apply failed" and not kube.of_kind(KIND.kind)
    c = conds(kube)[Cond.NODE_POOLS_READY]
    assert (c["status"], c["reason"]) == ("False", Reason.APPLY_FAILED)
    assert not any(ch["kind"] == KIND.kind for ch in kube.objects[KEY]["status"]["children"])
    kube.fail_apply = set()
    result = at(kube, T1)
    assert result.retry is None and len(kube.of_kind(KIND.kind)) == 1
    c = conds(kube)[Cond.NODE_POOLS_READY]
    assert c["status"] == "Unknown" and c["lastTransitionTime"] == T1
    assert [e.reason for e in result.events] == [], "Unknown is not a recovery worth an event"


def test_an_unplannable_spec_keeps_what_was_applied(fake: FakePoolProvider) -> None:
    kube = FakeKube()
    at(kube, T0)
    pool = kube.of_kind(KIND.kind)[0]
    kube.objects[KEY]["spec"] = {**SPEC, "model": "no-such-model"}
    at(kube, T1)
    c = conds(kube)
    assert c[Cond.PLANNED]["status"] == "False" and c[Cond.QUOTA_APPLIED]["status"] == "True"
    assert kube.of_kind(KIND.kind) == [pool] and kube.of_kind("ResourceQuota")


def test_a_reconcile_with_the_api_down_raises_and_writes_nothing(fake: FakePoolProvider) -> None:
    from infercap.kube.client import KubeError

    kube = FakeKube()
    at(kube, T0)
    before = kube.objects[KEY]["status"]
    kube.fail = {"apply", "get"}
    with pytest.raises(KubeError):
        at(kube, T2)
    assert kube.objects[KEY]["status"] == before
