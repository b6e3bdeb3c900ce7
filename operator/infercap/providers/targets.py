"""Node-pool targets the admin allowed: which Karpenter NodeClass, Cluster API cluster or GKE cluster (and
the namespace of its node-pool objects) a ModelDeployment's pools go to.

A tenant never chooses freely: spec.nodePool.nodeClass, namespace and clusterName may only pick among
what the CapacityPolicy covering the tenant's namespace lists (or, without one, the operator
configuration's single target). Anything else is TargetNotAllowed and nothing is applied. Pure.
"""

from __future__ import annotations

from collections.abc import Iterable

from infercap.api.conditions import Reason
from infercap.api.config import OperatorConfig
from infercap.api.deployment import NodePoolSpec, Provider
from infercap.api.policy import CapacityPolicySpec, ClusterTarget, Targets
from infercap.providers.base import ProviderError, get


def targets_for(namespace: str, policies: Iterable[tuple[str, CapacityPolicySpec]]) -> Targets:
    """Per provider, the first list set by a policy that names the namespace, else by one covering every
    namespace (policies in name order)."""
    ordered = sorted(policies, key=lambda np: (not np[1].namespaces, np[0]))
    covering = [p for _, p in ordered if p.covers(namespace)]

    t = [p.targets for p in covering]
    return Targets(
        node_classes=next((x.node_classes for x in t if x.node_classes is not None), None),
        clusterapi=next((x.clusterapi for x in t if x.clusterapi is not None), None),
        gke=next((x.gke for x in t if x.gke is not None), None),
    )


def _refused(field: str, value: str, allowed: list[str]) -> ProviderError:
    return ProviderError(
        Reason.TARGET_NOT_ALLOWED,
        f"spec.nodePool.{field} {value!r} is not a target this namespace may use (allowed: {', '.join(allowed)}); "
        f"remove it to use the default, or ask the cluster admin to add it to a CapacityPolicy",
    )


def _cluster(pool: NodePoolSpec, allowed: list[ClusterTarget]) -> ClusterTarget:
    shown = [f"{t.namespace}/{t.cluster_name}" for t in allowed]
    for t in allowed:
        if (pool.namespace is None or pool.namespace == t.namespace) and (
            pool.cluster_name is None or pool.cluster_name == t.cluster_name
        ):
            return t
    if pool.namespace is not None and all(pool.namespace != t.namespace for t in allowed):
        raise _refused("namespace", pool.namespace, shown)
    raise _refused("clusterName", pool.cluster_name or "", shown)


def resolve(pool: NodePoolSpec, provider: str, cfg: OperatorConfig, targets: Targets) -> NodePoolSpec:
    """spec.nodePool with every target filled from what is allowed, or ProviderError(TargetNotAllowed,
    ProviderDisabled)."""
    if provider != Provider.NONE and provider not in cfg.enabled_providers:
        enabled = ", ".join(p.value for p in cfg.enabled_providers) or "none"
        raise ProviderError(
            Reason.PROVIDER_DISABLED,
            f"node-pool provider {provider} is not enabled in the operator configuration (enabled: {enabled}); "
            f"set spec.nodePool.provider to an enabled one",
        )
    return get(provider).resolve(pool, cfg, targets)


def node_class(pool: NodePoolSpec, default: str, allowed: list[str] | None) -> NodePoolSpec:
    """A node-class provider's (Karpenter's) target: spec.nodePool.nodeClass among the allowed classes."""
    if pool.namespace is not None or pool.cluster_name is not None:
        raise ProviderError(
            Reason.TARGET_NOT_ALLOWED,
            "spec.nodePool.namespace and clusterName are for clusterapi and gke; remove them",
        )
    classes = allowed or [default]
    if pool.node_class is not None and pool.node_class not in classes:
        raise _refused("nodeClass", pool.node_class, classes)
    return pool.model_copy(update={"node_class": pool.node_class or classes[0]})


def cluster(pool: NodePoolSpec, default: ClusterTarget, allowed: list[ClusterTarget] | None) -> NodePoolSpec:
    """A cluster provider's (Cluster API's, GKE's) target: namespace and clusterName among the allowed."""
    if pool.node_class is not None:
        raise ProviderError(Reason.TARGET_NOT_ALLOWED, "spec.nodePool.nodeClass is for karpenter; remove it")
    t = _cluster(pool, allowed or [default])
    return pool.model_copy(update={"namespace": t.namespace, "cluster_name": t.cluster_name})
