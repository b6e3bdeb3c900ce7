"""The operator's runtime state and what it does with Kopf's events, without Kopf: the API client, the
configuration, per-object locks, the indexed World, the autoscaler's poll, drift and quota corrections.
`handlers` translates Kopf events into calls of `Operator` and its `Retry` into kopf.TemporaryError;
nothing here imports kopf, so all of it runs under unit tests without an event loop of Kopf's."""

from __future__ import annotations

import asyncio
import datetime
import logging
import time
from collections import defaultdict
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Literal

from infercap import egress, metrics
from infercap.api import GROUP, VERSION
from infercap.api.conditions import Cond, EventType, Reason
from infercap.api.config import OperatorConfig
from infercap.api.deployment import Autoscaling, ModelDeploymentSpec
from infercap.api.status import AutoscalingStatus, ErrorBudgetStatus, ModelDeploymentStatus, dump
from infercap.api.status import read as read_status
from infercap.core import schedule
from infercap.core.autoscale import Decision, PolicyConfig, Sample, State, decide
from infercap.core.catalog import builtin_catalog
from infercap.core.missbudget import Budget
from infercap.demand import DemandError, query
from infercap.kube.client import Kube, KubeError
from infercap.kube.events import Recorder
from infercap.providers import OWNER, OWNER_UID, PoolKind, registered
from infercap.providers.quota import Share
from infercap.reconcile import Autoscale, Result, World, apply_quota, finalize, observe, reconcile, sli
from infercap.reconcile.quotabook import QuotaBook
from infercap.reconcile.status import Verdict

log = logging.getLogger("infercap")
Body = Mapping[str, Any]  # a ModelDeployment or pool as Kopf hands it over (kopf.Body is a Mapping)


class Retry(Exception):
    """Try this event again in `delay` seconds."""

    def __init__(self, message: str, delay: float) -> None:
        super().__init__(message)
        self.message = message
        self.delay = delay


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
        return [obj for name in owned_kinds() if name in self.indexes for obj in self.indexes[name].get(uid, [])]

    def reader(self) -> observe.Reader:
        return observe.IndexedReader(self.kube, self.indexes)


# Node-pool kinds whose objects infercap labels with an owner uid: indexed (stale pools are found by label
# without a LIST) and watched (a foreign edit or a deletion is corrected in about a second, not at resync).
def owned_kinds() -> dict[str, tuple[str, PoolKind]]:
    """Index id -> (provider id, pool kind) of every registered provider's pool kinds (read when the
    registry is built, so a provider registered after import is watched too)."""
    return {f"owned_{k.plural}": (pid, k) for pid, provider in registered().items() for k in provider.kinds}


INDEXES = ("model_profiles", "accelerator_profiles", "quota_shares", "capacity_policies")  # always registered
OBSERVE_INDEXES = (observe.NODES_INDEX, observe.NODECLAIMS_INDEX, observe.PODS_INDEX)
PEERING_LIFETIME = 15  # seconds: how long a silent active replica keeps the standby waiting
DRIFT_DELAY = 0.5  # seconds: one reconcile for a burst of events on one owner's pools
QUOTA_REFRESH_DELAY = 1.0  # seconds after a plan change
CONSISTENCY_TIMEOUT = 60.0  # seconds (Kopf's default 5)


def news(memo: dict[str, tuple[Any, ...]], key: str, kind: str | None, state: tuple[Any, ...], first: bool) -> bool:
    """Whether a watch event on an owned object says something new (and remember what it said): a deletion,
    a state other than the last one seen, or, on first sight, `first`. The listing at startup (no event
    type) is never new: resume reconciles every owner then anyway."""
    if kind == "DELETED":
        memo.pop(key, None)
        return True
    seen = memo.get(key)
    memo[key] = state
    if seen is None:
        return kind is not None and first
    return seen != state


