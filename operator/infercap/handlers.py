"""Kopf handlers: thin wrappers that call the reconcile on every ModelDeployment event, periodically,
and on deletion, post Kubernetes Events, and run the operator (`infercap run`).

This is the only module that imports kopf."""

from __future__ import annotations

import asyncio
import datetime
import logging
from collections import defaultdict
from collections.abc import Sequence
from typing import Any, cast

import kopf

from infercap.api import GROUP, VERSION
from infercap.api.config import OperatorConfig
from infercap.kube.client import Kube, KubeError
from infercap.providers.quota import Share
from infercap.reconcile import Result, World, finalize, reconcile, share_from_status

MDEP = (GROUP, VERSION, "modeldeployments")
PROFILES = ("modelprofiles", "acceleratorprofiles")
log = logging.getLogger("infercap")


def now() -> str:
    return datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class IndexedWorld(World):
    """The World as Kopf's in-memory indexes see it: no API listing during a reconcile."""

    def __init__(self, kube: Kube, indexes: dict[str, Any], quota_locks: dict[str, asyncio.Lock]) -> None:
        super().__init__(kube, quota_locks)
        self.indexes = indexes

    async def profiles(self) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
        return (
            list(self.indexes["model_profiles"].get(None, [])),
            list(self.indexes["accelerator_profiles"].get(None, [])),
        )

    async def shares(self, namespace: str) -> list[Share]:
        return list(self.indexes["quota_shares"].get(namespace, []))


INDEXES = ("model_profiles", "accelerator_profiles", "quota_shares")


class Operator:
    """Shared state of the handlers: the API client, the configuration, per-object locks."""

    def __init__(self, cfg: OperatorConfig) -> None:
        self.cfg = cfg
        self.kube: Kube | None = None
        self.locks: defaultdict[str, asyncio.Lock] = defaultdict(asyncio.Lock)
        self.quota_locks: defaultdict[str, asyncio.Lock] = defaultdict(asyncio.Lock)

    @property
    def api(self) -> Kube:
        if self.kube is None:
            self.kube = Kube()
        return self.kube

    def world(self, kwargs: dict[str, Any]) -> World:
        if all(name in kwargs for name in INDEXES):
            return IndexedWorld(self.api, {name: kwargs[name] for name in INDEXES}, self.quota_locks)
        return World(self.api, self.quota_locks)

    async def run_reconcile(self, body: kopf.Body, logger: Any, kwargs: dict[str, Any]) -> Result:
        uid = body["metadata"]["uid"]
        async with self.locks[uid]:
            # The body Kopf hands over may predate our last status write; re-read it under the lock.
            try:
                fresh = await self.api.get(
                    f"{GROUP}/{VERSION}", "ModelDeployment", body["metadata"]["name"], body["metadata"]["namespace"]
                )
                if fresh is None or fresh["metadata"].get("deletionTimestamp"):
                    return Result({})
                result = await reconcile(self.api, self.cfg, fresh, now(), world=self.world(kwargs))
            except KubeError as e:
                # Throttling, conflicts and restarts of the API server pass; try again soon.
                transient = e.code in (0, 409, 429, 500, 502, 503, 504)
                raise kopf.TemporaryError(f"{e.reason}: {e.message}", delay=2 if transient else 15) from None
        for ev in result.events:
            kopf.event(body, type=ev.type, reason=ev.reason, message=ev.message[:1024])
            (logger.warning if ev.type == "Warning" else logger.info)(f"{ev.reason}: {ev.message}")
        if result.retry:
            raise kopf.TemporaryError(result.retry, delay=30)
        return result


