"""Operator configuration models: default node-pool provider and its templates, price overrides,
quota and resync settings (loaded by infercap.config)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from infercap.api.deployment import Provider
from infercap.api.policy import Limits
from infercap.api.serving import CapacityMode
from infercap.api.types import ApiModel, PositiveDecimal


class TypedRef(ApiModel):
    """A reference to a template object: API group, kind and name."""

    api_group: str = Field(description="API group of the referenced object.")
    kind: str = Field(description="Kind of the referenced object.")
    name: str = Field(description="Name; may contain {accelerator}.")


class KarpenterConfig(ApiModel):
    node_class_ref: dict[str, str] = Field(
        default_factory=lambda: {"group": "karpenter.k8s.aws", "kind": "EC2NodeClass", "name": "default"},
        description="spec.template.spec.nodeClassRef of every NodePool.",
    )
    capacity_types: list[str] = Field(default_factory=lambda: ["on-demand"], description="karpenter.sh/capacity-type.")
    consolidate_after: str = Field(default="10m", description="How long a node stays empty before removal.")
    expire_after: str = Field(default="Never", description="Node lifetime; Never keeps loaded model servers.")
    taint: bool = Field(default=True, description="Taint nodes with the accelerator resource, NoSchedule.")
    cloud: Literal["aws", "azure"] = Field(
        default="aws",
        description="Which cloud's instance types the NodePools select (the catalog lists them per cloud): "
        "aws (EC2, also the local kwok provider) or azure (AKS Karpenter).",
    )
    gpu_labels: bool = Field(
        default=False,
        description="Also require GPU labels: the catalog's karpenter.k8s.aws/* labels on AWS, "
        "karpenter.azure.com/sku-gpu-count on Azure; "
        "off by default: node.kubernetes.io/instance-type works on every Karpenter provider.",
    )
    capacity_mode: CapacityMode = Field(
        default=CapacityMode.DYNAMIC,
        description="dynamic (limits; pods make nodes) or static (spec.replicas = planned nodes, warm "
        "ahead of pods; Karpenter's StaticCapacity feature gate). spec.capacity.mode overrides it.",
    )


class ClusterApiConfig(ApiModel):
    namespace: str = Field(default="default", description="Namespace of the workload cluster's CAPI objects.")
    cluster_name: str = Field(default="workload", description="Cluster API cluster name.")
    version: str | None = Field(default=None, description="Kubernetes version of the machines, if set.")
    bootstrap_config_ref: TypedRef = Field(
        default_factory=lambda: TypedRef(
            api_group="bootstrap.cluster.x-k8s.io", kind="KubeadmConfigTemplate", name="infercap-{accelerator}"
        ),
        description="Bootstrap template of the machines.",
    )
    infrastructure_ref: TypedRef = Field(
        default_factory=lambda: TypedRef(
            api_group="infrastructure.cluster.x-k8s.io", kind="AWSMachineTemplate", name="infercap-{accelerator}"
        ),
        description="Infrastructure machine template; {accelerator} is replaced by the accelerator id.",
    )


class GkeConfig(ApiModel):
    namespace: str = Field(default="config-connector", description="Namespace Config Connector watches.")
    cluster_ref: dict[str, str] = Field(
        default_factory=lambda: {"name": "workload"}, description="spec.clusterRef of every ContainerNodePool."
    )
    location: str = Field(default="us-central1", description="Region or zone of the node pools.")


class QuotaConfig(ApiModel):
    enabled: bool = Field(default=True, description="Maintain a ResourceQuota per namespace (false: off).")
    name: str = Field(default="infercap", description="Name of the ResourceQuota.")
    rollout_surge: bool = Field(
        default=True,
        description="Add each serving ModelDeployment's rollout surge (serving.rolloutSurge replicas) to the "
        "quota, so rolling updates and accelerator switches are not blocked by it.",
    )


class ServingConfig(ApiModel):
    """How infercap runs and changes serving workloads."""

    rollout_surge: int = Field(
        default=1,
        ge=0,
        le=16,
        description="Replicas a rolling update may add before removing old ones (0: replace one at a time, "
        "no spare accelerators needed, one replica fewer while it runs).",
    )
    switch_threshold: float = Field(
        default=0.10,
        ge=0,
        le=1,
        description="Move to another accelerator only when it saves at least this share of the hourly cost.",
    )
    switch_cooldown_seconds: int = Field(
        default=1800, ge=0, le=604_800, description="Least time between two accelerator switches."
    )


class SecretKeyRef(ApiModel):
    """A key of a Secret in the operator's namespace (tenants cannot name Secrets)."""

    name: str = Field(min_length=1, max_length=253, description="Secret name.")
    key: str = Field(min_length=1, max_length=253, description="Key in the Secret's data.")


