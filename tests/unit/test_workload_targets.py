"""Workload targets: the registry picks the target a spec asks for, and a registered fake target's
outcome (condition, children, retry, a switch in progress, an API error) reaches the reconcile's status."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import pytest
from tests.unit.fakekube import FakeKube, mdep
from tests.unit.faketarget import FakeTarget

from infercap.api.conditions import Cond, Reason
from infercap.api.config import OperatorConfig
from infercap.api.deployment import ModelDeploymentSpec
from infercap.kube.client import KubeError
from infercap.reconcile import reconcile
from infercap.reconcile.status import Verdict
from infercap.reconcile.workload import WorkloadTarget, register, registered, target_for, unregister

NOW = "2026-12-01T00:00:00Z"
SPEC: dict[str, Any] = {
    "model": "llama-3.1-8b",
    "traffic": {"requestsPerSecond": 10, "inputTokens": 1000, "outputTokens": 200},
    "accelerators": ["h100"],
}


@pytest.mark.parametrize(
    ("extra", "name"),
    [
        ({}, "none"),
        ({"serving": {"model": {"huggingFace": "meta-llama/Llama-3.1-8B-Instruct"}}}, "serving"),
        ({"scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "mine"}}, "scaleTargetRef"),
    ],
)
def test_the_target_is_the_one_the_spec_names(extra: dict[str, Any], name: str) -> None:
    assert target_for(ModelDeploymentSpec.model_validate({**SPEC, **extra})).name == name
    assert all(isinstance(t, WorkloadTarget) for t in registered())


@pytest.fixture
def fake() -> Iterator[FakeTarget]:
    target = FakeTarget()
    register(target)
    yield target
    unregister(target.name)


def run(kube: FakeKube) -> Any:
    body = kube.objects.get(("infercap.dev/v1alpha1", "ModelDeployment", "team", "chat")) or kube.put(
        mdep("chat", "team", SPEC)
    )
    return asyncio.run(reconcile(kube, OperatorConfig(), body, NOW))  # type: ignore[arg-type]


def test_a_registered_target_serves_and_its_outcome_is_the_status(fake: FakeTarget) -> None:
    fake.verdict = Verdict("True", Reason.SERVING, "2 of 2 replica(s) ready (FakeWorkload/chat)")
    kube = FakeKube()
    result = run(kube)
    conds = {c["type"]: c for c in result.status["conditions"]}
    assert conds[Cond.SERVING]["message"].startswith("2 of 2")
    assert fake.applied == [result.status["plan"]["replicas"]]
    assert any(c["kind"] == "FakeWorkload" for c in result.status["children"])
    assert result.retry is None


def test_a_failing_target_asks_for_a_retry_and_still_applies_the_pools(fake: FakeTarget) -> None:
    fake.verdict = Verdict("False", Reason.APPLY_FAILED, "applying FakeWorkload chat: refused")
    fake.retry = "apply failed"
    kube = FakeKube()
    result = run(kube)
    conds = {c["type"]: c for c in result.status["conditions"]}
    assert conds[Cond.SERVING]["reason"] == Reason.APPLY_FAILED and result.retry == "apply failed"
    assert len(kube.of_kind("NodePool")) == 1


def test_an_unreadable_api_escapes_and_writes_nothing(fake: FakeTarget) -> None:
    fake.raise_error = KubeError("ServiceUnavailable", "connection refused")
    kube = FakeKube()
    with pytest.raises(KubeError):
        run(kube)
    assert "status" not in kube.objects[("infercap.dev/v1alpha1", "ModelDeployment", "team", "chat")]


def test_a_switch_in_progress_keeps_the_old_pool(fake: FakeTarget) -> None:
    kube = FakeKube()
    run(kube)
    [old] = kube.of_kind("NodePool")
    fake.switch_done = False
    body = kube.objects[("infercap.dev/v1alpha1", "ModelDeployment", "team", "chat")]
    body["spec"] = {**SPEC, "accelerators": ["a100"]}
    result = run(kube)
    names = {p["metadata"]["name"] for p in kube.of_kind("NodePool")}
    assert old["metadata"]["name"] in names and len(names) == 2
    assert old["metadata"]["name"] in {c["name"] for c in result.status["children"]}
    fake.switch_done = True
    run(kube)
    assert {p["metadata"]["name"] for p in kube.of_kind("NodePool")} == names - {old["metadata"]["name"]}


def test_a_deployment_whose_controller_has_not_seen_the_new_template_is_not_serving_yet() -> None:
    """Right after an in-place update (same Deployment, new template) its status still describes the old
    generation: readyReplicas and updatedReplicas count the old pods. Serving True then would let the
    make-before-break switch remove what still serves; it waits for status.observedGeneration."""
    kube = FakeKube()
    body = kube.put(mdep("chat", "team", {**SPEC, "serving": {"model": {"huggingFace": "meta-llama/Llama-3.1-8B"}}}))
    run(kube)
    [deploy] = kube.of_kind("Deployment")
    want = deploy["spec"]["replicas"]
    ready = {"readyReplicas": want, "updatedReplicas": want, "replicas": want}
    deploy["status"] = {**ready, "observedGeneration": deploy["metadata"]["generation"]}
    conds = {c["type"]: c for c in run(kube).status["conditions"]}
    assert conds[Cond.SERVING]["status"] == "True", conds[Cond.SERVING]
    # A new image: the same Deployment, a new template; the controller has not observed it yet.
    body["spec"] = {**body["spec"], "serving": {**body["spec"]["serving"], "image": "vllm/vllm-openai:v0.34.0"}}
    conds = {c["type"]: c for c in run(kube).status["conditions"]}
    [deploy] = kube.of_kind("Deployment")
    assert deploy["metadata"]["generation"] > deploy["status"]["observedGeneration"]
    assert conds[Cond.SERVING]["status"] == "False" and conds[Cond.SERVING]["reason"] == Reason.PROGRESSING
    # Once it has observed it (and the new pods are ready), Serving again.
    deploy["status"]["observedGeneration"] = deploy["metadata"]["generation"]
    conds = {c["type"]: c for c in run(kube).status["conditions"]}
    assert conds[Cond.SERVING]["status"] == "True", conds[Cond.SERVING]
