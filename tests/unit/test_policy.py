"""Admin policy (issue 9, items 3 and 4): ceilings per ModelDeployment and per namespace cut the applied
plan and say so, an invalid policy fails closed, and node-pool targets come from the policy or the
operator configuration, never from a tenant's free text."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from tests.unit.fakekube import FakeKube, mdep

from infercap.api.config import OperatorConfig
from infercap.reconcile import reconcile

NOW = "2026-12-01T00:00:00Z"
MD = ("infercap.dev/v1alpha1", "ModelDeployment")
SPEC: dict[str, Any] = {
    "model": "llama-3.1-70b",
    "precision": "fp8",
    "traffic": {"requestsPerSecond": 100, "inputTokens": 2000, "outputTokens": 400},
    "accelerators": ["h100"],
}


def policy(name: str, spec: dict[str, Any]) -> dict[str, Any]:
    return {"apiVersion": "infercap.dev/v1alpha1", "kind": "CapacityPolicy", "metadata": {"name": name}, "spec": spec}


def apply(
    kube: FakeKube, name: str, namespace: str, spec: dict[str, Any], cfg: OperatorConfig | None = None
) -> dict[str, Any]:
    key = (*MD, namespace, name)
    body = kube.objects.get(key)
    if body is None:
        body = kube.put(mdep(name, namespace, spec))
    else:
        body["spec"] = spec
    asyncio.run(reconcile(kube, cfg or OperatorConfig(), body, NOW))  # type: ignore[arg-type]
    return kube.objects[key]


def cond(obj: dict[str, Any], ctype: str) -> dict[str, Any]:
    return next(c for c in obj["status"]["conditions"] if c["type"] == ctype)


def pool_chips(kube: FakeKube) -> int:
    return sum(int(next(iter(p["spec"]["limits"].values()))) for p in kube.of_kind("NodePool"))


def test_a_per_deployment_ceiling_cuts_the_applied_plan_and_says_so() -> None:
    kube = FakeKube()
    kube.put(policy("team", {"namespaces": ["team"], "limits": {"perDeployment": {"maxChips": 16}}}))
    obj = apply(kube, "m", "team", SPEC)
    assert obj["status"]["plan"]["chips"] <= 16
    assert pool_chips(kube) == obj["status"]["plan"]["chips"] > 0
    c = cond(obj, "WithinLimits")
    assert c["status"] == "False" and c["reason"] == "CappedByPolicy" and "CapacityPolicy team" in c["message"]
    quota = kube.of_kind("ResourceQuota")[0]
    assert int(quota["spec"]["hard"]["requests.nvidia.com/gpu"]) <= 16
    # The same spec in a namespace the policy does not cover is not cut.
    other = apply(kube, "m", "other", SPEC)
    assert other["status"]["plan"]["chips"] > 16
    assert cond(other, "WithinLimits")["status"] == "True"


def test_the_namespace_ceiling_counts_the_other_plans() -> None:
    kube = FakeKube()
    cfg = OperatorConfig.model_validate({"limits": {"perNamespace": {"maxNodes": 5}}})
    small = {**SPEC, "traffic": {"requestsPerSecond": 20, "inputTokens": 2000, "outputTokens": 400}}
    a = apply(kube, "a", "team", small, cfg)
    b = apply(kube, "b", "team", SPEC, cfg)
    assert a["status"]["plan"]["nodes"] + b["status"]["plan"]["nodes"] <= 5
    assert cond(b, "WithinLimits")["reason"] == "CappedByPolicy"
    assert "operator configuration" in cond(b, "WithinLimits")["message"]


def test_monthly_cost_ceiling_of_zero_applies_nothing() -> None:
    kube = FakeKube()
    kube.put(policy("frozen", {"limits": {"perDeployment": {"maxMonthlyCost": "0"}}}))
    obj = apply(kube, "m", "team", SPEC)
    assert kube.of_kind("NodePool") == [] and kube.of_kind("ResourceQuota") == []
    assert cond(obj, "NodePoolsReady")["reason"] == "NothingAffordable"
    assert cond(obj, "Ready")["status"] == "False"


def test_an_invalid_policy_fails_closed_and_keeps_what_was_applied() -> None:
    kube = FakeKube()
    apply(kube, "m", "team", SPEC)
    before = pool_chips(kube)
    kube.put(policy("broken", {"limits": {"perDeployment": {"maxChips": -5}}}))
    bigger = {**SPEC, "traffic": {"requestsPerSecond": 300, "inputTokens": 2000, "outputTokens": 400}}
    obj = apply(kube, "m", "team", bigger)
    assert cond(obj, "Planned")["reason"] == "PolicyInvalid"
    assert "CapacityPolicy broken" in cond(obj, "Planned")["message"]
    assert pool_chips(kube) == before, "nothing grows, nothing is torn down"


def test_policy_required_without_a_policy_plans_nothing() -> None:
    kube = FakeKube()
    obj = apply(kube, "m", "team", SPEC, OperatorConfig(policy_required=True))
    assert cond(obj, "Planned")["reason"] == "NoPolicy"
    assert kube.of_kind("NodePool") == []


CAPI = OperatorConfig.model_validate(
    {"defaultProvider": "clusterapi", "clusterapi": {"namespace": "capi-system", "clusterName": "workload"}}
)


@pytest.mark.parametrize(
    ("node_pool", "cfg"),
    [
        ({"provider": "clusterapi", "namespace": "kube-system"}, CAPI),
        ({"provider": "clusterapi", "clusterName": "other-team"}, CAPI),
        ({"provider": "gke", "namespace": "kube-system"}, OperatorConfig()),
        ({"provider": "karpenter", "nodeClass": "other-team"}, OperatorConfig()),
        ({"provider": "karpenter", "namespace": "kube-system"}, OperatorConfig()),
    ],
)
def test_tenant_targets_outside_what_is_allowed_are_refused(node_pool: dict[str, Any], cfg: OperatorConfig) -> None:
    kube = FakeKube()
    obj = apply(kube, "m", "team", {**SPEC, "nodePool": node_pool}, cfg)
    c = cond(obj, "NodePoolsReady")
    assert c["status"] == "False" and c["reason"] == "TargetNotAllowed", c
    for kind in ("NodePool", "MachineDeployment", "ContainerNodePool", "ResourceQuota"):
        assert kube.of_kind(kind) == [], kind


def test_targets_come_from_the_policy_of_the_namespace() -> None:
    kube = FakeKube()
    kube.put(
        policy(
            "team-a",
            {
                "namespaces": ["team-a"],
                "targets": {
                    "nodeClasses": ["team-a-gpu", "team-a-spot"],
                    "clusterapi": [{"namespace": "capi-team-a", "clusterName": "a1"}],
                },
            },
        )
    )
    apply(kube, "m", "team-a", SPEC)
    (pool,) = kube.of_kind("NodePool")
    assert pool["spec"]["template"]["spec"]["nodeClassRef"]["name"] == "team-a-gpu"
    apply(kube, "n", "team-a", {**SPEC, "nodePool": {"nodeClass": "team-a-spot"}})
    assert {p["spec"]["template"]["spec"]["nodeClassRef"]["name"] for p in kube.of_kind("NodePool")} == {
        "team-a-gpu",
        "team-a-spot",
    }
    apply(kube, "c", "team-a", {**SPEC, "nodePool": {"provider": "clusterapi"}})
    (md,) = kube.of_kind("MachineDeployment")
    assert md["metadata"]["namespace"] == "capi-team-a" and md["spec"]["clusterName"] == "a1"
    # Another namespace gets the operator configuration's target, not team-a's.
    apply(kube, "m", "team-b", {**SPEC, "nodePool": {"nodeClass": "team-a-gpu"}})
    b = kube.objects[(*MD, "team-b", "m")]
    assert cond(b, "NodePoolsReady")["reason"] == "TargetNotAllowed"


def test_a_provider_that_is_not_enabled_is_refused() -> None:
    kube = FakeKube()
    cfg = OperatorConfig.model_validate({"enabledProviders": ["karpenter"]})
    obj = apply(kube, "m", "team", {**SPEC, "nodePool": {"provider": "clusterapi"}}, cfg)
    c = cond(obj, "NodePoolsReady")
    assert c["reason"] == "ProviderDisabled" and "enabled: karpenter" in c["message"]
    assert kube.of_kind("MachineDeployment") == [] and kube.of_kind("ResourceQuota") == []
