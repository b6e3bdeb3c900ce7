"""Level-based reconcile of one ModelDeployment: observe, plan, apply, report.

Idempotent: the same spec and cluster give the same applied objects and the same status, and a status
that did not change is not written (so restarts and resyncs are silent). A spec that cannot be
planned changes nothing already applied: the last good node pools stay until a good spec replaces them.
"""

from __future__ import annotations

import asyncio
import functools
from collections import defaultdict
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from pydantic import ValidationError

from infercap.api import API_VERSION
from infercap.api.catalog import AcceleratorProfileSpec, ModelProfileSpec
from infercap.api.config import OperatorConfig
from infercap.api.deployment import ModelDeploymentSpec, Provider
from infercap.api.manifests import ManifestError, profile_spec
from infercap.api.policy import Targets
from infercap.api.validation import describe
from infercap.core.autoscale import planning_headroom
from infercap.core.catalog import Catalog, builtin_catalog
from infercap.core.errors import PlanError
from infercap.core.planner import Plan, plan
from infercap.kube.client import NODE_POOL_KINDS, Kube, KubeError
from infercap.providers import (
    COST_CURRENCY,
    COST_HOURLY,
    COST_MONTHLY,
    MANAGED_BY,
    MANAGER,
    OWNER_UID,
    Owner,
    PoolRequest,
    ProviderError,
    candidates,
    pool_kinds,
    provider_for,
    provider_rejections,
    render_node_pools,
)
from infercap.providers.quota import Share, resource_quota
from infercap.providers.targets import resolve as resolve_targets
from infercap.reconcile import calibrate
from infercap.reconcile.admission import admit, limits_verdict
from infercap.reconcile.guard import plan_guarded
from infercap.reconcile.loop import after_plan, apply_children
from infercap.reconcile.observe import Reader
from infercap.reconcile.quotabook import QuotaBook
from infercap.reconcile.status import (
    Event,
    Verdict,
    events,
    merge_conditions,
    plan_changed,
    plan_status,
    ready,
    summary,
)

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
        return await _owned(self.kube, uid, cfg)

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


@dataclass(frozen=True)
class Autoscale:
    """The autoscaler's input to a reconcile: demand to plan for, its status block, its condition."""

    planned_rps: float
    status: dict[str, Any]
    verdict: Verdict


@dataclass
class Result:
    """What the handler does next: post these events; retry soon when `retry` is set."""

    status: dict[str, Any]
    events: list[Event] = field(default_factory=list)
    written: bool = False
    retry: str | None = None


async def load_catalog(world: World, cfg: OperatorConfig) -> tuple[Catalog, list[str]]:
    """Built-ins plus the cluster's ModelProfile and AcceleratorProfile objects plus configured prices.
    Invalid profiles are left out and reported."""
    problems: list[str] = []
    models: list[ModelProfileSpec] = []
    accs: list[AcceleratorProfileSpec] = []
    model_docs, acc_docs = await world.profiles()
    for kind, docs in (("ModelProfile", model_docs), ("AcceleratorProfile", acc_docs)):
        for obj in docs:
            name = obj["metadata"]["name"]
            try:
                if kind == "ModelProfile":
                    models.append(ModelProfileSpec.model_validate(profile_spec(obj)))
                else:
                    accs.append(AcceleratorProfileSpec.model_validate(profile_spec(obj)))
            except (ValidationError, ManifestError) as e:
                detail = describe(e, "spec") if isinstance(e, ValidationError) else str(e)
                problems.append(f"{kind}/{name} is invalid and ignored: {detail}")
    catalog = builtin_catalog().with_overrides(models, accs)
    if cfg.prices:
        try:
            catalog = catalog.with_prices(dict(cfg.prices), "operator configuration")
        except PlanError as e:
            problems.append(f"operator configuration prices: {e}")
    return catalog, problems


