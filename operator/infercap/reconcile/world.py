"""What one reconcile works with: the World it reads beyond its own object (profiles, policies, the
namespace's other plans, owned pools), the autoscaler's input, the result the handler acts on, and the
working state (`Pass`) that the steps fill in one after the other."""

from __future__ import annotations

import asyncio
from collections import defaultdict
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from infercap.api import API_VERSION
from infercap.api.config import OperatorConfig
from infercap.api.deployment import ModelDeploymentSpec
from infercap.core.catalog import Catalog
from infercap.core.planner import Plan
from infercap.kube.client import Kube, register_kind
from infercap.providers import OWNER_UID, Owner, pool_kinds
from infercap.providers.quota import Share
from infercap.reconcile.admission import Admission
from infercap.reconcile.observe import Reader
from infercap.reconcile.prefetch import Prefetched
from infercap.reconcile.quotabook import QuotaBook
from infercap.reconcile.shares import share_from_status
from infercap.reconcile.status import Event, Verdict

if TYPE_CHECKING:  # calibrate's step functions take a Pass: the types only, no import cycle
    from infercap.reconcile.calibrate import Outcome as CalibrationOutcome
    from infercap.reconcile.calibrate import Reader as CalibrationReader

KIND = "ModelDeployment"


class World:
    """What a reconcile needs to know beyond its own object: the catalog's profile objects and the other
    plans of a namespace. This one asks the API server; the operator passes one backed by Kopf's
    in-memory indexes, so a reconcile lists nothing (200 ModelDeployments would otherwise make each
    reconcile read all 200)."""

    def __init__(
        self, kube: Kube, quota_locks: dict[str, asyncio.Lock] | None = None, quota_book: QuotaBook | None = None
    ) -> None:
        self.kube = kube
        for k in pool_kinds():  # the API client learns the node-pool kinds from the provider registry
            register_kind(k.api_version, k.kind, k.plural, k.namespaced)
        # One quota write per namespace at a time: 200 concurrent applies to one object make the API
        # server retry them into timeouts, one after the other costs a few ms each.
        self.quota_locks = quota_locks if quota_locks is not None else defaultdict(asyncio.Lock)
        self.quota_book = quota_book if quota_book is not None else QuotaBook()

    async def profiles(self) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
        return (
            await self.kube.list(API_VERSION, "ModelProfile"),
            await self.kube.list(API_VERSION, "AcceleratorProfile"),
        )

    async def owned(self, uid: str, cfg: OperatorConfig) -> list[dict[str, Any]]:
        """Node pools labelled as this ModelDeployment's."""
        return await owned_pools(self.kube, uid, cfg)

    def reader(self) -> Reader:
        """What observing reads nodes, NodeClaims and serving pods through."""
        return self.kube

    async def policies(self) -> list[dict[str, Any]]:
        """CapacityPolicy objects (cluster-scoped, the admin's)."""
        return await self.kube.list(API_VERSION, "CapacityPolicy")

    async def shares(self, namespace: str) -> list[Share]:
        out = []
        for obj in await self.kube.list(API_VERSION, KIND, namespace=namespace):
            share = share_from_status(obj)
            if share is not None:
                out.append(share)
        return out


async def owned_pools(kube: Kube, uid: str, cfg: OperatorConfig | None = None) -> list[dict[str, Any]]:
    """Every node-pool object labelled as this ModelDeployment's (of the enabled providers' kinds: the
    others are neither written nor readable under the chart's RBAC)."""
    out = []
    for k in pool_kinds(cfg.enabled_providers if cfg else None):
        out += await kube.list(k.api_version, k.kind, labels={OWNER_UID: uid})
    return out


@dataclass(frozen=True)
class Autoscale:
    """The autoscaler's input to a reconcile: demand to plan for, its status block, its conditions."""

    planned_rps: float
    status: dict[str, Any]
    verdict: Verdict
    sli_verdict: Verdict | None = None  # SliObserved, when spec.autoscaling.sli is set


@dataclass
class Result:
    """What the handler does next: post these events; retry soon when `retry` is set."""

    status: dict[str, Any]
    events: list[Event] = field(default_factory=list)
    written: bool = False
    retry: str | None = None


@dataclass
class Pass:
    """One reconcile in progress. The steps read what the earlier ones set and add their own part: a
    step that finds nothing to do (no spec, no plan) leaves its fields None and the later steps skip."""

    kube: Kube
    cfg: OperatorConfig
    body: dict[str, Any]
    now: str
    world: World
    autoscale: Autoscale | None = None
    old: dict[str, Any] = field(default_factory=dict)  # the status as read
    new: dict[str, Any] = field(default_factory=dict)  # the status being built
    verdicts: dict[str, Verdict] = field(default_factory=dict)  # condition type -> this pass's verdict
    spec: ModelDeploymentSpec | None = None
    admission: Admission | None = None
    catalog: Catalog | None = None
    problems: list[str] = field(default_factory=list)  # profiles left out of the catalog
    demand_rps: float | None = None  # the autoscaler's demand, when it sets one
    plan: Plan | None = None
    retry: str | None = None
    # The object's own annotations go here instead of a patch of their own when the handler passes a
    # dict (Kopf's patch of the handler then carries them: one write, not two).
    annotations: dict[str, str] | None = None
    policies: list[dict[str, Any]] = field(default_factory=list)  # the CapacityPolicy objects admission read
    seen: Prefetched | None = None  # pools this pass read or applied, which observing reads next
    calibrator: CalibrationReader | None = None  # the engine metrics' reader (the operator's; None offline)
    calibration: CalibrationOutcome | None = None  # what calibration gives this pass's plan and status

    @property
    def owner(self) -> Owner:
        meta = self.body["metadata"]
        return Owner(meta["name"], meta["namespace"], meta["uid"])

    @property
    def generation(self) -> int | None:
        gen = self.body["metadata"].get("generation")
        return int(gen) if gen is not None else None

    def previous(self, ctype: str) -> Verdict | None:
        """The condition `ctype` as the status last recorded it."""
        prev = next((c for c in self.old.get("conditions", []) if c["type"] == ctype), None)
        return Verdict(prev["status"], prev["reason"], prev["message"]) if prev is not None else None
