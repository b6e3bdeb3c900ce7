"""Kopf handlers: thin wrappers that call the reconcile on every ModelDeployment event, periodically,
and on deletion, post Kubernetes Events, and run the operator (`infercap run`).

This is the only module that imports kopf."""

from __future__ import annotations

import asyncio
import datetime
import logging
import random
import time
from collections import defaultdict
from collections.abc import Sequence
from typing import Any, cast

import kopf

from infercap import egress, metrics
from infercap.api import GROUP, VERSION
from infercap.api.config import OperatorConfig
from infercap.api.deployment import Autoscaling, ModelDeploymentSpec, Provider
from infercap.core.autoscale import PolicyConfig, Sample, State, decide
from infercap.demand import DemandError, query
from infercap.kube.client import Kube, KubeError
from infercap.kube.events import REPORTING_CONTROLLER, Recorder
from infercap.providers import MANAGED_BY, MANAGER, OWNER, OWNER_UID, POOL_KINDS
from infercap.providers.quota import Share
from infercap.reconcile import Autoscale, Result, World, apply_quota, finalize, observe, reconcile, share_from_status
from infercap.reconcile.quotabook import QuotaBook
from infercap.reconcile.status import Verdict
from infercap.workloads.render import SERVING

MDEP = (GROUP, VERSION, "modeldeployments")
PROFILES = ("modelprofiles", "acceleratorprofiles", "capacitypolicies")  # a change re-plans every object
log = logging.getLogger("infercap")


def now() -> str:
    return datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class IndexedWorld(World):
    """The World as Kopf's in-memory indexes see it: no API listing during a reconcile."""

    def __init__(
        self, kube: Kube, indexes: dict[str, Any], quota_locks: dict[str, asyncio.Lock], quota_book: QuotaBook
    ) -> None:
        super().__init__(kube, quota_locks, quota_book)
        self.indexes = indexes

    async def profiles(self) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
        return (
            list(self.indexes["model_profiles"].get(None, [])),
            list(self.indexes["accelerator_profiles"].get(None, [])),
        )

    async def shares(self, namespace: str) -> list[Share]:
        return list(self.indexes["quota_shares"].get(namespace, []))

    async def policies(self) -> list[dict[str, Any]]:
        return list(self.indexes["capacity_policies"].get(None, []))

    async def owned(self, uid: str, cfg: OperatorConfig) -> list[dict[str, Any]]:
        return [obj for name in OWNED_INDEXES if name in self.indexes for obj in self.indexes[name].get(uid, [])]

    def reader(self) -> observe.Reader:
        return observe.IndexedReader(self.kube, self.indexes)


# Node-pool kinds whose objects infercap labels with an owner uid: indexed (stale pools are found by label
# without a LIST) and watched (a foreign edit or a deletion is corrected in about a second, not at resync).
OWNED = {
    f"owned_{kind.lower()}s": (provider, api_version, kind) for provider, (api_version, kind) in POOL_KINDS.items()
}
OWNED_INDEXES = tuple(OWNED)
INDEXES = ("model_profiles", "accelerator_profiles", "quota_shares", "capacity_policies")  # always registered
OBSERVE_INDEXES = (observe.NODES_INDEX, observe.NODECLAIMS_INDEX, observe.PODS_INDEX)
PEERING_LIFETIME = 15  # seconds: how long a silent active replica keeps the standby waiting
DRIFT_DELAY = 0.5  # seconds: one reconcile for a burst of events on one owner's pools
QUOTA_REFRESH_DELAY = 1.0  # seconds after a plan change