async def _owned(kube: Kube, uid: str, cfg: OperatorConfig | None = None) -> list[dict[str, Any]]:
    """Every node-pool object labelled as this ModelDeployment's (of the enabled providers' kinds: the
    others are neither written nor readable under the chart's RBAC)."""
    out = []
    for api_version, kind in pool_kinds(cfg.enabled_providers if cfg else None):
        out += await kube.list(api_version, kind, labels={OWNER_UID: uid})
    return out


def _ref(obj: dict[str, Any]) -> dict[str, Any]:
    meta = obj["metadata"]
    ref = {"apiVersion": obj["apiVersion"], "kind": obj["kind"], "name": meta["name"]}
    if meta.get("namespace"):
        ref["namespace"] = meta["namespace"]
    return ref


def _key(obj: dict[str, Any]) -> tuple[str, str, str | None]:
    return obj["kind"], obj["metadata"]["name"], obj["metadata"].get("namespace")


def _ours(obj: dict[str, Any], uid: str | None) -> bool:
    """Whether infercap made `obj` (for this ModelDeployment, with `uid`). A node pool is this
    ModelDeployment's by its owner-uid label alone (a random id nobody else writes), so one whose
    managed-by label someone removed is still updated and cleaned up; the quota carries only managed-by."""
    labels = obj.get("metadata", {}).get("labels") or {}
    if uid is not None:
        return labels.get(OWNER_UID) == uid
    return labels.get(MANAGED_BY) == MANAGER


async def _apply_node_pools(
    kube: Kube,
    cfg: OperatorConfig,
    spec: ModelDeploymentSpec,
    owner: Owner,
    p: Plan,
    previous: list[dict[str, Any]],
    targets: Targets,
    owned: list[dict[str, Any]] | None = None,
    keep_previous: bool = False,
) -> tuple[Verdict, list[dict[str, Any]], str | None]:
    """Apply this plan's node pools and remove the ones it no longer needs (kept while `keep_previous`:
    the previous plan's workload still serves on them)."""
    option = p.applied
    provider = provider_for(spec.node_pool, cfg)
    try:
        req = PoolRequest(
            owner,
            option.accelerator,
            option.placement,
            option.accelerator.price.per_chip_hour,
            option.cost.currency,
            resolve_targets(spec.node_pool, provider, cfg, targets),
            spec.capacity.mode,
            cfg.serving.rollout_surge * option.placement.chips_per_replica if spec.serving else 0,
        )
        desired = render_node_pools(req, cfg)
    except ProviderError as e:
        return Verdict("False", e.reason, e.message), [], None
    if option.placement.replicas == 0:
        desired = []  # capped to nothing: no pool at all (an empty one would still be a target to drift to)
    refs: list[dict[str, Any]] = []
    for manifest in desired:
        meta = manifest["metadata"]
        existing = await kube.get(manifest["apiVersion"], manifest["kind"], meta["name"], meta.get("namespace"))
        if existing is not None and not _ours(existing, owner.uid):
            return (
                Verdict(
                    "False",
                    "NameConflict",
                    f"{manifest['kind']} {meta['name']} exists and was not created by infercap for this "
                    f"ModelDeployment; infercap leaves it alone. Rename this ModelDeployment or remove "
                    f"that object",
                ),
                refs,
                None,
            )
        try:
            await kube.apply(manifest)
        except KubeError as e:
            return (
                Verdict("False", "ApplyFailed", f"applying {manifest['kind']} {meta['name']}: {e.message}"),
                refs,
                "apply failed",
            )
        refs.append(_ref(manifest))
    # Node pools of an earlier plan (another accelerator or provider) that this plan no longer needs: those
    # status.children lists and, since a crash can come between an apply and the status write, every pool
    # labelled with this owner's uid.
    wanted = {(r["kind"], r["name"], r.get("namespace")) for r in refs}
    kinds = {kind for _, kind in NODE_POOL_KINDS}
    stale: dict[tuple[str, str, str | None], dict[str, Any]] = {}
    for ref in [*previous, *(_ref(o) for o in owned or [])]:
        stale.setdefault((ref["kind"], ref["name"], ref.get("namespace")), ref)
    for key, ref in stale.items():
        if ref["kind"] not in kinds or key in wanted:
            continue
        if keep_previous:
            refs.append(ref)
            continue
        obj = await kube.get(ref["apiVersion"], ref["kind"], ref["name"], ref.get("namespace"))
        if obj is not None and _ours(obj, owner.uid):
            await kube.delete(ref["apiVersion"], ref["kind"], ref["name"], ref.get("namespace"))
    if option.placement.replicas == 0:
        return Verdict("False", NOTHING_AFFORDABLE, capped_to_nothing(p)), refs, None
    if provider == Provider.NONE:
        return Verdict("True", "NoProvider", "spec.nodePool.provider is none: plan and status only"), refs, None
    names = ", ".join(f"{r['kind']}/{r['name']}" for r in refs)
    return Verdict("True", "Applied", f"{provider.value}: {names}"), refs, None