class Operator:
    """Shared state of the handlers: the API client, the configuration, per-object locks."""

    def __init__(
        self, cfg: OperatorConfig, namespaces: Sequence[str] = (), clock: Callable[[], str] | None = None
    ) -> None:
        self.cfg = cfg
        self.clock = clock or now  # RFC 3339 UTC, to the second (tests pass their own)
        self.namespaces = set(namespaces)  # empty: every namespace
        # Indexes of the enabled providers' pools (the others are neither watched nor readable).
        self.owned_indexes = [i for i, (provider, _) in owned_kinds().items() if provider in cfg.enabled_providers]
        self.kube: Kube | None = None
        self.locks: defaultdict[str, asyncio.Lock] = defaultdict(asyncio.Lock)
        self.quota_locks: defaultdict[str, asyncio.Lock] = defaultdict(asyncio.Lock)
        self.quota_book = QuotaBook()
        self.samples: defaultdict[str, list[Sample]] = defaultdict(list)
        self.pending_refresh: set[str] = set()
        self.pending_drift: set[str] = set()
        # Owned pools' last seen metadata.generation and Ready status.
        self.generations: dict[str, tuple[Any, ...]] = {}
        self.quota_hard: dict[str, dict[str, Any]] = {}  # infercap quotas' last seen spec.hard
        self.serving_seen: dict[str, tuple[Any, ...]] = {}  # serving workloads' last seen rollout state
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

    async def autoscale(self, body: Body, logger: Any, kwargs: dict[str, Any]) -> None:
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
        status = read_status(body.get("status"))
        prev = status.autoscaling
        previous = dump(prev) if prev is not None else {}
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
            verdict = Verdict("True", Reason.OBSERVED, f"{rps:.4g} req/s from {target.label}")
            observed: tuple[str | None, str | None] = (f"{rps:.6g}", now())
        except (DemandError, egress.EgressDenied) as e:
            verdict = Verdict("False", e.reason, f"{e.message}; holding the last plan")
            observed = (prev.observed_requests_per_second, prev.observed_time) if prev is not None else (None, None)
        horizon = t - policy_config(a).history_seconds - 60
        self.samples[uid] = [x for x in self.samples[uid] if x.t >= horizon]
        state = self.policy.get(uid) or restore_state(previous)
        cfg = policy_config(a, spec, unloaded_ttft(status))
        measured = await self.measure_sli(spec, body["metadata"]["namespace"], state, t, cfg)
        # The schedule's floor over the next provisioning delay: what is asked for now serves then.
        floor = schedule.floor(schedule.windows(a.schedule), t, a.provisioning_seconds)
        decision = decide(
            self.samples[uid],
            t,
            state,
            cfg,
            measured.sli if measured is not None else None,
            scheduled=floor.rate if floor is not None else 0.0,
            scheduled_window=floor.window if floor is not None else "",
        )
        decision_planned = first_plan(decision, state, spec.traffic.rps)
        self.policy[uid] = decision.state
        if decision.reason in ("StaleSignal", "NoSignal") and verdict.status == "True":
            verdict = Verdict("False", decision.reason, decision.message)
        planned = f"{decision_planned:.6g}"
        changed = prev is None or prev.planned_requests_per_second != planned
        fields: dict[str, Any] = {
            "planned_requests_per_second": planned,
            "last_decision": decision.reason if changed or prev is None else prev.last_decision,
            "last_decision_time": now() if changed or prev is None else prev.last_decision_time,
            "message": decision.message,
        }
        if observed[0] is not None:
            fields.update(observed_requests_per_second=observed[0], observed_time=observed[1])
        if floor is not None:
            fields.update(scheduled_requests_per_second=f"{floor.rate:.6g}", schedule_window=floor.window)
        if decision.state.last_down is not None:
            fields["last_scale_down_time"] = iso(decision.state.last_down)
        if (b := decision.state.budget) is not None:
            fields["error_budget"] = ErrorBudgetStatus(
                since=iso(b.since),
                updated=iso(b.t),
                requests=b.requests,
                misses=b.misses,
                allowance=b.allowance or 0.0,
                source=account_source(state.budget, b, measured, prev),
            )
        block = dump(AutoscalingStatus(**fields))
        sli_verdict = measured.verdict if measured is not None else None
        await self.run_reconcile(body, logger, kwargs, Autoscale(decision_planned, block, verdict, sli_verdict))

    async def measure_sli(
        self, spec: ModelDeploymentSpec, namespace: str, state: State, t: float, cfg: PolicyConfig
    ) -> sli.Measurement | None:
        """The SLI over the interval the policy's account is about to add (since its last update), or None
        without spec.autoscaling.sli. No query while the account is closed or stale: the policy then opens it
        afresh and counts nothing for the interval (core.autoscale._spend)."""
        a = spec.autoscaling
        if a is None or a.sli is None:
            return None
        b = state.budget
        if b is None or not 0 < t - b.t <= cfg.stale_after_seconds:
            waiting = "the error budget's account opens at this decision; its first interval is measured at the next"
            return sli.Measurement(None, Verdict("Unknown", Reason.WAITING, waiting))
        return await sli.measure(self.calibrator, spec, namespace, t - b.t)

    @staticmethod
    def health() -> dict[str, int]:
        """What /healthz reports (Kopf's probe, cached 10 s): the built-in catalog loads and how much of it;
        an exception (a broken package) makes the probe fail."""
        catalog = builtin_catalog()
        return {"models": len(catalog.models), "accelerators": len(catalog.accelerators)}

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
    def owner_of(body: Body) -> str:
        return str((body["metadata"].get("annotations") or {}).get(OWNER, ""))

    def drifted(self, body: Body, kwargs: dict[str, Any]) -> bool:
        """Whether an event on an owned pool needs its owner reconciled: a spec change (generation), a change
        of the pool's own Ready condition (NodePoolsReady follows it) or a deletion, of a pool whose owner
        this operator serves. Other status updates (Karpenter's counts), the initial listing and pools of
        namespaces served by another operator are skipped (and not logged)."""
        meta = body["metadata"]
        key = f"{body['kind']}/{meta.get('namespace') or ''}/{meta['name']}"
        kind = kwargs.get("type") or (kwargs.get("event") or {}).get("type")
        conditions = (body.get("status") or {}).get("conditions") or []
        ready = next((c.get("status") for c in conditions if c.get("type") == Cond.READY), None)
        # No Ready condition and Ready=Unknown read the same (NodePoolPending): Karpenter's first judgement
        # of a new pool, Unknown, is no reason to reconcile its owner (it was 200 of 600 reconciles at 200).
        ready = ready if ready in ("True", "False") else None
        # First sight of a pool (ours, just applied: that reconcile saw it not Ready yet): look again only if
        # it is Ready already (Kopf may have batched its Ready update into this event).
        if not news(self.generations, key, kind, (meta.get("generation"), ready), first=ready == "True"):
            return False
        return self.serves(self.owner_of(body))

    def serves(self, owner: str) -> bool:
        """Whether `owner` (namespace/name) is a ModelDeployment this operator serves."""
        return "/" in owner and (not self.namespaces or owner.split("/", 1)[0] in self.namespaces)

    @staticmethod
    def serving_owner(body: Body) -> str:
        """namespace/name of the ModelDeployment a serving workload belongs to (its controller reference)."""
        meta = body["metadata"]
        for ref in meta.get("ownerReferences") or []:
            if ref.get("kind") == "ModelDeployment" and str(ref.get("apiVersion", "")).startswith(f"{GROUP}/"):
                return f"{meta.get('namespace')}/{ref.get('name')}"
        return ""

    def serving_changed(self, body: Body, kwargs: dict[str, Any]) -> bool:
        """Whether an event on a serving workload infercap wrote needs its owner reconciled, so that Serving,
        the observed replicas and a make-before-break switch follow the rollout in about a second, not at
        the next resync: its spec changed (a foreign edit, applied back), its controller observed a new
        generation, its ready or updated replicas changed, or it was deleted. The initial listing is
        resume's; a workload's first event is the create of the reconcile that just applied it."""
        meta = body["metadata"]
        key = f"{body.get('kind')}/{meta.get('namespace')}/{meta['name']}"
        kind = kwargs.get("type") or (kwargs.get("event") or {}).get("type")
        st = body.get("status") or {}
        state = tuple(
            [meta.get("generation")]
            + [st.get(k) for k in ("observedGeneration", "readyReplicas", "updatedReplicas", "replicas")]
        )
        if not news(self.serving_seen, key, kind, state, first=bool(st.get("readyReplicas"))):
            return False
        return self.serves(self.serving_owner(body))

    def quota_drifted(self, body: Body, kwargs: dict[str, Any]) -> bool:
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

    def schedule_drift(self, owner: str, kwargs: dict[str, Any], uid: str | None = None) -> None:
        """Reconcile the ModelDeployment `owner` (namespace/name, `uid` from the pool's owner label) shortly:
        one of its pools changed or went."""
        if owner in self.pending_drift or "/" not in owner:
            return
        self.pending_drift.add(owner)
        namespace, name = owner.split("/", 1)

        async def correct() -> None:
            await asyncio.sleep(DRIFT_DELAY)
            self.pending_drift.discard(owner)
            try:
                # run_reconcile reads the object under its lock anyway: with the uid known, one GET, not two.
                body = (
                    {"metadata": {"name": name, "namespace": namespace, "uid": uid}}
                    if uid
                    else await self.api.get(f"{GROUP}/{VERSION}", "ModelDeployment", name, namespace)
                )
                if body is not None and not body["metadata"].get("deletionTimestamp"):
                    await self.run_reconcile(body, log, kwargs)
            except (KubeError, Retry) as e:
                log.warning(f"drift correction of {owner} deferred to the next resync: {e}")

        task = asyncio.get_running_loop().create_task(correct())
        self.background.add(task)
        task.add_done_callback(self.background.discard)

    async def close(self) -> None:
        """Pending quota refreshes and drift corrections first: none may reach a closed client."""
        for task in list(self.background):
            task.cancel()
        await asyncio.gather(*self.background, return_exceptions=True)
        if self.kube is not None:
            await self.kube.close()

    @staticmethod
    def owned_entry(body: Body) -> dict[str, dict[str, Any]]:
        """Index entry of an owned pool: its ref, under its owner's uid."""
        meta = body["metadata"]
        ref: dict[str, Any] = {
            "apiVersion": body["apiVersion"],
            "kind": body["kind"],
            "metadata": {"name": meta["name"]},
        }
        if meta.get("namespace"):
            ref["metadata"]["namespace"] = meta["namespace"]
        return {meta["labels"][OWNER_UID]: ref}

    def quota_changed(self, namespace: str, kwargs: dict[str, Any]) -> None:
        """infercap's quota was edited or deleted by someone else: recompute it shortly."""
        self.quota_book.forget(namespace)
        self.schedule_quota_refresh(namespace, kwargs)

    async def delete(self, body: Body, logger: Any, kwargs: dict[str, Any]) -> None:
        """Finalize a deleted ModelDeployment and forget its state."""
        meta = body["metadata"]
        async with self.locks[meta["uid"]]:
            try:
                removed = await finalize(self.api, self.cfg, dict(body), self.world(kwargs))
            except KubeError as e:
                metrics.ERRORS.labels(e.reason or "ApiError").inc()
                raise Retry(f"{e.reason}: {e.message}", retry_delay(e)) from None
        for state in (self.locks, self.samples, self.policy):
            state.pop(meta["uid"], None)
        metrics.forget(meta["namespace"], meta["name"])
        if removed:
            logger.info(f"removed {', '.join(removed)}")

    async def replan_all(self, logger: Any, kwargs: dict[str, Any]) -> None:
        """Reconcile every ModelDeployment (the catalog or a policy changed)."""
        try:
            objs = await self.api.list(f"{GROUP}/{VERSION}", "ModelDeployment")
        except KubeError as e:
            raise Retry(f"{e.reason}: {e.message}", retry_delay(e)) from None
        for obj in objs:
            await self.run_reconcile(obj, logger, kwargs)

    def world(self, kwargs: dict[str, Any]) -> World:
        names = (*INDEXES, *self.owned_indexes)
        if all(name in kwargs for name in names):
            # The observing indexes are optional: without one, IndexedReader asks the API server.
            observing = [n for n in OBSERVE_INDEXES if n in kwargs]
            indexes = {name: kwargs[name] for name in (*names, *observing)}
            return IndexedWorld(self.api, indexes, self.quota_locks, self.quota_book)
        return World(self.api, self.quota_locks, self.quota_book)

    async def run_reconcile(
        self,
        body: Body,
        logger: Any,
        kwargs: dict[str, Any],
        autoscale: Autoscale | None = None,
        annotations: dict[str, str] | None = None,
    ) -> Result:
        """Reconcile under the object's lock; `annotations`, when given, receives the object's own annotations
        (cost) instead of a patch of their own: the handler adds them to Kopf's patch (one write, not two)."""
        uid = body["metadata"]["uid"]
        started = time.monotonic()
        async with self.locks[uid]:
            # The body Kopf hands over may predate our last status write; re-read it under the lock.
            try:
                fresh = await self.api.get(
                    f"{GROUP}/{VERSION}", "ModelDeployment", body["metadata"]["name"], body["metadata"]["namespace"]
                )
                if fresh is None or fresh["metadata"].get("deletionTimestamp") or fresh["metadata"]["uid"] != uid:
                    return Result({})  # gone, going, or a new object of the same name (its own events follow)
                result = await reconcile(
                    self.api,
                    self.cfg,
                    fresh,
                    self.clock(),
                    autoscale,
                    world=self.world(kwargs),
                    annotations=annotations,
                    calibrator=self.calibrator,
                )
            except KubeError as e:
                metrics.ERRORS.labels(e.reason or "ApiError").inc()
                metrics.reconciled("error", time.monotonic() - started)
                raise Retry(f"{e.reason}: {e.message}", retry_delay(e)) from None
        typed = read_status(result.status)  # once, for the metrics below
        metrics.reconciled(metrics.result_of(typed, result.retry), time.monotonic() - started)
        if result.written:
            self.schedule_quota_refresh(fresh["metadata"]["namespace"], kwargs)
        meta = fresh["metadata"]
        metrics.observe(meta["namespace"], meta["name"], str((fresh.get("spec") or {}).get("model", "")), typed)
        metrics.count_problems(typed)
        for ev in result.events:
            await Recorder(self.api).record(fresh, ev.type, ev.reason, ev.action, ev.message)
            (logger.warning if ev.type == EventType.WARNING else logger.info)(f"{ev.reason}: {ev.message}")
        if result.retry:
            raise Retry(result.retry, 30)
        return result


