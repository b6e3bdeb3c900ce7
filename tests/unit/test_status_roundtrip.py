"""The status the operator writes is the pydantic status model's, and the CRD's: statuses from real
reconciles (against the fake API) of every kind of ModelDeployment validate against ModelDeploymentStatus
(which rejects unknown keys), dump back to the same JSON, and pass the generated CRD's openAPIV3 schema
with nothing the API server would prune (issue 13, item 2)."""

from __future__ import annotations

import asyncio
import pathlib
from typing import Any

import pytest
import yaml
from tests.unit.fakekube import FakeKube, mdep
from tests.unit.schema import problems

from infercap.api.conditions import Reason
from infercap.api.config import OperatorConfig
from infercap.api.status import ModelDeploymentStatus, dump
from infercap.reconcile import Autoscale, reconcile
from infercap.reconcile.status import Verdict

ROOT = pathlib.Path(__file__).resolve().parents[2]
NOW = "2026-12-01T00:00:00Z"
BASE: dict[str, Any] = {
    "model": "llama-3.1-8b",
    "traffic": {"requestsPerSecond": 10, "inputTokens": 1000, "outputTokens": 200},
    "accelerators": ["h100", "a100"],
}
HF = {"model": {"huggingFace": "meta-llama/Llama-3.1-8B-Instruct"}}
TARGET = {"apiVersion": "apps/v1", "kind": "Deployment", "name": "mine"}
AUTOSCALING = {
    "metric": {"prometheus": {"url": "http://prometheus.monitoring:9090", "query": "sum(rate(x[1m]))"}},
    "minReplicas": 1,
    "maxReplicas": 4,
}


def status_schema() -> dict[str, Any]:
    crd = yaml.safe_load((ROOT / "crds" / "infercap.dev_modeldeployments.yaml").read_text())
    [version] = [v for v in crd["spec"]["versions"] if v.get("storage")]
    schema: dict[str, Any] = version["schema"]["openAPIV3Schema"]["properties"]["status"]
    return schema


def statuses(extra: dict[str, Any], autoscale: Autoscale | None = None) -> list[dict[str, Any]]:
    """The status after a first reconcile, and after a second one that finds the nodes and pods."""
    kube = FakeKube()
    kube.put({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "mine", "namespace": "team"}})
    body = kube.put(mdep("chat", "team", {**BASE, **extra}))
    key = ("infercap.dev/v1alpha1", "ModelDeployment", "team", "chat")
    out = []
    for _ in range(2):
        result = asyncio.run(reconcile(kube, OperatorConfig(), kube.objects[key], NOW, autoscale))  # type: ignore[arg-type]
        out.append(result.status)
        for pool in kube.of_kind("NodePool"):
            name = pool["metadata"]["name"]
            kube.set_ready("NodePool", "True")
            kube.put(
                {
                    "apiVersion": "v1",
                    "kind": "Node",
                    "metadata": {
                        "name": f"{name}-n1",
                        "labels": {"karpenter.sh/nodepool": name, "node.kubernetes.io/instance-type": "p5.48xlarge"},
                    },
                    "status": {"conditions": [{"type": "Ready", "status": "True"}]},
                }
            )
        kube.put(
            {
                "apiVersion": "v1",
                "kind": "Pod",
                "metadata": {"name": "chat-0", "namespace": "team", "labels": {"infercap.dev/serving": "chat"}},
                "status": {
                    "phase": "Pending",
                    "conditions": [{"type": "PodScheduled", "status": "False", "reason": "Unschedulable"}],
                },
            }
        )
    assert body["metadata"]["uid"]
    return out


CASES: dict[str, tuple[dict[str, Any], Autoscale | None]] = {
    "plain": ({}, None),
    "serving": ({"serving": HF}, None),
    "scale-target": ({"scaleTargetRef": TARGET}, None),
    "budget": ({"budget": {"maxMonthlyCost": "3000"}}, None),
    "nothing-affordable": ({"budget": {"maxMonthlyCost": "0.01"}}, None),
    "autoscaled": (
        {"autoscaling": AUTOSCALING},
        Autoscale(
            12.5,
            {
                "observedRequestsPerSecond": "12.5",
                "observedTime": NOW,
                "plannedRequestsPerSecond": "12.5",
                "lastDecision": "ScaleUp",
                "lastDecisionTime": NOW,
                "message": "demand rose",
            },
            Verdict("True", Reason.OBSERVED, "12.5 req/s from prometheus"),
        ),
    ),
    "autoscaled-waiting": ({"autoscaling": AUTOSCALING}, None),
    "invalid": ({"traffic": {"requestsPerSecond": -1, "inputTokens": 1, "outputTokens": 1}}, None),
    "unplannable": ({"model": "no-such-model"}, None),
}


@pytest.mark.parametrize("case", list(CASES))
def test_status_round_trips_through_the_model_and_the_crd_schema(case: str) -> None:
    extra, autoscale = CASES[case]
    schema = status_schema()
    for status in statuses(extra, autoscale):
        model = ModelDeploymentStatus.model_validate(status)  # unknown keys are rejected
        assert dump(model) == status
        assert problems(status, schema) == []


def test_the_realistic_statuses_cover_the_model() -> None:
    """The cases above exercise every top-level field, so a field the operator stopped writing (or one
    added to the model and never written) shows here."""
    seen: set[str] = set()
    for extra, autoscale in CASES.values():
        for status in statuses(extra, autoscale):
            seen |= set(status)
    fields = {f.alias or name for name, f in ModelDeploymentStatus.model_fields.items()}
    assert fields - seen <= {"lastSwitchTime"}, fields - seen
    assert seen <= fields


def test_the_schema_walker_catches_what_the_api_server_would_prune() -> None:
    schema = status_schema()
    assert problems({"plan": {"accelerator": 1}}, schema)
    assert any("unknown field bogus" in p for p in problems({"bogus": 1}, schema))
    cond = {"type": "Ready", "status": "True", "reason": "Ready", "lastTransitionTime": "yesterday"}
    assert any("date-time" in p for p in problems({"conditions": [cond]}, schema))
    assert any("does not match" in p for p in problems({"conditions": [{**cond, "reason": "not pascal"}]}, schema))