# NodePoolsReady reasons for a plan that infercap refused to apply (not a transient failure): such a plan
# gets no quota, so a namespace can never hold quota for capacity it was not given.
NOTHING_AFFORDABLE = "NothingAffordable"
NOT_APPLIED = {NOTHING_AFFORDABLE, "NameConflict", "ProviderUnsupported", "TargetNotAllowed", "ProviderDisabled"}


def capped_to_nothing(p: Plan) -> str:
    b = p.budget
    if p.limit is not None and p.limit.capped.placement.replicas == 0:
        return f"the admin ceilings allow no replica ({'; '.join(p.limit.binding)}): nothing is applied"
    if b is not None and b.affordable_replicas == 0:
        return (
            f"spec.budget.maxMonthlyCost {b.max_monthly} {b.currency} affords no replica (one costs more): "
            f"nothing is applied. Raise the budget or choose a smaller model"
        )
    return "the plan was capped to no replica: nothing is applied"


def applied_share(owner: Owner, p: Plan, pools: Verdict, chips: int | None = None) -> Share | None:
    """This plan's part of the namespace quota (`chips`, default the plan's own): None when nothing of it
    was applied."""
    applied = p.applied
    if applied.placement.replicas == 0 or (pools.status == "False" and pools.reason in NOT_APPLIED):
        return None
    return Share(
        owner.name,
        owner.uid,
        applied.accelerator.resource_name,
        chips if chips is not None else applied.placement.replicas * applied.placement.chips_per_replica,
        applied.cost.hourly,
        applied.cost.currency,
        applied.placement.nodes,
    )


def share_from_status(obj: dict[str, Any]) -> Share | None:
    """A ModelDeployment's quota share as its status records it (None while unplanned, deleting, or when
    its plan was not applied)."""
    status = obj.get("status") or {}
    plan_ = status.get("plan") or {}
    cost = status.get("cost") or {}
    if not plan_.get("resourceName") or obj["metadata"].get("deletionTimestamp"):
        return None
    pools = next((c for c in status.get("conditions", []) if c.get("type") == "NodePoolsReady"), None)
    if pools is not None and pools.get("status") == "False" and pools.get("reason") in NOT_APPLIED:
        return None
    if int(plan_.get("replicas", 0)) == 0:
        return None
    # quotaChips: the plan plus rollout surge and, during an accelerator switch, the old workload's chips.
    chips = int(plan_.get("quotaChips") or int(plan_.get("replicas", 0)) * int(plan_.get("chipsPerReplica", 0)))
    if chips == 0:
        return None
    return Share(
        obj["metadata"]["name"],
        obj["metadata"]["uid"],
        plan_["resourceName"],
        chips,
        Decimal(cost.get("hourly", "0")),
        cost.get("currency", "USD"),
        int(plan_.get("nodes", 0)),
    )


