"""GKE node pools through Config Connector (container.cnrm.cloud.google.com/v1beta1 ContainerNodePool).

GPUs: one pool of the planned nodes with the GKE accelerator type and count. TPUs: single-host slices
share one pool of `replicas` hosts; a multi-host slice is a node pool of its own (GKE provisions a
multi-host TPU slice per node pool), so a plan of R such replicas renders R pools.
"""

from __future__ import annotations

from typing import Any

from infercap.api.catalog import AcceleratorProfileSpec
from infercap.api.conditions import Reason
from infercap.api.config import GkeConfig, OperatorConfig
from infercap.api.deployment import NodePoolSpec, Provider
from infercap.api.policy import ClusterTarget, Targets
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
from infercap.providers.targets import cluster

API_VERSION = "container.cnrm.cloud.google.com/v1beta1"
GKE_ACCELERATOR = "cloud.google.com/gke-accelerator"
GKE_TPU = "cloud.google.com/gke-tpu-accelerator"


def _unsupported(acc_id: str) -> ProviderError:
    return ProviderError(
        Reason.PROVIDER_UNSUPPORTED,
        f"accelerator {acc_id} is not offered by GKE in the catalog; set spec.nodePool.provider to karpenter "
        f"or clusterapi, or add gke labels and machine types with an AcceleratorProfile",
    )


def container_node_pools(req: PoolRequest, cfg: GkeConfig) -> list[dict[str, Any]]:
    acc = req.accelerator
    labels = acc.node_labels.get("gke", {})
    pl = req.placement
    cluster_ref = {"name": req.override.cluster_name} if req.override.cluster_name else dict(cfg.cluster_ref)
    namespace = req.override.namespace or cfg.namespace
    base = pool_name(req.owner, acc.id, limit=56)
    node_labels = {MODEL_DEPLOYMENT: deployment_label(req.owner), "infercap.dev/accelerator": acc.id}

    def pool(
        name: str, node_count: int, node_config: dict[str, Any], chips: int, placement: dict[str, Any] | None = None
    ) -> dict[str, Any]:
        spec: dict[str, Any] = {
            "clusterRef": cluster_ref,
            "location": cfg.location,
            "nodeCount": node_count,
            "nodeConfig": node_config,
        }
        if placement:
            spec["placementPolicy"] = placement
        return {
            "apiVersion": API_VERSION,
            "kind": "ContainerNodePool",
            "metadata": {
                "name": name,
                "namespace": namespace,
                "labels": owner_labels(req.owner, acc.id),
                "annotations": cost_annotations(chips, req.price_per_chip_hour, req.currency, req.owner),
            },
            "spec": spec,
        }

    if pl.slice is not None:
        if GKE_TPU not in labels:
            raise _unsupported(acc.id)
        node_config = {
            "machineType": pl.slice.machine_type,
            "labels": {**node_labels, "cloud.google.com/gke-tpu-topology": pl.slice.topology},
            "taint": [{"key": acc.resource_name, "value": "present", "effect": "NO_SCHEDULE"}],
        }
        hosts = max(1, pl.slice.chips // pl.slice.chips_per_host)
        if hosts == 1:
            return [pool(base, pl.replicas, node_config, pl.chips)]
        placement = {"type": "COMPACT", "tpuTopology": pl.slice.topology}
        return [pool(f"{base}-{i}", hosts, node_config, pl.slice.chips, placement) for i in range(pl.replicas)]

    shape = pl.node_shape
    machine = shape.instance_types.get("gcp") if shape is not None else None
    if GKE_ACCELERATOR not in labels or machine is None:
        raise _unsupported(acc.id)
    node_config = {
        "machineType": machine,
        "guestAccelerator": [{"type": labels[GKE_ACCELERATOR], "count": pl.chips_per_node}],
        "labels": node_labels,
        "taint": [{"key": acc.resource_name, "value": "present", "effect": "NO_SCHEDULE"}],
    }
    return [pool(base, pl.nodes, node_config, pl.chips)]


def supports(acc: AcceleratorProfileSpec) -> bool:
    """Whether GKE offers this accelerator: TPU slices by their TPU label, GPUs by the GKE accelerator label
    and a GCP machine type."""
    labels = acc.node_labels.get("gke", {})
    if acc.slice_shapes:
        return GKE_TPU in labels
    return GKE_ACCELERATOR in labels and any("gcp" in s.instance_types for s in acc.node_shapes)


class GkeProvider:
    """ContainerNodePools through Config Connector: one per GPU plan, one per multi-host TPU slice."""

    id: str = Provider.GKE
    kinds: tuple[PoolKind, ...] = (PoolKind(API_VERSION, "ContainerNodePool", "containernodepools", namespaced=True),)
    observes_nodes: bool = False

    def supports(self, acc: AcceleratorProfileSpec, cfg: OperatorConfig) -> bool:
        return supports(acc)

    def render(self, req: PoolRequest, cfg: OperatorConfig) -> list[dict[str, Any]]:
        return container_node_pools(req, cfg.gke)

    def resolve(self, pool: NodePoolSpec, cfg: OperatorConfig, targets: Targets) -> NodePoolSpec:
        default = ClusterTarget(namespace=cfg.gke.namespace, cluster_name=cfg.gke.cluster_ref.get("name", "workload"))
        return cluster(pool, default, targets.gke)


PROVIDER = register(GkeProvider())
