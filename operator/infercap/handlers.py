"""Kopf handlers: they translate Kopf's events (ModelDeployment changes, timers, deletions, pool and
quota drift, profile changes) into calls of the controller's `Operator`, and its `Retry` into
kopf.TemporaryError; and run the operator (`infercap run`). No decision is made here.

This is the only module that imports kopf."""

from __future__ import annotations

import logging
import random
from collections.abc import Awaitable, Sequence
from typing import Any, TypeVar

import kopf

from infercap import metrics
from infercap.api import GROUP, VERSION
from infercap.api.config import OperatorConfig
from infercap.controller import (
    CONSISTENCY_TIMEOUT,
    DRIFT_DELAY,
    INDEXES,
    OBSERVE_INDEXES,
    PEERING_LIFETIME,
    QUOTA_REFRESH_DELAY,
    IndexedWorld,
    Operator,
    Retry,
    iso,
    now,
    owned_kinds,
    policy_config,
    restore_state,
    retry_delay,
)
from infercap.kube.events import REPORTING_CONTROLLER
from infercap.providers import MANAGED_BY, MANAGER, OWNER_UID, registered
from infercap.providers.quota import Share
from infercap.reconcile import observe, share_from_status
from infercap.workloads.render import SERVING

__all__ = [  # re-exported: tests and tools import these from here
    "DRIFT_DELAY",
    "INDEXES",
    "OBSERVE_INDEXES",
    "QUOTA_REFRESH_DELAY",
    "IndexedWorld",
    "Operator",
    "build_registry",
    "iso",
    "now",
    "policy_config",
    "restore_state",
    "retry_delay",
    "run",
]

MDEP = (GROUP, VERSION, "modeldeployments")
PROFILES = ("modelprofiles", "acceleratorprofiles", "capacitypolicies")  # a change re-plans every object
T = TypeVar("T")


def _id(name: str) -> str:
    """A handler's id as it was while every handler was defined inside build_registry (Kopf's default, the
    function's qualified name): Kopf keeps a handler's progress in the object's annotations under its id
    and logs name it, so splitting the module changes neither."""
    return f"build_registry.<locals>.{name}"


async def retrying(call: Awaitable[T]) -> T:
    """Await `call`; the controller's Retry becomes Kopf's TemporaryError (Kopf retries the handler)."""
    try:
        return await call
    except Retry as e:
        raise kopf.TemporaryError(e.message, delay=e.delay) from None


def build_registry(cfg: OperatorConfig, namespaces: Sequence[str] = ()) -> tuple[kopf.OperatorRegistry, Operator]:
    """All handlers, bound to one Operator, in a registry of their own (no import-time side effects)."""
    registry = kopf.OperatorRegistry()
    op = Operator(cfg, namespaces)
    _lifecycle(registry, op)
    _indexes(registry, op)
    _pool_watches(registry, op)
    _serving_watches(registry, op)
    _model_deployments(registry, op)
    return registry, op


def _lifecycle(registry: kopf.OperatorRegistry, op: Operator) -> None:
    @kopf.on.startup(id=_id("configure"), registry=registry)
    async def configure(settings: kopf.OperatorSettings, **_: Any) -> None:
        # Kopf's own bookkeeping goes into infercap.dev annotations, never into spec or status.
        settings.persistence.progress_storage = kopf.AnnotationsProgressStorage(prefix=GROUP)
        settings.persistence.diffbase_storage = kopf.AnnotationsDiffBaseStorage(prefix=GROUP)
        settings.persistence.finalizer = f"{GROUP}/cleanup"
        # Kopf waits this long for the event of its own diffbase patch before it takes the object's older
        # events as current; at the 5 s default a loaded API server's lagging watch re-ran the create handler
        # on bodies without the diffbase (507 creations for 200 objects). New events still wake it at once.
        settings.persistence.consistency_timeout = CONSISTENCY_TIMEOUT
        settings.posting.level = logging.WARNING  # our Events are posted explicitly, on change only
        settings.posting.reporting_component = REPORTING_CONTROLLER  # Kopf's own (handler errors) too
        settings.watching.server_timeout = 300
        settings.networking.request_timeout = 60
        # HA (--peering): Kopf pauses every replica when two share the highest priority, so the chart's two
        # replicas would both stand still. Each draws its own: the highest works, the others stand by and
        # take over once its peering record is older than the lifetime (a kill -9 leaves no goodbye).
        settings.peering.priority = random.SystemRandom().randint(1, 2**31 - 1)
        settings.peering.lifetime = PEERING_LIFETIME

    @kopf.on.login(id=_id("login"), registry=registry)
    def login(**kwargs: Any) -> kopf.ConnectionInfo | None:
        # In a pod: the service account; elsewhere: KUBECONFIG or ~/.kube/config (no client library needed).
        return kopf.login_with_service_account(**kwargs) or kopf.login_with_kubeconfig(**kwargs)

    @kopf.on.cleanup(id=_id("close"), registry=registry)
    async def close(**_: Any) -> None:
        await op.close()

    @kopf.on.probe(id="catalog", registry=registry)
    def probe(**_: Any) -> dict[str, int]:
        return op.health()


