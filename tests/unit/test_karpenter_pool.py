"""Karpenter NodePools: selection by instance type per cloud, static capacity, rollout-surge room, the
explicit-accelerator-list fix; and the accelerator-switch hysteresis."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from infercap.api.config import KarpenterConfig, OperatorConfig
from infercap.api.deployment import ModelDeploymentSpec, Provider
from infercap.api.serving import CapacityMode
from infercap.core.catalog import builtin_catalog
from infercap.core.planner import plan
from infercap.providers import Owner, PoolRequest, candidates, provider_rejections
from infercap.providers.karpenter import node_pool
from infercap.reconcile.serving import hold_accelerator

CAT = builtin_catalog()
OWNER = Owner("chat", "team-a", "uid-1")


def spec(**over: Any) -> ModelDeploymentSpec:
    base: dict[str, Any] = {
        "model": "llama-3.1-70b",
        "traffic": {"requestsPerSecond": 5, "inputTokens": 1000, "outputTokens": 300},
        "accelerators": ["h100"],
    }
    return ModelDeploymentSpec.model_validate({**base, **over})


def pool(s: ModelDeploymentSpec, cfg: KarpenterConfig | None = None, **req: Any) -> dict[str, Any]:
    p = plan(CAT, s)
    o = p.applied
    r = PoolRequest(OWNER, o.accelerator, o.placement, o.accelerator.price.per_chip_hour, "USD", **req)
    return node_pool(r, cfg or KarpenterConfig())


def requirements(np: dict[str, Any]) -> dict[str, list[str]]:
    return {r["key"]: r["values"] for r in np["spec"]["template"]["spec"]["requirements"]}


def test_selects_the_planned_instance_type() -> None:
    p = plan(CAT, spec())
    shape = p.applied.placement.node_shape
    assert shape is not None
    np = pool(spec())
    assert requirements(np)["node.kubernetes.io/instance-type"] == [shape.instance_types["aws"]]
    assert "karpenter.k8s.aws/instance-gpu-name" not in requirements(np)
    assert np["spec"]["limits"] == {"nvidia.com/gpu": str(p.applied.placement.chips)}
    with_labels = pool(spec(), KarpenterConfig(gpu_labels=True))
    assert requirements(with_labels)["karpenter.k8s.aws/instance-gpu-name"] == ["h100"]


def test_azure_selects_azure_skus_and_reaches_mi300x() -> None:
    azure = KarpenterConfig(cloud="azure")
    np = pool(spec(accelerators=["mi300x"]), azure)
    assert requirements(np)["node.kubernetes.io/instance-type"] == ["Standard_ND96isr_MI300X_v5"]
    assert np["spec"]["limits"].keys() == {"amd.com/gpu"}
    labelled = pool(spec(accelerators=["mi300x"]), KarpenterConfig(cloud="azure", gpu_labels=True))
    assert requirements(labelled)["karpenter.azure.com/sku-gpu-count"] == ["8"]
    cfg = OperatorConfig(karpenter=azure)
    assert "mi300x" in candidates(spec(accelerators=[]), CAT, Provider.KARPENTER, cfg).accelerators
    # On AWS there is no MI300X instance type.
    assert "mi300x" not in candidates(spec(accelerators=[]), CAT, Provider.KARPENTER).accelerators


def test_static_pool_holds_the_planned_nodes_and_has_its_own_name() -> None:
    p = plan(CAT, spec())
    np = pool(spec(), mode=CapacityMode.STATIC)
    assert np["spec"]["replicas"] == p.applied.placement.nodes
    assert np["spec"]["limits"] == {"nodes": str(p.applied.placement.nodes)}
    assert "-static-" in np["metadata"]["name"]  # readable, then the hash that keeps names apart
    assert np["metadata"]["name"] != pool(spec())["metadata"]["name"]


def test_dynamic_limits_leave_room_for_the_rollout_surge_in_whole_nodes() -> None:
    p = plan(CAT, spec())
    pl = p.applied.placement
    np = pool(spec(), surge_chips=pl.chips_per_replica)
    assert int(np["spec"]["limits"]["nvidia.com/gpu"]) == pl.chips + pl.chips_per_node


def test_explicit_list_drops_what_the_provider_cannot_create_and_says_why() -> None:
    s = spec(model="llama-3.1-8b", accelerators=["tpu-v6e", "h100"])
    assert candidates(s, CAT, Provider.KARPENTER).accelerators == ["h100"]
    rejected = provider_rejections(s, CAT, Provider.KARPENTER)
    assert [(a, r) for a, r, _ in rejected] == [("tpu-v6e", "ProviderCannotCreate")]
    # Only accelerators it cannot create: kept, so the plan explains why no pool can be made.
    only_tpu = spec(model="llama-3.1-8b", accelerators=["tpu-v6e"])
    assert candidates(only_tpu, CAT, Provider.KARPENTER).accelerators == ["tpu-v6e"]


def test_hysteresis_keeps_the_accelerator_for_a_small_saving_and_in_cooldown() -> None:
    p = plan(CAT, spec(accelerators=["h100", "h200", "a100", "b200"]))
    assert p.alternatives
    other = p.alternatives[0]
    saving = float(1 - p.chosen.cost.hourly / other.cost.hourly)
    old = {"plan": {"accelerator": other.accelerator.id}}
    now = "2026-12-01T12:00:00Z"
    high = OperatorConfig.model_validate({"serving": {"switchThreshold": min(1.0, saving + 0.05)}})
    kept, why = hold_accelerator(p, old, now, high)
    assert kept.chosen.accelerator.id == other.accelerator.id and why and "threshold" in why
    low = OperatorConfig.model_validate({"serving": {"switchThreshold": max(0.0, saving - 0.01)}})
    moved, why = hold_accelerator(p, old, now, low)
    assert moved.chosen is p.chosen and why is None
    cooling = {**old, "lastSwitchTime": "2026-12-01T11:59:00Z"}
    held, why = hold_accelerator(p, cooling, now, low)
    assert held.chosen.accelerator.id == other.accelerator.id and why and "last switch" in why
    # An old accelerator that can no longer serve is left at once.
    gone = replace(p, alternatives=[a for a in p.alternatives if a is not other])
    assert hold_accelerator(gone, old, now, high)[0].chosen is p.chosen


def test_serving_engine_limits_the_accelerators() -> None:
    trt = spec(
        model="llama-3.1-8b",
        accelerators=["mi300x", "h100"],
        serving={"engine": "trtllm", "model": {"huggingFace": "meta-llama/Llama-3.1-8B-Instruct"}},
    )
    azure = OperatorConfig(karpenter=KarpenterConfig(cloud="azure"))
    assert candidates(trt, CAT, Provider.KARPENTER, azure).accelerators == ["h100"]
    assert [(a, r) for a, r, _ in provider_rejections(trt, CAT, Provider.KARPENTER, azure)] == [
        ("mi300x", "EngineUnsupported")
    ]
    auto = spec(model="llama-3.1-8b", accelerators=[], serving={"engine": "sglang", "model": {"uri": "s3://b/m"}})
    vendors = {CAT.accelerators[a].vendor.value for a in candidates(auto, CAT, Provider.KARPENTER).accelerators}
    assert vendors <= {"nvidia", "amd"}