async def apply_quota(
    kube: Kube,
    world: World,
    cfg: OperatorConfig,
    namespace: str,
    current: Share | None,
    exclude_uid: str | None = None,
) -> tuple[Verdict, dict[str, Any] | None]:
    """Make the namespace's ResourceQuota cover the sum of its plans (this one's fresh, the others' as
    their status says)."""
    if not cfg.quota.enabled:
        return Verdict("True", "Disabled", "quota management is disabled in the operator configuration"), None
    # Noted before the wait: the reconcile whose turn it is writes the waiting ones' shares as well, and
    # their turns then find the quota already right (one write for a burst, not one per object).
    book = world.quota_book
    if current is not None:
        book.note(namespace, current.uid, current)
    if exclude_uid is not None:
        book.note(namespace, exclude_uid, None)
    async with world.quota_locks[namespace]:
        return await _apply_quota(kube, world, cfg, namespace)


async def _apply_quota(
    kube: Kube, world: World, cfg: OperatorConfig, namespace: str
) -> tuple[Verdict, dict[str, Any] | None]:
    book = world.quota_book
    shares = book.merged(namespace, await world.shares(namespace))
    name = cfg.quota.name
    manifest = resource_quota(namespace, name, shares, API_VERSION)
    if namespace in book.applied and book.applied[namespace] == manifest:
        # What this process last applied, unchanged since (the watch clears it on a foreign edit).
        if manifest is None:
            return Verdict("True", "Applied", "no plans left in the namespace: quota removed"), None
        return _quota_verdict(manifest), _ref(manifest)
    existing = await kube.get("v1", "ResourceQuota", name, namespace)
    if existing is not None and not _ours(existing, None):
        return Verdict(
            "False",
            "NameConflict",
            f"ResourceQuota {name} exists and was not created by infercap; "
            f"infercap leaves it alone (rename it or set quota.name in the operator configuration)",
        ), None
    if manifest is not None and existing is not None and _same(existing, manifest):
        book.applied[namespace] = manifest
        return _quota_verdict(manifest), _ref(manifest)
    try:
        if manifest is None:
            if existing is not None:
                await kube.delete("v1", "ResourceQuota", name, namespace)
            book.applied[namespace] = None
            return Verdict("True", "Applied", "no plans left in the namespace: quota removed"), None
        await kube.apply(manifest)
    except KubeError as e:
        book.forget(namespace)
        return Verdict("False", "ApplyFailed", f"applying ResourceQuota {name}: {e.message}"), None
    book.applied[namespace] = manifest
    return _quota_verdict(manifest), _ref(manifest)


def _quota_verdict(manifest: dict[str, Any]) -> Verdict:
    hard = ", ".join(f"{k}={v}" for k, v in manifest["spec"]["hard"].items())
    return Verdict("True", "Applied", f"ResourceQuota {manifest['metadata']['name']}: {hard}")


def _same(existing: dict[str, Any], manifest: dict[str, Any]) -> bool:
    """Whether applying `manifest` would change nothing infercap owns in `existing`."""
    em, mm = existing.get("metadata", {}), manifest["metadata"]
    owners = [(o["uid"], o["name"]) for o in em.get("ownerReferences", [])]
    return (
        existing.get("spec", {}).get("hard") == manifest["spec"]["hard"]
        and all((em.get("annotations") or {}).get(k) == v for k, v in mm["annotations"].items())
        and sorted(owners) == sorted((o["uid"], o["name"]) for o in mm["ownerReferences"])
    )


def _budget_verdict(p: Plan) -> Verdict:
    b = p.budget
    if b is None:
        return Verdict("True", "NoBudget", "spec.budget is not set")
    if b.within:
        return Verdict("True", "WithinBudget", f"{p.chosen.cost.monthly} of {b.max_monthly} {b.currency}/month")
    if b.affordable_replicas == 0:
        return Verdict(
            "False",
            "OverBudget",
            f"the traffic needs {p.chosen.cost.monthly} {b.currency}/month and one replica costs more than the "
            f"budget of {b.max_monthly}: nothing is applied. Raise spec.budget.maxMonthlyCost",
        )
    return Verdict(
        "False",
        "OverBudget",
        f"the traffic needs {p.chosen.cost.monthly} {b.currency}/month, over the budget of {b.max_monthly}; "
        f"capped at {b.affordable_replicas} replica(s) serving {b.coverage:.0%} of demand. Raise "
        f"spec.budget.maxMonthlyCost or lower spec.traffic",
    )


