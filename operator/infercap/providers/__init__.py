"""Node-pool providers and quotas: pure functions from a plan to the manifests infercap applies.

Every manifest carries the ownership labels (managed-by, owner uid) and the cost annotations;
`kube/` applies them with server-side apply. Golden tests pin the output. The providers themselves live
one per module and register with `base.register`; this package imports the built-in ones (so they are
registered whenever it is imported) and dispatches through the registry.
"""

from __future__ import annotations

from typing import Any

from infercap.api.catalog import AcceleratorProfileSpec
from infercap.api.conditions import Reason
from infercap.api.config import OperatorConfig
from infercap.api.deployment import ModelDeploymentSpec, NodePoolSpec, Provider
from infercap.core.catalog import Catalog
from infercap.providers.base import (
    ACCELERATOR,
    COST_CURRENCY,
    COST_HOURLY,
    COST_MONTHLY,
    MANAGED_BY,
    MANAGER,
    MODEL_DEPLOYMENT,
    OWNER,
    OWNER_UID,
    NodePoolProvider,
    Owner,
    PoolKind,
    PoolRequest,
    ProviderError,
    cost_annotations,
    deployment_label,
    dns_name,
    get,
    owner_labels,
    pool_kinds,
    pool_name,
    register,
    registered,
)

__all__ = [
    "ACCELERATOR",
    "COST_CURRENCY",
    "COST_HOURLY",
    "COST_MONTHLY",
    "MANAGED_BY",
    "MANAGER",
    "MODEL_DEPLOYMENT",
    "OWNER",
    "OWNER_UID",
    "NodePoolProvider",
    "Owner",
    "PoolKind",
    "PoolRequest",
    "ProviderError",
    "candidates",
    "cost_annotations",
    "deployment_label",
    "dns_name",
    "get",
    "owner_labels",
    "pool_kinds",
    "pool_name",
    "provider_for",
    "provider_rejections",
    "register",
    "registered",
    "render_node_pools",
    "supports",
]


def provider_for(override: NodePoolSpec, cfg: OperatorConfig) -> Provider:
    return override.provider or cfg.default_provider


def supports(provider: str, acc: AcceleratorProfileSpec, cfg: OperatorConfig | None = None) -> bool:
    """Whether the provider can create nodes with this accelerator (from the catalog's instance types
    and labels)."""
    return get(provider).supports(acc, cfg or OperatorConfig())


def candidates(
    spec: ModelDeploymentSpec, catalog: Catalog, provider: str, cfg: OperatorConfig | None = None
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
    spec: ModelDeploymentSpec, catalog: Catalog, provider: str, cfg: OperatorConfig | None = None
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
                    f"the {provider} node-pool provider cannot create {a} nodes (no instance type or labels "
                    f"for it in the catalog); planned on one it can create",
                )
            )
    return out


def render_node_pools(req: PoolRequest, cfg: OperatorConfig) -> list[dict[str, Any]]:
    """Manifests of the node pools for one plan, by its provider."""
    return get(provider_for(req.override, cfg)).render(req, cfg)


# The built-in providers register themselves on import (after everything above exists: they import it).
from infercap.providers import clusterapi, gke, karpenter, planonly  # noqa: E402, F401
