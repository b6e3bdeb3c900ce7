"""Karpenter (karpenter.sh/v1) NodePool per ModelDeployment and accelerator.

Requirements select the planned node shape by `node.kubernetes.io/instance-type` (the instance type the
catalog lists for the configured cloud: AWS, Azure, or the local kwok provider, which uses the AWS names),
optionally with the catalog's GPU labels too. Dynamic pools cap the accelerator resource at the planned
chips with `limits` and pending pods make the nodes; static pools (`spec.replicas`, Karpenter's
StaticCapacity gate) keep the planned nodes warm before any pod asks. Disruption only removes empty
nodes, one at a time, and nodes never expire, so a node serving a loaded model is never evicted to save
money. A pool never switches mode in place (the CRD forbids it): the two modes have different names.
"""

from __future__ import annotations

from typing import Any

from infercap.api.catalog import AcceleratorProfileSpec
from infercap.api.conditions import Reason
from infercap.api.config import KarpenterConfig, OperatorConfig
from infercap.api.deployment import NodePoolSpec, Provider
from infercap.api.policy import Targets
from infercap.api.serving import CapacityMode
from infercap.providers.base import (
    MODEL_DEPLOYMENT,
    PoolKind,
    PoolRequest,
    ProviderError,
    cost_annotations,
    deployment_label,
    owner_labels,
    pool_name,
    register,
)
from infercap.providers.targets import node_class

API_VERSION = "karpenter.sh/v1"
INSTANCE_TYPE = "node.kubernetes.io/instance-type"
AZURE_SKU_GPU_COUNT = "karpenter.azure.com/sku-gpu-count"


def supports(acc: AcceleratorProfileSpec, cfg: KarpenterConfig) -> bool:
    """Whether Karpenter on the configured cloud can make nodes of this accelerator: some node shape
    has an instance type there (or the catalog gives Karpenter selection labels for it)."""
    if any(cfg.cloud in s.instance_types for s in acc.node_shapes):
        return True
    return INSTANCE_TYPE in acc.node_labels.get("karpenter", {})


def karpenter_pool_name(req: PoolRequest, mode: CapacityMode) -> str:
    """The shared pool name; a static pool gets its own (the CRD forbids switching a pool's mode)."""
    return pool_name(req.owner, req.accelerator.id + ("-static" if mode == CapacityMode.STATIC else ""))


def node_pool(req: PoolRequest, cfg: KarpenterConfig, mode: CapacityMode | None = None) -> dict[str, Any]:
    acc = req.accelerator
    mode = mode or req.mode or cfg.capacity_mode
    labels = dict(acc.node_labels.get("karpenter") or {})
    shape = req.placement.node_shape
    instance_type = shape.instance_types.get(cfg.cloud) if shape is not None else None
    if instance_type is None:
        instance_type = labels.get(INSTANCE_TYPE)
    if instance_type is None:
        raise ProviderError(
            Reason.PROVIDER_UNSUPPORTED,
            f"accelerator {acc.id} has no {cfg.cloud} instance type for nodes of {req.placement.chips_per_node} "
            f"chips in the catalog; set spec.nodePool.provider to {'gke' if acc.slice_shapes else 'clusterapi'}, "
            f"set karpenter.cloud in the operator configuration, or add the instance type with an AcceleratorProfile",
        )
    selection = {INSTANCE_TYPE: instance_type}
    if cfg.gpu_labels and cfg.cloud == "azure":
        # AKS Karpenter's SKU labels (the catalog's karpenter labels are EC2's).
        selection[AZURE_SKU_GPU_COUNT] = str(req.placement.chips_per_node)
    elif cfg.gpu_labels:
        selection.update({k: v for k, v in labels.items() if k != INSTANCE_TYPE})
    requirements: list[dict[str, Any]] = [
        {"key": key, "operator": "In", "values": [value]} for key, value in sorted(selection.items())
    ]
    requirements.append({"key": "karpenter.sh/capacity-type", "operator": "In", "values": list(cfg.capacity_types)})
    node_class = dict(cfg.node_class_ref)
    if req.override.node_class:
        node_class["name"] = req.override.node_class
    chips = req.placement.chips
    template_spec: dict[str, Any] = {
        "nodeClassRef": node_class,
        "requirements": requirements,
        "expireAfter": cfg.expire_after,
    }
    if cfg.taint:
        template_spec["taints"] = [{"key": acc.resource_name, "value": "true", "effect": "NoSchedule"}]
    spec: dict[str, Any] = {
        "template": {
            "metadata": {"labels": {MODEL_DEPLOYMENT: deployment_label(req.owner), "infercap.dev/accelerator": acc.id}},
            "spec": template_spec,
        },
        "disruption": {
            "consolidationPolicy": "WhenEmpty",
            "consolidateAfter": cfg.consolidate_after,
            "budgets": [{"nodes": "1"}],
        },
    }
    if mode == CapacityMode.STATIC:
        # Static pools take only a node limit; replicas are the planned nodes, made before any pod asks.
        spec["replicas"] = req.placement.nodes
        spec["limits"] = {"nodes": str(req.placement.nodes)}
    else:
        # Room for a rollout's surge replicas, in whole nodes (Karpenter checks a whole node against it).
        per_node = req.placement.chips_per_node
        surge = -(-req.surge_chips // per_node) * per_node if req.surge_chips else 0
        spec["limits"] = {acc.resource_name: str(chips + surge)}
    return {
        "apiVersion": API_VERSION,
        "kind": "NodePool",
        "metadata": {
            "name": karpenter_pool_name(req, mode),
            "labels": owner_labels(req.owner, acc.id),
            "annotations": cost_annotations(chips, req.price_per_chip_hour, req.currency, req.owner),
        },
        "spec": spec,
    }


class KarpenterProvider:
    """One NodePool per ModelDeployment and accelerator; Karpenter makes the nodes."""

    id: str = Provider.KARPENTER
    kinds: tuple[PoolKind, ...] = (PoolKind(API_VERSION, "NodePool", "nodepools", namespaced=False),)
    observes_nodes: bool = True  # nodes and NodeClaims carry karpenter.sh/nodepool

    def supports(self, acc: AcceleratorProfileSpec, cfg: OperatorConfig) -> bool:
        return supports(acc, cfg.karpenter)

    def render(self, req: PoolRequest, cfg: OperatorConfig) -> list[dict[str, Any]]:
        return [node_pool(req, cfg.karpenter, req.mode)]

    def resolve(self, pool: NodePoolSpec, cfg: OperatorConfig, targets: Targets) -> NodePoolSpec:
        return node_class(pool, cfg.karpenter.node_class_ref.get("name", "default"), targets.node_classes)


PROVIDER = register(KarpenterProvider())
