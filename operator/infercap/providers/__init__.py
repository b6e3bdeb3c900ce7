"""Node-pool providers and quotas: pure functions from a plan to the manifests infercap applies.

Every manifest carries the ownership labels (managed-by, owner uid) and the cost annotations;
`kube/` applies them with server-side apply. Golden tests pin the output.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from infercap.api.catalog import AcceleratorProfileSpec
from infercap.api.conditions import Reason
from infercap.api.config import OperatorConfig
from infercap.api.deployment import ModelDeploymentSpec, NodePoolSpec, Provider
from infercap.api.errors import ReasonedError
from infercap.api.serving import CapacityMode
from infercap.core.catalog import Catalog
from infercap.core.cost import HOURS_PER_MONTH, money
from infercap.core.sizes import Placement

MANAGED_BY = "app.kubernetes.io/managed-by"
MANAGER = "infercap"
OWNER_UID = "infercap.dev/owner-uid"
OWNER = "infercap.dev/owner"  # annotation: namespace/name
ACCELERATOR = "infercap.dev/accelerator"
MODEL_DEPLOYMENT = "infercap.dev/model-deployment"  # node label: namespace.name (hashed if long)
COST_HOURLY = "infercap.dev/cost-hourly"
COST_MONTHLY = "infercap.dev/cost-monthly"
COST_CURRENCY = "infercap.dev/cost-currency"


class ProviderError(ReasonedError):
    """The provider cannot express this plan."""


@dataclass(frozen=True)
class Owner:
    name: str
    namespace: str
    uid: str


@dataclass(frozen=True)
class PoolRequest:
    """Everything a provider needs to render node pools for one ModelDeployment."""

    owner: Owner
    accelerator: AcceleratorProfileSpec
    placement: Placement
    price_per_chip_hour: Decimal
    currency: str
    override: NodePoolSpec = field(default_factory=NodePoolSpec)
    mode: CapacityMode | None = None  # spec.capacity.mode; None: the provider's configured default
    surge_chips: int = 0  # chips a workload rollout may add beyond the plan (serving.rolloutSurge)


def dns_name(*parts: str, limit: int = 63) -> str:
    """A DNS-1123 label from parts, with a stable hash suffix when it would be too long."""
    raw = "-".join(p.strip("-").lower().replace(".", "-").replace("_", "-") for p in parts if p)
    if len(raw) <= limit:
        return raw
    digest = hashlib.sha256(raw.encode()).hexdigest()[:8]
    return f"{raw[: limit - 9].rstrip('-')}-{digest}"


def owner_labels(owner: Owner, accelerator: str | None = None) -> dict[str, str]:
    labels = {MANAGED_BY: MANAGER, OWNER_UID: owner.uid}
    if accelerator:
        labels[ACCELERATOR] = accelerator
    return labels


def cost_annotations(chips: int, price: Decimal, currency: str, owner: Owner | None = None) -> dict[str, str]:
    hourly = price * chips
    out = {
        COST_HOURLY: str(money(hourly)),
        COST_MONTHLY: str(money(hourly * HOURS_PER_MONTH)),
        COST_CURRENCY: currency,
    }
    if owner is not None:
        out[OWNER] = f"{owner.namespace}/{owner.name}"
    return out


def pool_name(owner: Owner, accelerator: str, limit: int = 63) -> str:
    """The node-pool name of one ModelDeployment and accelerator: readable, and unique because it ends in a
    hash of namespace, name and accelerator kept apart (team/x-y and team-x/y join to the same words)."""
    digest = hashlib.sha256(f"{owner.namespace}/{owner.name}/{accelerator}".encode()).hexdigest()[:8]
    words = dns_name("infercap", owner.namespace, owner.name, accelerator, limit=10_000)
    return f"{words[: limit - 9].rstrip('-')}-{digest}"


def deployment_label(owner: Owner) -> str:
    """Node label value naming the ModelDeployment: namespace.name (a namespace has no dot, so the two
    stay apart), hashed where longer than a label value may be."""
    value = f"{owner.namespace}.{owner.name}"
    if len(value) <= 63:
        return value
    digest = hashlib.sha256(value.encode()).hexdigest()[:8]
    return f"{value[:54].rstrip('-.')}-{digest}"


# The node-pool kind each provider writes.
POOL_KINDS = {
    Provider.KARPENTER: ("karpenter.sh/v1", "NodePool"),
    Provider.CLUSTERAPI: ("cluster.x-k8s.io/v1beta2", "MachineDeployment"),
    Provider.GKE: ("container.cnrm.cloud.google.com/v1beta1", "ContainerNodePool"),
}


def pool_kinds(enabled: list[Provider] | None = None) -> list[tuple[str, str]]:
    """(apiVersion, kind) of the node pools of these providers (default: all)."""
    return [kind for provider, kind in POOL_KINDS.items() if enabled is None or provider in enabled]


def provider_for(override: NodePoolSpec, cfg: OperatorConfig) -> Provider:
    return override.provider or cfg.default_provider


def supports(provider: Provider, acc: AcceleratorProfileSpec, cfg: OperatorConfig | None = None) -> bool:
    """Whether the provider can create nodes with this accelerator (from the catalog's instance types
    and labels)."""
    if provider == Provider.KARPENTER:
        from infercap.providers import karpenter

        return karpenter.supports(acc, (cfg or OperatorConfig()).karpenter)
    if provider == Provider.GKE:
        gke = acc.node_labels.get("gke", {})
        if acc.slice_shapes:
            return "cloud.google.com/gke-tpu-accelerator" in gke
        return "cloud.google.com/gke-accelerator" in gke and any("gcp" in s.instance_types for s in acc.node_shapes)
    return True  # Cluster API machine templates and plan-only deployments take any accelerator


def candidates(
    spec: ModelDeploymentSpec, catalog: Catalog, provider: Provider, cfg: OperatorConfig | None = None
) -> ModelDeploymentSpec:
    """The accelerators to plan among: those of spec.accelerators (default: the whole catalog) that the
    node-pool provider can create (Karpenter cannot make TPU nodes). An explicit list none of whose
    accelerators the provider can create is kept, so the plan says why no pool can be made."""
    ids = spec.accelerators or sorted(catalog.accelerators)
    usable = [
        a
        for a in ids
        if a not in catalog.accelerators
        or (supports(provider, catalog.accelerators[a], cfg) and _engine_runs_on(spec, catalog.accelerators[a]))
    ]
    if spec.accelerators and not usable:
        return spec
    return spec.model_copy(update={"accelerators": usable})


def _engine_runs_on(spec: ModelDeploymentSpec, acc: AcceleratorProfileSpec) -> bool:
    from infercap.api.serving import ENGINE_VENDORS

    return spec.serving is None or acc.vendor.value in ENGINE_VENDORS[spec.serving.engine.value]


def provider_rejections(
    spec: ModelDeploymentSpec, catalog: Catalog, provider: Provider, cfg: OperatorConfig | None = None
) -> list[tuple[str, str, str]]:
    """(accelerator, reason, message) for each explicitly listed accelerator the provider cannot create."""
    kept = set(candidates(spec, catalog, provider, cfg).accelerators)
    out = []
    for a in spec.accelerators:
        if a in kept or a not in catalog.accelerators:
            continue
        acc = catalog.accelerators[a]
        if not _engine_runs_on(spec, acc):
            assert spec.serving is not None
            out.append(
                (
                    a,
                    Reason.ENGINE_UNSUPPORTED,
                    f"spec.serving.engine {spec.serving.engine.value} does not run on {acc.vendor.value} "
                    f"accelerators; planned on one it runs on",
                )
            )
        else:
            out.append(
                (
                    a,
                    Reason.PROVIDER_CANNOT_CREATE,
                    f"the {provider.value} node-pool provider cannot create {a} nodes (no instance type or labels "
                    f"for it in the catalog); planned on one it can create",
                )
            )
    return out


def render_node_pools(req: PoolRequest, cfg: OperatorConfig) -> list[dict[str, Any]]:
    """Manifests of the node pools for one plan, by provider."""
    from infercap.providers import clusterapi, gke, karpenter

    provider = provider_for(req.override, cfg)
    if provider == Provider.NONE:
        return []
    if provider == Provider.KARPENTER:
        return [karpenter.node_pool(req, cfg.karpenter, req.mode)]
    if provider == Provider.CLUSTERAPI:
        return [clusterapi.machine_deployment(req, cfg.clusterapi)]
    return gke.container_node_pools(req, cfg.gke)