class Operator:
    """Shared state of the handlers: the API client, the configuration, per-object locks."""

    def __init__(self, cfg: OperatorConfig, namespaces: Sequence[str] = ()) -> None:
        self.cfg = cfg
        self.namespaces = set(namespaces)  # empty: every namespace
        # Indexes of the enabled providers' pools (the others are neither watched nor readable).
        self.owned_indexes = [i for i, (provider, _, _) in OWNED.items() if provider in cfg.enabled_providers]
        self.kube: Kube | None = None
        self.locks: defaultdict[str, asyncio.Lock] = defaultdict(asyncio.Lock)
        self.quota_locks: defaultdict[str, asyncio.Lock] = defaultdict(asyncio.Lock)
        self.quota_book = QuotaBook()
        self.samples: defaultdict[str, list[Sample]] = defaultdict(list)
        self.pending_refresh: set[str] = set()
        self.pending_drift: set[str] = set()
        # Owned pools' last seen metadata.generation and Ready status.
        self.generations: dict[str, tuple[int | None, str | None]] = {}
        self.quota_hard: dict[str, dict[str, Any]] = {}  # infercap quotas' last seen spec.hard
        self.background: set[asyncio.Task[None]] = set()
        self.policy: dict[str, State] = {}
        self.secrets = egress.SecretCache(self.read_secret)
        self.secrets_ns = egress.operator_namespace(cfg.prometheus)
        self.calibrator = egress.EngineMetrics(cfg.prometheus, self.secrets, self.secrets_ns)

    async def read_secret(self, namespace: str, name: str) -> dict[str, str] | None:
        try:
            obj = await self.api.get("v1", "Secret", name, namespace)
        except KubeError as e:
            log.warning(f"cannot read Secret {namespace}/{name} of a Prometheus source: {e.reason}")
            return None
        return egress.decode_secret(obj) if obj is not None else None

    async def autoscale(self, body: kopf.Body, logger: Any, kwargs: dict[str, Any]) -> None:
        """Poll the demand metric, decide, and reconcile with the decided demand."""
        try:
            spec = ModelDeploymentSpec.model_validate(dict(body["spec"]))
        except Exception:
            await self.run_reconcile(body, logger, kwargs)
            return
        a = spec.autoscaling
        if a is None:
            return
        uid = body["metadata"]["uid"]
        t = time.time()
        status = dict(body.get("status") or {})
        previous = dict(status.get("autoscaling") or {})
        try:
            target = await egress.endpoint(a.metric.prometheus, self.cfg.prometheus, self.secrets, self.secrets_ns)
            reading = await query(
                target,
                a.metric.prometheus.query,
                self.cfg.prometheus.timeout_seconds,
                self.cfg.prometheus.max_response_bytes,
            )
            rps = (
                reading.value / spec.traffic.output_tokens
                if a.metric.prometheus.unit.value == ("outputTokensPerSecond")
                else reading.value
            )
            self.samples[uid].append(Sample(t, rps))
            verdict = Verdict("True", "Observed", f"{rps:.4g} req/s from {target.label}")
            observed: dict[str, Any] = {"observedRequestsPerSecond": f"{rps:.6g}", "observedTime": now()}
        except (DemandError, egress.EgressDenied) as e:
            verdict = Verdict("False", e.reason, f"{e.message}; holding the last plan")
            observed = {k: previous[k] for k in ("observedRequestsPerSecond", "observedTime") if k in previous}
        horizon = t - policy_config(a).history_seconds - 60
        self.samples[uid] = [x for x in self.samples[uid] if x.t >= horizon]
        state = self.policy.get(uid) or restore_state(previous)
        decision = decide(self.samples[uid], t, state, policy_config(a, spec))
        decision_planned = spec.traffic.rps if decision.planned <= 0 and state.planned is None else decision.planned
        self.policy[uid] = decision.state
        if decision.reason in ("StaleSignal", "NoSignal") and verdict.status == "True":
            verdict = Verdict("False", decision.reason, decision.message)
        changed = previous.get("plannedRequestsPerSecond") != f"{decision_planned:.6g}"
        block: dict[str, Any] = {
            **observed,
            "plannedRequestsPerSecond": f"{decision_planned:.6g}",
            "lastDecision": decision.reason if changed else previous.get("lastDecision", decision.reason),
            "lastDecisionTime": now()
            if changed or "lastDecisionTime" not in previous
            else previous["lastDecisionTime"],
            "message": decision.message,
        }
        if decision.state.last_down is not None:
            block["lastScaleDownTime"] = iso(decision.state.last_down)
        await self.run_reconcile(body, logger, kwargs, Autoscale(decision_planned, block, verdict))

    @property
    def api(self) -> Kube:
        if self.kube is None:
            self.kube = Kube()
        return self.kube

    def schedule_quota_refresh(self, namespace: str, kwargs: dict[str, Any]) -> None:
        """Recompute the namespace quota shortly after a plan changed. A reconcile sums the other plans as
        the index knew them, which may predate their own status writes when many change at once; one
        refresh after the writes settle makes the quota exact without waiting for the next resync."""
        if namespace in self.pending_refresh:
            return
        self.pending_refresh.add(namespace)

        async def refresh() -> None:
            await asyncio.sleep(QUOTA_REFRESH_DELAY)
            self.pending_refresh.discard(namespace)
            try:
                await apply_quota(self.api, self.world(kwargs), self.cfg, namespace, None)
            except KubeError as e:
                metrics.ERRORS.labels(e.reason or "ApiError").inc()
                log.warning(f"quota refresh of namespace {namespace} failed: {e.message}")

        task = asyncio.get_running_loop().create_task(refresh())
        self.background.add(task)
        task.add_done_callback(self.background.discard)

    @staticmethod
    def owner_of(body: kopf.Body) -> str:
        return str((body["metadata"].get("annotations") or {}).get(OWNER, ""))

    def drifted(self, body: kopf.Body, kwargs: dict[str, Any]) -> bool:
        """Whether an event on an owned pool needs its owner reconciled: a spec change (generation), a change
        of the pool's own Ready condition (NodePoolsReady follows it) or a deletion, of a pool whose owner
        this operator serves. Other status updates (Karpenter's counts), the initial listing and pools of
        namespaces served by another operator are skipped (and not logged)."""
        meta = body["metadata"]
        key = f"{body['kind']}/{meta.get('namespace') or ''}/{meta['name']}"
        kind = kwargs.get("type") or (kwargs.get("event") or {}).get("type")
        conditions = (body.get("status") or {}).get("conditions") or []
        ready = next((c.get("status") for c in conditions if c.get("type") == "Ready"), None)
        state = (meta.get("generation"), ready)
        if kind == "DELETED":
            self.generations.pop(key, None)
        else:
            seen = self.generations.get(key)
            self.generations[key] = state
            # A pool that appeared (ours, just created) may become Ready before its next event: look again.
            if (seen is None and kind != "ADDED") or seen == state:
                return False
        owner = self.owner_of(body)
        return "/" in owner and (not self.namespaces or owner.split("/", 1)[0] in self.namespaces)

    def quota_drifted(self, body: kopf.Body, kwargs: dict[str, Any]) -> bool:
        """Whether an event on infercap's quota needs the namespace's quota recomputed: spec.hard changed
        (a foreign edit, or our own write, which the recompute finds already right) or it was deleted. The
        quota controller's status updates are skipped."""
        meta = body["metadata"]
        namespace = meta.get("namespace") or ""
        if meta.get("name") != self.cfg.quota.name or (self.namespaces and namespace not in self.namespaces):
            return False
        key = f"{namespace}/{meta['name']}"
        kind = kwargs.get("type") or (kwargs.get("event") or {}).get("type")
        hard = dict((body.get("spec") or {}).get("hard") or {})
        if kind == "DELETED":
            self.quota_hard.pop(key, None)
            return True
        seen = self.quota_hard.get(key)
        self.quota_hard[key] = hard
        return seen is not None and seen != hard

    def schedule_drift(self, owner: str, kwargs: dict[str, Any]) -> None:
        """Reconcile the ModelDeployment `owner` (namespace/name) shortly: one of its pools changed or went."""
        if owner in self.pending_drift or "/" not in owner:
            return
        self.pending_drift.add(owner)
        namespace, name = owner.split("/", 1)

        async def correct() -> None:
            await asyncio.sleep(DRIFT_DELAY)
            self.pending_drift.discard(owner)
            try:
                body = await self.api.get(f"{GROUP}/{VERSION}", "ModelDeployment", name, namespace)
                if body is not None and not body["metadata"].get("deletionTimestamp"):
                    await self.run_reconcile(kopf.Body(cast(Any, body)), log, kwargs)
            except (KubeError, kopf.TemporaryError) as e:
                log.warning(f"drift correction of {owner} deferred to the next resync: {e}")

        task = asyncio.get_running_loop().create_task(correct())
        self.background.add(task)
        task.add_done_callback(self.background.discard)

    def world(self, kwargs: dict[str, Any]) -> World:
        names = (*INDEXES, *self.owned_indexes)
        if all(name in kwargs for name in names):
            # The observing indexes are optional: without one, IndexedReader asks the API server.
            observing = [n for n in OBSERVE_INDEXES if n in kwargs]
            indexes = {name: kwargs[name] for name in (*names, *observing)}
            return IndexedWorld(self.api, indexes, self.quota_locks, self.quota_book)
        return World(self.api, self.quota_locks, self.quota_book)

    async def run_reconcile(
        self, body: kopf.Body, logger: Any, kwargs: dict[str, Any], autoscale: Autoscale | None = None
    ) -> Result:
        uid = body["metadata"]["uid"]
        started = time.monotonic()
        async with self.locks[uid]:
            # The body Kopf hands over may predate our last status write; re-read it under the lock.
            try:
                fresh = await self.api.get(
                    f"{GROUP}/{VERSION}", "ModelDeployment", body["metadata"]["name"], body["metadata"]["namespace"]
                )
                if fresh is None or fresh["metadata"].get("deletionTimestamp"):
                    return Result({})
                result = await reconcile(
                    self.api, self.cfg, fresh, now(), autoscale, world=self.world(kwargs), calibrator=self.calibrator
                )
            except KubeError as e:
                metrics.ERRORS.labels(e.reason or "ApiError").inc()
                metrics.reconciled("error", time.monotonic() - started)
                raise kopf.TemporaryError(f"{e.reason}: {e.message}", delay=retry_delay(e)) from None
        metrics.reconciled(metrics.result_of(result.status, result.retry), time.monotonic() - started)
        if result.written:
            self.schedule_quota_refresh(fresh["metadata"]["namespace"], kwargs)
        meta = fresh["metadata"]
        metrics.observe(meta["namespace"], meta["name"], str((fresh.get("spec") or {}).get("model", "")), result.status)
        metrics.count_problems(result.status)
        for ev in result.events:
            await Recorder(self.api).record(fresh, ev.type, ev.reason, ev.action, ev.message)
            (logger.warning if ev.type == "Warning" else logger.info)(f"{ev.reason}: {ev.message}")
        if result.retry:
            raise kopf.TemporaryError(result.retry, delay=30)
        return result


