"""Cluster API (cluster.x-k8s.io/v1beta2) MachineDeployment whose replicas are the planned nodes."""

from __future__ import annotations

from typing import Any

from infercap.api.catalog import AcceleratorProfileSpec
from infercap.api.config import ClusterApiConfig, OperatorConfig
from infercap.api.deployment import NodePoolSpec, Provider
from infercap.api.policy import ClusterTarget, Targets
from infercap.providers.base import PoolKind, PoolRequest, cost_annotations, owner_labels, pool_name, register
from infercap.providers.targets import cluster

API_VERSION = "cluster.x-k8s.io/v1beta2"
POOL_LABEL = "infercap.dev/node-pool"


def machine_deployment(req: PoolRequest, cfg: ClusterApiConfig) -> dict[str, Any]:
    acc = req.accelerator
    name = pool_name(req.owner, acc.id)
    cluster = req.override.cluster_name or cfg.cluster_name
    namespace = req.override.namespace or cfg.namespace

    def ref(r: Any) -> dict[str, str]:
        return {"apiGroup": r.api_group, "kind": r.kind, "name": r.name.replace("{accelerator}", acc.id)}

    template_spec: dict[str, Any] = {
        "clusterName": cluster,
        "bootstrap": {"configRef": ref(cfg.bootstrap_config_ref)},
        "infrastructureRef": ref(cfg.infrastructure_ref),
    }
    if cfg.version:
        template_spec["version"] = cfg.version
    return {
        "apiVersion": API_VERSION,
        "kind": "MachineDeployment",
        "metadata": {
            "name": name,
            "namespace": namespace,
            "labels": owner_labels(req.owner, acc.id),
            "annotations": cost_annotations(req.placement.chips, req.price_per_chip_hour, req.currency, req.owner),
        },
        "spec": {
            "clusterName": cluster,
            "replicas": req.placement.nodes,
            "selector": {"matchLabels": {POOL_LABEL: name}},
            "template": {
                "metadata": {"labels": {POOL_LABEL: name, "infercap.dev/accelerator": acc.id}},
                "spec": template_spec,
            },
        },
    }


class ClusterApiProvider:
    """One MachineDeployment per ModelDeployment and accelerator, in the configured workload cluster."""

    id: str = Provider.CLUSTERAPI
    kinds: tuple[PoolKind, ...] = (PoolKind(API_VERSION, "MachineDeployment", "machinedeployments", namespaced=True),)
    observes_nodes: bool = False

    def supports(self, acc: AcceleratorProfileSpec, cfg: OperatorConfig) -> bool:
        return True  # the machine templates the admin configures take any accelerator

    def render(self, req: PoolRequest, cfg: OperatorConfig) -> list[dict[str, Any]]:
        return [machine_deployment(req, cfg.clusterapi)]

    def resolve(self, pool: NodePoolSpec, cfg: OperatorConfig, targets: Targets) -> NodePoolSpec:
        default = ClusterTarget(namespace=cfg.clusterapi.namespace, cluster_name=cfg.clusterapi.cluster_name)
        return cluster(pool, default, targets.clusterapi)


PROVIDER = register(ClusterApiProvider())