def build_registry(cfg: OperatorConfig) -> tuple[kopf.OperatorRegistry, Operator]:
    """All handlers, bound to one Operator, in a registry of their own (no import-time side effects)."""
    registry = kopf.OperatorRegistry()
    op = Operator(cfg)

    @kopf.on.startup(registry=registry)
    async def configure(settings: kopf.OperatorSettings, **_: Any) -> None:
        # Kopf's own bookkeeping goes into infercap.dev annotations, never into spec or status.
        settings.persistence.progress_storage = kopf.AnnotationsProgressStorage(prefix=GROUP)
        settings.persistence.diffbase_storage = kopf.AnnotationsDiffBaseStorage(prefix=GROUP)
        settings.persistence.finalizer = f"{GROUP}/cleanup"
        settings.posting.level = logging.WARNING  # our Events are posted explicitly, on change only
        settings.watching.server_timeout = 300
        settings.networking.request_timeout = 60

    @kopf.on.login(registry=registry)
    def login(**kwargs: Any) -> kopf.ConnectionInfo | None:
        # In a pod: the service account; elsewhere: KUBECONFIG or ~/.kube/config (no client library needed).
        return kopf.login_with_service_account(**kwargs) or kopf.login_with_kubeconfig(**kwargs)

    @kopf.on.cleanup(registry=registry)
    async def close(**_: Any) -> None:
        if op.kube is not None:
            await op.kube.close()

    @kopf.index(*MDEP, registry=registry)
    def quota_shares(namespace: str | None, body: kopf.Body, **_: Any) -> dict[str | None, Share] | None:
        share = share_from_status(dict(body))
        return {namespace: share} if share is not None else None

    @kopf.index(GROUP, VERSION, "modelprofiles", registry=registry)
    def model_profiles(body: kopf.Body, **_: Any) -> dict[None, dict[str, Any]]:
        return {None: dict(body)}

    @kopf.index(GROUP, VERSION, "acceleratorprofiles", registry=registry)
    def accelerator_profiles(body: kopf.Body, **_: Any) -> dict[None, dict[str, Any]]:
        return {None: dict(body)}

    @kopf.on.create(*MDEP, registry=registry)
    @kopf.on.update(*MDEP, field="spec", registry=registry)  # our own annotations must not re-trigger
    @kopf.on.resume(*MDEP, registry=registry)
    async def changed(body: kopf.Body, logger: Any, **kwargs: Any) -> None:
        await op.run_reconcile(body, logger, kwargs)

    @kopf.timer(*MDEP, interval=cfg.resync_seconds, initial_delay=cfg.resync_seconds, registry=registry)
    async def resync(body: kopf.Body, logger: Any, **kwargs: Any) -> None:
        await op.run_reconcile(body, logger, kwargs)

    @kopf.on.delete(*MDEP, registry=registry)
    async def deleted(body: kopf.Body, logger: Any, **kwargs: Any) -> None:
        async with op.locks[body["metadata"]["uid"]]:
            removed = await finalize(op.api, cfg, dict(body), op.world(kwargs))
        op.locks.pop(body["metadata"]["uid"], None)
        if removed:
            logger.info(f"removed {', '.join(removed)}")

    for profile in PROFILES:

        @kopf.on.event(GROUP, VERSION, profile, registry=registry)
        async def profile_changed(type: str | None, logger: Any, **kwargs: Any) -> None:
            # A catalog change can move any plan: re-plan every ModelDeployment now, not at next resync.
            if type is None:
                return  # the initial listing at startup; resume handlers cover it
            for obj in await op.api.list(f"{GROUP}/{VERSION}", "ModelDeployment"):
                await op.run_reconcile(kopf.Body(cast(Any, obj)), logger, kwargs)

    @kopf.on.probe(id="catalog", registry=registry)
    def probe(**_: Any) -> str:
        return "ok"

    return registry, op


def run(
    cfg: OperatorConfig,
    namespaces: Sequence[str] = (),
    standalone: bool = True,
    peering: str | None = None,
    liveness: str | None = None,
    log_format: str = "plain",
    verbose: bool = False,
) -> None:
    """Run the operator until interrupted (the body of `infercap run`)."""
    formats = {"plain": kopf.LogFormat.PLAIN, "full": kopf.LogFormat.FULL, "json": kopf.LogFormat.JSON}
    kopf.configure(verbose=verbose, log_format=formats[log_format])
    for noisy in ("httpx", "httpx2", "httpcore"):
        logging.getLogger(noisy).setLevel(logging.DEBUG if verbose else logging.WARNING)
    registry, _ = build_registry(cfg)
    kopf.run(
        registry=registry,
        standalone=standalone if peering is None else False,
        peering_name=peering,
        liveness_endpoint=liveness,
        clusterwide=not namespaces,
        namespaces=list(namespaces),
    )