def retry_delay(e: KubeError) -> float:
    """Throttling, conflicts and restarts of the API server pass: retry those in seconds."""
    return 2.0 if e.code in (0, 409, 429, 500, 502, 503, 504) else 15.0


def iso(t: float) -> str:
    return datetime.datetime.fromtimestamp(t, datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def account_source(
    before: Budget | None, after: Budget, measured: sli.Measurement | None, prev: AutoscalingStatus | None
) -> Literal["measured", "estimated"]:
    """What the error budget's last update added: measured when this decision had an SLI and updated the
    account; what the status said before when the account did not move (a stale or missing signal)."""
    if before is not None and after.t == before.t:
        old = prev.error_budget if prev is not None else None
        return old.source if old is not None else "estimated"
    return "measured" if measured is not None and measured.sli is not None else "estimated"


def first_plan(decision: Decision, before: State, fallback: float) -> float:
    """The demand to plan for: the decision's, or spec.traffic's rate (`fallback`) for the first plan
    without any demand to go on (no signal yet, or only zero); a scheduled floor then raises it, never
    lowers it (spec.traffic is what the user planned for before any metric)."""
    if before.planned is None and (decision.planned <= 0 or decision.reason == "NoSignal"):
        return max(decision.planned, fallback)
    return decision.planned


def restore_state(previous: dict[str, Any]) -> State:
    """The policy's memory after a restart, from status.autoscaling (never start from zero)."""
    planned = previous.get("plannedRequestsPerSecond")
    last_down = previous.get("lastScaleDownTime")
    down_t = parse_iso(last_down) if last_down else None
    b = previous.get("errorBudget")
    budget = None
    if b:
        budget = Budget(parse_iso(b["since"]), parse_iso(b["updated"]), float(b["requests"]), float(b["misses"]))
    return State(planned=float(planned) if planned is not None else None, last_down=down_t, budget=budget)


def parse_iso(value: str) -> float:
    return datetime.datetime.strptime(value, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=datetime.UTC).timestamp()


def unloaded_ttft(status: ModelDeploymentStatus) -> float | None:
    """The applied plan's time to first token without queueing (status.plan.perReplica), in seconds."""
    per = status.plan.per_replica.model_extra if status.plan is not None else None
    ms = (per or {}).get("timeToFirstTokenMs")
    return float(ms) / 1000 if isinstance(ms, int | float) else None


def policy_config(
    a: Autoscaling, spec: ModelDeploymentSpec | None = None, unloaded_ttft_seconds: float | None = None
) -> PolicyConfig:
    """The policy's configuration for a ModelDeployment. A request may queue for what its TTFT target
    leaves after the planned replica's unloaded TTFT; before a plan reports one, for nothing."""
    stream = spec.slo.output_tokens_per_second_per_stream if spec is not None else None
    ttft_ms = spec.slo.time_to_first_token_ms if spec is not None else None
    wait = 0.0
    if ttft_ms is not None and unloaded_ttft_seconds is not None:
        wait = max(0.0, ttft_ms / 1000 - unloaded_ttft_seconds)
    return PolicyConfig(
        provisioning_seconds=a.provisioning_seconds,
        scale_down_stabilization_seconds=a.scale_down_stabilization_seconds,
        stale_after_seconds=a.stale_after_seconds,
        target_attainment=float(a.target_attainment),
        # Little's law for the queueing margin: a request holds a batch slot for its decode at the SLO.
        seconds_per_request=spec.traffic.output_tokens / float(stream) if spec is not None and stream else None,
        wait_seconds=wait,
        measured_sli=a.sli is not None,
    )
