"""Karpenter (karpenter.sh/v1) NodePool per ModelDeployment and accelerator.

Requirements select the accelerator by the labels the catalog lists for Karpenter (GPU name, instance
type); `limits` caps the accelerator resource at the planned chips; disruption only removes empty nodes,
one at a time, and nodes never expire, so a node serving a loaded model is never evicted to save money.
"""

from __future__ import annotations

from typing import Any

from infercap.api.config import KarpenterConfig
from infercap.providers import (
    MODEL_DEPLOYMENT,
    PoolRequest,
    ProviderError,
    cost_annotations,
    deployment_label,
    owner_labels,
    pool_name,
)

API_VERSION = "karpenter.sh/v1"
INSTANCE_TYPE = "node.kubernetes.io/instance-type"


def node_pool(req: PoolRequest, cfg: KarpenterConfig) -> dict[str, Any]:
    acc = req.accelerator
    labels = acc.node_labels.get("karpenter")
    if not labels:
        raise ProviderError(
            "ProviderUnsupported",
            f"accelerator {acc.id} has no Karpenter selection labels in the catalog; set spec.nodePool.provider "
            f"to {'gke' if acc.slice_shapes else 'clusterapi'} or add karpenter labels with an AcceleratorProfile",
        )
    requirements: list[dict[str, Any]] = [
        {"key": key, "operator": "In", "values": [value]} for key, value in sorted(labels.items())
    ]
    shape = req.placement.node_shape
    if INSTANCE_TYPE not in labels and shape is not None and "aws" in shape.instance_types:
        requirements.append({"key": INSTANCE_TYPE, "operator": "In", "values": [shape.instance_types["aws"]]})
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
    return {
        "apiVersion": API_VERSION,
        "kind": "NodePool",
        "metadata": {
            "name": pool_name(req.owner, acc.id),
            "labels": owner_labels(req.owner, acc.id),
            "annotations": cost_annotations(chips, req.price_per_chip_hour, req.currency, req.owner),
        },
        "spec": {
            "template": {
                "metadata": {
                    "labels": {MODEL_DEPLOYMENT: deployment_label(req.owner), "infercap.dev/accelerator": acc.id}
                },
                "spec": template_spec,
            },
            "limits": {acc.resource_name: str(chips)},
            "disruption": {
                "consolidationPolicy": "WhenEmpty",
                "consolidateAfter": cfg.consolidate_after,
                "budgets": [{"nodes": "1"}],
            },
        },
    }