def _indexes(registry: kopf.OperatorRegistry, op: Operator) -> None:
    # Explicit ids: Kopf passes each index to handlers as a keyword named after the handler id, which for a
    # function defined in here would be "_indexes.<locals>.quota_shares"; World then found no index and
    # every reconcile listed ModelDeployments and profiles from the API server.
    @kopf.index(*MDEP, id="quota_shares", registry=registry)
    def quota_shares(namespace: str | None, body: kopf.Body, **_: Any) -> dict[str | None, Share] | None:
        share = share_from_status(dict(body))
        return {namespace: share} if share is not None else None

    @kopf.index(GROUP, VERSION, "modelprofiles", id="model_profiles", registry=registry)
    def model_profiles(body: kopf.Body, **_: Any) -> dict[None, dict[str, Any]]:
        return {None: dict(body)}

    @kopf.index(GROUP, VERSION, "acceleratorprofiles", id="accelerator_profiles", registry=registry)
    def accelerator_profiles(body: kopf.Body, **_: Any) -> dict[None, dict[str, Any]]:
        return {None: dict(body)}

    @kopf.index(GROUP, VERSION, "capacitypolicies", id="capacity_policies", registry=registry)
    def capacity_policies(body: kopf.Body, **_: Any) -> dict[None, dict[str, Any]]:
        return {None: dict(body)}

    # What observing reads (observe.IndexedReader): nodes and NodeClaims of Karpenter pools, serving pods.
    @kopf.index(
        "", "v1", "nodes", labels={observe.NODEPOOL_LABEL: kopf.PRESENT}, id=observe.NODES_INDEX, registry=registry
    )
    def nodes_by_pool(body: kopf.Body, **_: Any) -> dict[str, dict[str, Any]] | None:
        return observe.node_entry(body)

    @kopf.index("", "v1", "pods", labels={SERVING: kopf.PRESENT}, id=observe.PODS_INDEX, registry=registry)
    def serving_pods(body: kopf.Body, **_: Any) -> dict[str, dict[str, Any]] | None:
        return observe.pod_entry(body)

    providers = registered()
    if any(providers[p].observes_nodes for p in op.cfg.enabled_providers if p in providers):

        @kopf.index(
            "karpenter.sh",
            "v1",
            "nodeclaims",
            labels={observe.NODEPOOL_LABEL: kopf.PRESENT},
            id=observe.NODECLAIMS_INDEX,
            registry=registry,
        )
        def nodeclaims_by_pool(body: kopf.Body, **_: Any) -> dict[str, dict[str, Any]] | None:
            return observe.nodeclaim_entry(body)


def _pool_watches(registry: kopf.OperatorRegistry, op: Operator) -> None:
    """Per enabled provider's pool kind: an index of owned pools by owner uid (stale pools are found
    without a LIST) and a watch (a foreign edit or a deletion is corrected in about a second)."""
    for index_id, (provider, kind) in owned_kinds().items():
        if provider not in op.cfg.enabled_providers:
            continue

        @kopf.index(
            kind.group, kind.version, kind.plural, labels={OWNER_UID: kopf.PRESENT}, id=index_id, registry=registry
        )
        def owned_pool(body: kopf.Body, **_: Any) -> dict[str, dict[str, Any]]:
            return Operator.owned_entry(body)

        @kopf.on.event(
            kind.group,
            kind.version,
            kind.plural,
            labels={OWNER_UID: kopf.PRESENT},
            id=f"drift_{kind.plural}",
            when=lambda body, **kw: op.drifted(body, kw),
            registry=registry,
        )
        async def pool_changed(body: kopf.Body, **kwargs: Any) -> None:
            op.schedule_drift(op.owner_of(body), kwargs, (body["metadata"].get("labels") or {}).get(OWNER_UID))

    @kopf.on.event(
        "",
        "v1",
        "resourcequotas",
        labels={MANAGED_BY: MANAGER},
        id="quota_drift",
        when=lambda body, **kw: op.quota_drifted(body, kw),
        registry=registry,
    )
    async def quota_changed(body: kopf.Body, **kwargs: Any) -> None:
        op.quota_changed(str(body["metadata"].get("namespace")), kwargs)


