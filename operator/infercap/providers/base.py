"""What every node-pool provider shares: the request it renders from, its error, the ownership labels and
cost annotations on every manifest, the `NodePoolProvider` contract, and the registry that the operator,
the CLI and the Kopf handlers look providers up in (no if-chain by provider anywhere else).

Adding a provider is one module that defines a class meeting `NodePoolProvider` and calls `register()`
with it, plus its import in `infercap.providers` (where the built-in ones are registered).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, Protocol, runtime_checkable

from infercap.api.catalog import AcceleratorProfileSpec
from infercap.api.conditions import Reason
from infercap.api.config import OperatorConfig
from infercap.api.deployment import NodePoolSpec
from infercap.api.errors import ReasonedError
from infercap.api.policy import Targets
from infercap.api.serving import CapacityMode
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


@dataclass(frozen=True)
class PoolKind:
    """A kind of node-pool object: what the API client needs to read and write it, and RBAC to grant."""

    api_version: str  # group/version
    kind: str
    plural: str
    namespaced: bool

    @property
    def group(self) -> str:
        return self.api_version.split("/", 1)[0]

    @property
    def version(self) -> str:
        return self.api_version.split("/", 1)[1]


@runtime_checkable
class NodePoolProvider(Protocol):
    """A source of nodes (Karpenter, Cluster API, GKE through Config Connector, ...): pure, no I/O.

    Contract (read before writing one):
    - `id` is the spec.nodePool.provider / operator-configuration value that selects it; unique.
    - `kinds` lists every (apiVersion, kind) `render` may return. The operator watches, indexes and cleans up
      (by the owner-uid label) these kinds only, and the API client learns them from here; a manifest of
      another kind is a bug. (The chart's RBAC must grant them.)
    - `supports(acc, cfg)` says whether this provider can make nodes of accelerator `acc` under `cfg`
      (from the catalog's instance types and labels). The planner plans only among supported accelerators,
      so `render` of a supported accelerator's plan should not fail for lack of an instance type.
    - `render(req, cfg)` returns the node-pool manifests for one plan, deterministic in its inputs (the
      same request renders byte-identical manifests: reconciles are idempotent). Each manifest carries
      `owner_labels(req.owner, ...)` and `cost_annotations(...)`, a name from `pool_name` (stable per owner
      and accelerator, so an accelerator switch makes a new pool beside the old one), and sizes the pool to
      `req.placement` (plus `req.surge_chips` where the provider caps resources). A plan the provider cannot
      express raises `ProviderError` with a PascalCase reason and a message naming the field to change;
      it never returns a partial list.
    - `resolve(pool, cfg, targets)` fills spec.nodePool's target fields (node class, cluster, namespace)
      from what the admin allows (`targets`, from CapacityPolicies; else the operator configuration's
      single target), or raises ProviderError(TargetNotAllowed) naming the field; a tenant never picks a
      target freely (`providers.targets` has the helpers for node-class and cluster targets).
    - `observes_nodes`: True when the nodes of its pools carry the pool's name in `karpenter.sh/nodepool`
      (and NodeClaims): `reconcile.observe` then counts them, prices them and reads each pool object's own
      `Ready` condition into NodePoolsReady. False: NodePoolsReady is True once applied.
    """

    @property
    def id(self) -> str: ...

    @property
    def kinds(self) -> tuple[PoolKind, ...]: ...

    @property
    def observes_nodes(self) -> bool: ...

    def supports(self, acc: AcceleratorProfileSpec, cfg: OperatorConfig) -> bool: ...

    def render(self, req: PoolRequest, cfg: OperatorConfig) -> list[dict[str, Any]]: ...

    def resolve(self, pool: NodePoolSpec, cfg: OperatorConfig, targets: Targets) -> NodePoolSpec: ...


_REGISTRY: dict[str, NodePoolProvider] = {}


def register(provider: NodePoolProvider) -> NodePoolProvider:
    """Make `provider` selectable by its id (a second registration of an id replaces the first: tests swap
    in fakes this way). Returns it, so a module can write `PROVIDER = register(MyProvider())`."""
    _REGISTRY[provider.id] = provider
    return provider


def unregister(provider_id: str) -> None:
    _REGISTRY.pop(provider_id, None)


def get(provider_id: str) -> NodePoolProvider:
    """The registered provider of this id, or ProviderError(ProviderUnsupported)."""
    try:
        return _REGISTRY[provider_id]
    except KeyError:
        known = ", ".join(sorted(_REGISTRY)) or "none"
        raise ProviderError(
            Reason.PROVIDER_UNSUPPORTED, f"no node-pool provider {provider_id!r} is registered (known: {known})"
        ) from None


def registered() -> dict[str, NodePoolProvider]:
    """Every registered provider by id, in registration order."""
    return dict(_REGISTRY)


def pool_kinds(enabled: Iterable[str] | None = None) -> list[PoolKind]:
    """Node-pool kinds of these providers (default: every registered one), without duplicates."""
    wanted = None if enabled is None else set(enabled)
    out: list[PoolKind] = []
    for pid, provider in _REGISTRY.items():
        if wanted is None or pid in wanted:
            out += [k for k in provider.kinds if k not in out]
    return out