async def reconcile(
    kube: Kube,
    cfg: OperatorConfig,
    body: dict[str, Any],
    now: str,
    autoscale: Autoscale | None = None,
    world: World | None = None,
    calibrator: calibrate.Reader | None = None,
) -> Result:
    """Bring one ModelDeployment's node pools, quota share and status in line with its spec."""
    meta = body["metadata"]
    owner = Owner(meta["name"], meta["namespace"], meta["uid"])
    generation = meta.get("generation")
    world = world or World(kube)
    old = dict(body.get("status") or {})
    verdicts: dict[str, Verdict] = {}
    new = {k: v for k, v in old.items() if k not in ("conditions", "observedGeneration")}
    retry = None

    try:
        spec = ModelDeploymentSpec.model_validate(body.get("spec") or {})
    except ValidationError as e:
        verdicts["Planned"] = Verdict("False", "InvalidSpec", describe(e, "spec"))
        spec = None
    p: Plan | None = None
    admission = None
    cal: calibrate.Outcome | None = None
    if spec is not None:
        admission = admit(cfg, owner.namespace, owner.uid, await world.policies(), await world.shares(owner.namespace))
        if admission.refused is not None:
            verdicts["Planned"] = admission.refused
            spec = None
    if spec is not None and admission is not None:
        catalog, problems = await load_catalog(world, cfg)
        cal = await calibrate.step(calibrator, spec, old, catalog, owner.namespace, now)
        demand_rps, bounds = _autoscaled_demand(spec, old, autoscale, verdicts, new)
        planned_spec = candidates(spec, catalog, provider_for(spec.node_pool, cfg), cfg)
        try:
            p = await plan_guarded(
                functools.partial(
                    plan,
                    catalog,
                    planned_spec,
                    demand_rps=demand_rps,
                    min_replicas=bounds[0],
                    max_replicas=bounds[1],
                    ceilings=admission.ceilings,
                    headroom=None if demand_rps is None else planning_headroom(spec),
                    step_time_factors=cal.factors,
                ),
                cfg.plan_timeout_seconds,
            )
        except PlanError as e:
            message = str(e) + ("" if not problems else " (" + "; ".join(problems) + ")")
            verdicts["Planned"] = Verdict("False", e.reason, message)
        if p is not None:
            p = after_plan(p, provider_rejections(spec, catalog, provider_for(spec.node_pool, cfg), cfg), old, now, cfg)

    if p is not None and spec is not None and admission is not None:
        verdicts["Planned"] = Verdict("True", "Planned", summary(p))
        new.update(plan_status(p))
        if demand_rps is not None:
            new["demand"]["source"] = "metric"
            new["demand"]["display"] = f"{demand_rps:.3g} req/s (metric)"
        apply_pools = functools.partial(
            _apply_node_pools, targets=admission.targets, owned=await world.owned(owner.uid, cfg)
        )
        verdicts["NodePoolsReady"], refs, retry = await apply_children(
            kube, cfg, body, spec, owner, p, catalog, old, new, verdicts, now, apply_pools, world.reader()
        )
        share = applied_share(owner, p, verdicts["NodePoolsReady"], new["plan"].get("quotaChips"))
        verdicts["QuotaApplied"], quota_ref = await apply_quota(
            kube, world, cfg, owner.namespace, share, exclude_uid=None if share else owner.uid
        )
        new["children"] = refs + ([quota_ref] if quota_ref else [])
        verdicts["WithinBudget"] = _budget_verdict(p)
        verdicts["WithinLimits"] = limits_verdict(p, admission)
        if plan_changed(old, new) or "lastPlanTime" not in old:
            new["lastPlanTime"] = now
    else:
        # Keep what was applied before; only the conditions say what is wrong.
        for ctype in (
            "NodePoolsReady",
            "QuotaApplied",
            "WithinBudget",
            "WithinLimits",
            "Serving",
            "CapacityMatchesPlan",
        ):
            prev = next((c for c in old.get("conditions", []) if c["type"] == ctype), None)
            if prev is not None:
                verdicts[ctype] = Verdict(prev["status"], prev["reason"], prev["message"])
    calibrate.record(new, verdicts, cal)
    verdicts["Ready"] = ready(verdicts)
    new["conditions"] = merge_conditions(old.get("conditions", []), verdicts, now, generation)
    new["observedGeneration"] = generation
    result = Result(new, events(old, new), retry=retry)
    await _annotate_cost(kube, body, p)
    if new != old:
        await kube.patch_status(API_VERSION, KIND, owner.name, owner.namespace, _with_removals(old, new))
        result.written = True
    return result