def retry_delay(e: KubeError) -> float:
    """Throttling, conflicts and restarts of the API server pass: retry those in seconds."""
    return 2.0 if e.code in (0, 409, 429, 500, 502, 503, 504) else 15.0


def iso(t: float) -> str:
    return datetime.datetime.fromtimestamp(t, datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def restore_state(previous: dict[str, Any]) -> State:
    """The policy's memory after a restart, from status.autoscaling (never start from zero)."""
    planned = previous.get("plannedRequestsPerSecond")
    last_down = previous.get("lastScaleDownTime")
    down_t = None
    if last_down:
        down_t = datetime.datetime.strptime(last_down, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=datetime.UTC).timestamp()
    return State(planned=float(planned) if planned is not None else None, last_down=down_t)


def policy_config(a: Autoscaling, spec: ModelDeploymentSpec | None = None) -> PolicyConfig:
    stream = spec.slo.output_tokens_per_second_per_stream if spec is not None else None
    return PolicyConfig(
        provisioning_seconds=a.provisioning_seconds,
        scale_down_stabilization_seconds=a.scale_down_stabilization_seconds,
        stale_after_seconds=a.stale_after_seconds,
        target_attainment=float(a.target_attainment),
        # Little's law for the queueing margin: a request holds a batch slot for its decode at the SLO.
        seconds_per_request=spec.traffic.output_tokens / float(stream) if spec is not None and stream else None,
    )


def build_registry(cfg: OperatorConfig, namespaces: Sequence[str] = ()) -> tuple[kopf.OperatorRegistry, Operator]:
    """All handlers, bound to one Operator, in a registry of their own (no import-time side effects)."""
    registry = kopf.OperatorRegistry()
    op = Operator(cfg, namespaces)

    @kopf.on.startup(registry=registry)
    async def configure(settings: kopf.OperatorSettings, **_: Any) -> None:
        # Kopf's own bookkeeping goes into infercap.dev annotations, never into spec or status.
        settings.persistence.progress_storage = kopf.AnnotationsProgressStorage(prefix=GROUP)
        settings.persistence.diffbase_storage = kopf.AnnotationsDiffBaseStorage(prefix=GROUP)
        settings.persistence.finalizer = f"{GROUP}/cleanup"
        settings.posting.level = logging.WARNING  # our Events are posted explicitly, on change only
        settings.posting.reporting_component = REPORTING_CONTROLLER  # Kopf's own (handler errors) too
        settings.watching.server_timeout = 300
        settings.networking.request_timeout = 60
        # HA (--peering): Kopf pauses every replica when two share the highest priority, so the chart's two
        # replicas would both stand still. Each draws its own: the highest works, the others stand by and
        # take over once its peering record is older than the lifetime (a kill -9 leaves no goodbye).
        settings.peering.priority = random.SystemRandom().randint(1, 2**31 - 1)
        settings.peering.lifetime = PEERING_LIFETIME

    @kopf.on.login(registry=registry)
    def login(**kwargs: Any) -> kopf.ConnectionInfo | None:
        # In a pod: the service account; elsewhere: KUBECONFIG or ~/.kube/config (no client library needed).
        return kopf.login_with_service_account(**kwargs) or kopf.login_with_kubeconfig(**kwargs)

    @kopf.on.cleanup(registry=registry)
    async def close(**_: Any) -> None:
        # Pending quota refreshes and drift corrections first: none may reach a closed client.
        for task in list(op.background):
            task.cancel()
        await asyncio.gather(*op.background, return_exceptions=True)
        if op.kube is not None:
            await op.kube.close()

    # Explicit ids: Kopf passes each index to handlers as a keyword named after the handler id, which for a
    # function defined in here would be "build_registry.<locals>.quota_shares"; World then found no index
    # and every reconcile listed ModelDeployments and profiles from the API server.
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

    if Provider.KARPENTER in cfg.enabled_providers:

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

    for index_id, (provider, api_version, kind) in OWNED.items():
        if provider not in cfg.enabled_providers:
            continue
        group, version = api_version.split("/")
        plural = f"{kind.lower()}s"

        @kopf.index(group, version, plural, labels={OWNER_UID: kopf.PRESENT}, id=index_id, registry=registry)
        def owned_pool(body: kopf.Body, **_: Any) -> dict[str, dict[str, Any]]:
            meta = body["metadata"]
            ref = {"apiVersion": body["apiVersion"], "kind": body["kind"], "metadata": {"name": meta["name"]}}
            if meta.get("namespace"):
                ref["metadata"]["namespace"] = meta["namespace"]
            return {meta["labels"][OWNER_UID]: ref}

        @kopf.on.event(
            group,
            version,
            plural,
            labels={OWNER_UID: kopf.PRESENT},
            id=f"drift_{plural}",
            when=lambda body, **kw: op.drifted(body, kw),
            registry=registry,
        )
        async def pool_changed(body: kopf.Body, **kwargs: Any) -> None:
            op.schedule_drift(op.owner_of(body), kwargs)

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
        namespace = str(body["metadata"].get("namespace"))
        op.quota_book.forget(namespace)
        op.schedule_quota_refresh(namespace, kwargs)

    @kopf.on.create(*MDEP, registry=registry)
    @kopf.on.update(*MDEP, field="spec", registry=registry)  # our own annotations must not re-trigger
    @kopf.on.resume(*MDEP, registry=registry)
    async def changed(body: kopf.Body, logger: Any, **kwargs: Any) -> None:
        await op.run_reconcile(body, logger, kwargs)

    @kopf.timer(*MDEP, interval=cfg.resync_seconds, initial_delay=cfg.resync_seconds, registry=registry)
    async def resync(body: kopf.Body, logger: Any, **kwargs: Any) -> None:
        await op.run_reconcile(body, logger, kwargs)

    @kopf.timer(
        *MDEP,
        interval=cfg.autoscale_poll_seconds,
        registry=registry,
        when=lambda spec, **_: bool(spec.get("autoscaling")),
    )
    async def autoscale(body: kopf.Body, logger: Any, **kwargs: Any) -> None:
        await op.autoscale(body, logger, kwargs)

    @kopf.on.delete(*MDEP, registry=registry)
    async def deleted(body: kopf.Body, logger: Any, **kwargs: Any) -> None:
        async with op.locks[body["metadata"]["uid"]]:
            try:
                removed = await finalize(op.api, cfg, dict(body), op.world(kwargs))
            except KubeError as e:
                metrics.ERRORS.labels(e.reason or "ApiError").inc()
                raise kopf.TemporaryError(f"{e.reason}: {e.message}", delay=retry_delay(e)) from None
        op.locks.pop(body["metadata"]["uid"], None)
        op.samples.pop(body["metadata"]["uid"], None)
        op.policy.pop(body["metadata"]["uid"], None)
        metrics.forget(body["metadata"]["namespace"], body["metadata"]["name"])
        if removed:
            logger.info(f"removed {', '.join(removed)}")

    for profile in PROFILES:

        @kopf.on.event(GROUP, VERSION, profile, registry=registry)
        async def profile_changed(type: str | None, logger: Any, **kwargs: Any) -> None:
            # A catalog change can move any plan: re-plan every ModelDeployment now, not at next resync.
            if type is None:
                return  # the initial listing at startup; resume handlers cover it
            try:
                objs = await op.api.list(f"{GROUP}/{VERSION}", "ModelDeployment")
            except KubeError as e:
                raise kopf.TemporaryError(f"{e.reason}: {e.message}", delay=retry_delay(e)) from None
            for obj in objs:
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