# The kinds infercap renders a serving workload as (workloads.render): Deployment, LeaderWorkerSet.
SERVING_KINDS = (("apps", "v1", "deployments"), ("leaderworkerset.x-k8s.io", "v1", "leaderworkersets"))


def _serving_watches(registry: kopf.OperatorRegistry, op: Operator) -> None:
    """The serving workloads infercap wrote: a rollout's progress or a foreign edit reconciles the owner."""
    for group, version, plural in SERVING_KINDS:

        @kopf.on.event(
            group,
            version,
            plural,
            labels={MANAGED_BY: MANAGER, OWNER_UID: kopf.PRESENT},
            id=f"serving_{plural}",
            when=lambda body, **kw: op.serving_changed(body, kw),
            registry=registry,
        )
        async def serving_changed(body: kopf.Body, **kwargs: Any) -> None:
            op.schedule_drift(op.serving_owner(body), kwargs, (body["metadata"].get("labels") or {}).get(OWNER_UID))


def _model_deployments(registry: kopf.OperatorRegistry, op: Operator) -> None:
    cfg = op.cfg

    @kopf.on.create(*MDEP, id=_id("changed"), registry=registry)
    @kopf.on.update(*MDEP, field="spec", id=_id("changed"), registry=registry)  # not on our own annotations
    @kopf.on.resume(*MDEP, id=_id("changed"), registry=registry)
    async def changed(body: kopf.Body, logger: Any, patch: kopf.Patch, **kwargs: Any) -> None:
        # The object's cost annotations ride on Kopf's own patch of this handler (one write, not two).
        annotations: dict[str, str] = {}
        await retrying(op.run_reconcile(body, logger, kwargs, annotations=annotations))
        if annotations:
            patch.metadata.annotations.update(annotations)

    @kopf.timer(
        *MDEP, id=_id("resync"), interval=cfg.resync_seconds, initial_delay=cfg.resync_seconds, registry=registry
    )
    async def resync(body: kopf.Body, logger: Any, **kwargs: Any) -> None:
        await retrying(op.run_reconcile(body, logger, kwargs))

    @kopf.timer(
        *MDEP,
        id=_id("autoscale"),
        interval=cfg.autoscale_poll_seconds,
        registry=registry,
        when=lambda spec, **_: bool(spec.get("autoscaling")),
    )
    async def autoscale(body: kopf.Body, logger: Any, **kwargs: Any) -> None:
        await retrying(op.autoscale(body, logger, kwargs))

    @kopf.on.delete(*MDEP, id=_id("deleted"), registry=registry)
    async def deleted(body: kopf.Body, logger: Any, **kwargs: Any) -> None:
        await retrying(op.delete(body, logger, kwargs))

    for profile in PROFILES:

        @kopf.on.event(GROUP, VERSION, profile, id=_id("profile_changed"), registry=registry)
        async def profile_changed(type: str | None, logger: Any, **kwargs: Any) -> None:
            # A catalog change can move any plan: re-plan every ModelDeployment now, not at next resync.
            if type is not None:  # None: the initial listing at startup; resume handlers cover it
                await retrying(op.replan_all(logger, kwargs))


def run(
    cfg: OperatorConfig,
    namespaces: Sequence[str] = (),
    standalone: bool = True,
    peering: str | None = None,
    liveness: str | None = None,
    log_format: str = "plain",
    verbose: bool = False,
    metrics_port: int | None = None,
) -> None:
    """Run the operator until interrupted (the body of `infercap run`)."""
    formats = {"plain": kopf.LogFormat.PLAIN, "full": kopf.LogFormat.FULL, "json": kopf.LogFormat.JSON}
    kopf.configure(verbose=verbose, log_format=formats[log_format])
    for noisy in ("httpx", "httpx2", "httpcore"):
        logging.getLogger(noisy).setLevel(logging.DEBUG if verbose else logging.WARNING)
    registry, _ = build_registry(cfg, namespaces)
    if metrics_port:
        metrics.serve(metrics_port)
    kopf.run(
        registry=registry,
        standalone=standalone if peering is None else False,
        peering_name=peering,
        liveness_endpoint=liveness,
        clusterwide=not namespaces,
        namespaces=list(namespaces),
    )