def _autoscaled_demand(
    spec: ModelDeploymentSpec,
    old: dict[str, Any],
    autoscale: Autoscale | None,
    verdicts: dict[str, Verdict],
    new: dict[str, Any],
) -> tuple[float | None, tuple[int, int | None]]:
    """Demand and replica bounds to plan with: the autoscaler's when spec.autoscaling is set (its last
    decision, kept in status, between polls), spec.traffic's otherwise."""
    a = spec.autoscaling
    if a is None:
        new.pop("autoscaling", None)
        return None, (1, None)
    if autoscale is not None:
        new["autoscaling"] = autoscale.status
        verdicts["DemandObserved"] = autoscale.verdict
        return autoscale.planned_rps, (a.min_replicas, a.max_replicas)
    previous = old.get("autoscaling") or {}
    prev_cond = next((c for c in old.get("conditions", []) if c["type"] == "DemandObserved"), None)
    if prev_cond is not None:
        verdicts["DemandObserved"] = Verdict(prev_cond["status"], prev_cond["reason"], prev_cond["message"])
    else:
        verdicts["DemandObserved"] = Verdict("Unknown", "Waiting", "no demand sample yet; planning for spec.traffic")
    if previous.get("plannedRequestsPerSecond") is not None:
        return float(previous["plannedRequestsPerSecond"]), (a.min_replicas, a.max_replicas)
    return None, (a.min_replicas, a.max_replicas)


async def _annotate_cost(kube: Kube, body: dict[str, Any], p: Plan | None) -> None:
    """Cost annotations on the ModelDeployment itself, like on every object it manages."""
    if p is None:
        return
    cost = p.applied.cost
    want = {COST_HOURLY: str(cost.hourly), COST_MONTHLY: str(cost.monthly), COST_CURRENCY: cost.currency}
    have = body["metadata"].get("annotations") or {}
    if any(have.get(k) != v for k, v in want.items()):
        meta = body["metadata"]
        await kube.annotate(API_VERSION, KIND, meta["name"], meta["namespace"], dict(want))


def _with_removals(old: dict[str, Any], new: dict[str, Any]) -> dict[str, Any]:
    """A merge patch that also clears top-level keys the new status no longer has."""
    patch: dict[str, Any] = dict(new)
    for key in old:
        if key not in new:
            patch[key] = None
    return patch


async def finalize(kube: Kube, cfg: OperatorConfig, body: dict[str, Any], world: World | None = None) -> list[str]:
    """On deletion: remove this ModelDeployment's node pools (cluster-scoped or in other namespaces, so
    garbage collection cannot) and shrink the namespace quota. Returns what was deleted."""
    meta = body["metadata"]
    uid = meta["uid"]
    deleted = []
    for obj in await _owned(kube, uid, cfg):
        if _ours(obj, uid) and await kube.delete(
            obj["apiVersion"], obj["kind"], obj["metadata"]["name"], obj["metadata"].get("namespace")
        ):
            deleted.append(f"{obj['kind']}/{obj['metadata']['name']}")
    await apply_quota(kube, world or World(kube), cfg, meta["namespace"], None, exclude_uid=uid)
    return deleted
