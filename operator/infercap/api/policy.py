"""The CapacityPolicy API (infercap.dev/v1alpha1, cluster-scoped, written by the cluster admin): ceilings
on what ModelDeployments may apply, per ModelDeployment and per namespace, and the node-pool targets
(Karpenter NodeClasses, Cluster API clusters, GKE clusters) a namespace may use.

A tenant who can write ModelDeployments in one namespace cannot write cluster-scoped objects, so these
limits are the admin's. The operator configuration carries the same ceilings as defaults for every
namespace (`limits`); where several apply, the lowest wins.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated

from pydantic import Field

from infercap.api.types import ApiModel, Bounded

MAX_CHIPS = 10_000_000
NAME = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$"
Money = Annotated[Decimal, Bounded(ge=0, le=1_000_000_000_000, places=2, hint="omit the field for no ceiling")]


class Ceilings(ApiModel):
    """Most a scope may apply; an unset field is no ceiling. 0 allows nothing."""

    max_chips: int | None = Field(default=None, ge=0, le=MAX_CHIPS, description="Accelerator chips.")
    max_nodes: int | None = Field(default=None, ge=0, le=MAX_CHIPS, description="Nodes.")
    max_monthly_cost: Money | None = Field(default=None, description="Monthly cost (730 h), in the catalog currency.")


class Limits(ApiModel):
    """Ceilings for each ModelDeployment and for the sum of a namespace's ModelDeployments."""

    per_deployment: Ceilings = Field(default_factory=Ceilings, description="For each ModelDeployment.")
    per_namespace: Ceilings = Field(default_factory=Ceilings, description="For all of a namespace's together.")


class ClusterTarget(ApiModel):
    """A workload cluster and the namespace its node-pool objects go in."""

    namespace: str = Field(pattern=NAME, max_length=63, description="Namespace of the node-pool objects.")
    cluster_name: str = Field(pattern=NAME, max_length=63, description="Cluster API Cluster or GKE ContainerCluster.")


class Targets(ApiModel):
    """Node-pool targets a namespace may use; the first of each list is its default. An unset list means
    the operator configuration's target, and a ModelDeployment may not name another."""

    node_classes: list[Annotated[str, Field(pattern=NAME, max_length=253)]] | None = Field(
        default=None, max_length=64, description="Karpenter NodeClass names (spec.nodePool.nodeClass)."
    )
    clusterapi: list[ClusterTarget] | None = Field(
        default=None, max_length=64, description="Cluster API clusters (spec.nodePool.namespace, clusterName)."
    )
    gke: list[ClusterTarget] | None = Field(
        default=None, max_length=64, description="GKE clusters (spec.nodePool.namespace, clusterName)."
    )


class CapacityPolicySpec(ApiModel):
    """What the selected namespaces may apply and where."""

    namespaces: list[Annotated[str, Field(pattern=NAME, max_length=63)]] = Field(
        default_factory=list, max_length=1000, description="Namespaces this policy covers; empty: every namespace."
    )
    limits: Limits = Field(default_factory=Limits, description="Ceilings on chips, nodes and cost.")
    targets: Targets = Field(default_factory=Targets, description="Node-pool targets the namespaces may use.")

    def covers(self, namespace: str) -> bool:
        return not self.namespaces or namespace in self.namespaces
