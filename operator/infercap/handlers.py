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
from infercap.kube.client import Kube
from infercap.reconcile import Result, finalize, reconcile

MDEP = (GROUP, VERSION, "modeldeployments")
PROFILES = ("modelprofiles", "acceleratorprofiles")
log = logging.getLogger("infercap")


def now() -> str:
    return datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class Operator:
    """Shared state of the handlers: the API client, the configuration, per-object locks."""

    def __init__(self, cfg: OperatorConfig) -> None:
        self.cfg = cfg
        self.kube: Kube | None = None
        self.locks: defaultdict[str, asyncio.Lock] = defaultdict(asyncio.Lock)

    @property
    def api(self) -> Kube:
        if self.kube is None:
            self.kube = Kube()
        return self.kube

    async def run_reconcile(self, body: kopf.Body, logger: Any) -> Result:
        uid = body["metadata"]["uid"]
        async with self.locks[uid]:
            # The body Kopf hands over may predate our last status write; re-read it under the lock.
            fresh = await self.api.get(
                f"{GROUP}/{VERSION}", "ModelDeployment", body["metadata"]["name"], body["metadata"]["namespace"]
            )
            if fresh is None or fresh["metadata"].get("deletionTimestamp"):
                return Result({})
            result = await reconcile(self.api, self.cfg, fresh, now())
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

    @kopf.on.create(*MDEP, registry=registry)
    @kopf.on.update(*MDEP, field="spec", registry=registry)  # our own annotations must not re-trigger
    @kopf.on.resume(*MDEP, registry=registry)
    async def changed(body: kopf.Body, logger: Any, **_: Any) -> None:
        await op.run_reconcile(body, logger)

    @kopf.timer(*MDEP, interval=cfg.resync_seconds, initial_delay=cfg.resync_seconds, registry=registry)
    async def resync(body: kopf.Body, logger: Any, **_: Any) -> None:
        await op.run_reconcile(body, logger)

    @kopf.on.delete(*MDEP, registry=registry)
    async def deleted(body: kopf.Body, logger: Any, **_: Any) -> None:
        async with op.locks[body["metadata"]["uid"]]:
            removed = await finalize(op.api, cfg, dict(body))
        op.locks.pop(body["metadata"]["uid"], None)
        if removed:
            logger.info(f"removed {', '.join(removed)}")

    for profile in PROFILES:

        @kopf.on.event(GROUP, VERSION, profile, registry=registry)
        async def profile_changed(type: str | None, logger: Any, **_: Any) -> None:
            # A catalog change can move any plan: re-plan every ModelDeployment now, not at next resync.
            if type is None:
                return  # the initial listing at startup; resume handlers cover it
            for obj in await op.api.list(f"{GROUP}/{VERSION}", "ModelDeployment"):
                await op.run_reconcile(kopf.Body(cast(Any, obj)), logger)

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