class PrometheusSource(ApiModel):
    """A Prometheus endpoint the admin allows ModelDeployments to query by name."""

    url: str = Field(pattern=r"^https?://[^\s/?#]+(/[^\s?#]*)?$", max_length=2048, description="Base URL.")
    bearer_token: SecretKeyRef | None = Field(default=None, description="Send this Secret key as a bearer token.")
    basic_auth: str | None = Field(
        default=None, max_length=253, description="Name of a Secret with username and password keys (basic auth)."
    )
    ca: SecretKeyRef | None = Field(default=None, description="PEM CA bundle to verify the server's certificate.")


class EgressConfig(ApiModel):
    """Where the operator may send demand queries. By default nowhere: a ModelDeployment names one of
    `sources`; a URL it writes itself is used only on an `allowedHosts` host, and never one that resolves
    to loopback, link-local (cloud metadata), unspecified, multicast or the API server's address."""

    sources: dict[str, PrometheusSource] = Field(default_factory=dict, description="Named Prometheus endpoints.")
    allowed_hosts: list[str] = Field(
        default_factory=list,
        description="host or host:port a ModelDeployment may name in metric.prometheus.url (exact match).",
    )
    secrets_namespace: str | None = Field(
        default=None, description="Namespace of the auth Secrets (default: the operator's, from POD_NAMESPACE)."
    )
    timeout_seconds: float = Field(default=5, gt=0, le=60, description="Per query.")
    max_response_bytes: int = Field(default=1_048_576, ge=1024, le=67_108_864, description="Larger answers fail.")


class OperatorConfig(ApiModel):
    """infercap operator settings."""

    default_provider: Provider = Field(default=Provider.KARPENTER, description="Node-pool provider by default.")
    enabled_providers: list[Provider] = Field(
        default_factory=lambda: [Provider.KARPENTER, Provider.CLUSTERAPI, Provider.GKE],
        description="Providers whose node pools infercap may write (the chart grants RBAC for these only).",
    )
    karpenter: KarpenterConfig = Field(default_factory=KarpenterConfig)
    clusterapi: ClusterApiConfig = Field(default_factory=ClusterApiConfig)
    gke: GkeConfig = Field(default_factory=GkeConfig)
    quota: QuotaConfig = Field(default_factory=QuotaConfig)
    prometheus: EgressConfig = Field(default_factory=EgressConfig)
    limits: Limits = Field(
        default_factory=Limits, description="Ceilings for every namespace; CapacityPolicy objects add more."
    )
    policy_required: bool = Field(
        default=False, description="Apply nothing new unless at least one CapacityPolicy covers the namespace."
    )
    serving: ServingConfig = Field(default_factory=ServingConfig)
    prices: dict[str, PositiveDecimal] = Field(
        default_factory=dict, description="Price per chip-hour by accelerator id, overriding the catalog."
    )
    resync_seconds: float = Field(default=60, gt=0, description="Re-plan every ModelDeployment this often.")
    plan_timeout_seconds: float = Field(
        default=10, gt=0, le=300, description="Abandon a plan that takes longer (PlanTimeout); plans take ms."
    )
    autoscale_poll_seconds: float = Field(
        default=15, gt=0, description="Poll the demand metric of autoscaled ModelDeployments this often."
    )
