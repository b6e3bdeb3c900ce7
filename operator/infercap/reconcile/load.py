"""The first steps of a reconcile: the spec (validated), what the admin allows it (admission), the
catalog (built-ins, the cluster's profiles, configured prices) and the demand to plan for (spec.traffic,
or the autoscaler's decision)."""

from __future__ import annotations

import json
from typing import Any

from pydantic import ValidationError

from infercap.api.catalog import AcceleratorProfileSpec, ModelProfileSpec
from infercap.api.conditions import Cond, Reason
from infercap.api.config import OperatorConfig
from infercap.api.deployment import ModelDeploymentSpec
from infercap.api.manifests import ManifestError, profile_spec
from infercap.api.validation import describe
from infercap.core.catalog import Catalog, builtin_catalog
from infercap.core.errors import PlanError
from infercap.providers.quota import Share
from infercap.reconcile.admission import admit
from infercap.reconcile.status import Verdict
from infercap.reconcile.world import Pass, World


def load_spec(ctx: Pass) -> None:
    """ctx.spec, or Planned False InvalidSpec naming the field (an older CRD or a hand edit let it in)."""
    try:
        ctx.spec = ModelDeploymentSpec.model_validate(ctx.body.get("spec") or {})
    except ValidationError as e:
        ctx.verdicts[Cond.PLANNED] = Verdict("False", Reason.INVALID_SPEC, describe(e, "spec"))


async def load_admission(ctx: Pass) -> None:
    """ctx.admission: the ceilings and targets the CapacityPolicies allow; a refusal stops planning."""
    if ctx.spec is None:
        return
    owner = ctx.owner
    ctx.policies = await ctx.world.policies()
    ctx.admission = admit(ctx.cfg, owner.namespace, owner.uid, ctx.policies, await namespace_shares(ctx))
    if ctx.admission.refused is not None:
        ctx.verdicts[Cond.PLANNED] = ctx.admission.refused
        ctx.spec = None


async def namespace_shares(ctx: Pass) -> list[Share]:
    """The namespace's plans as this process knows them: the index's, each replaced by a newer one noted
    in the quota book (a plan made a moment ago whose status the index has not seen yet)."""
    namespace = ctx.owner.namespace
    return ctx.world.quota_book.merged(namespace, await ctx.world.shares(namespace))


# The last catalog built and what it was built from. While the profiles and prices stay the same, every
# reconcile plans with the same Catalog, so its caches (replica sizes, model shapes, replicas) carry over:
# a catalog built anew per reconcile recomputed them each time (replica sizes alone were 7 % of the
# operator's CPU at 2,000 ModelDeployments), and validated every profile again.
_LAST: dict[str, tuple[Catalog, list[str]]] = {}  # at most one entry: what it was built from -> it


async def load_catalog(world: World, cfg: OperatorConfig) -> tuple[Catalog, list[str]]:
    """Built-ins plus the cluster's ModelProfile and AcceleratorProfile objects plus configured prices.
    Invalid profiles are left out and reported."""
    model_docs, acc_docs = await world.profiles()
    key = json.dumps([[_version(d) for d in model_docs], [_version(d) for d in acc_docs], cfg.prices], default=str)
    if key not in _LAST:
        _LAST.clear()
        _LAST[key] = _build_catalog(model_docs, acc_docs, cfg)
    catalog, problems = _LAST[key]
    return catalog, list(problems)


def _version(doc: dict[str, Any]) -> Any:
    """What identifies a profile's content: its uid and resourceVersion, which the API server changes on
    every write (a hand-made object without them: the whole of it)."""
    meta = doc.get("metadata") or {}
    if meta.get("uid") and meta.get("resourceVersion"):
        return [meta["uid"], meta["resourceVersion"]]
    return json.dumps(doc, sort_keys=True, default=str)


def _build_catalog(
    model_docs: list[dict[str, Any]], acc_docs: list[dict[str, Any]], cfg: OperatorConfig
) -> tuple[Catalog, list[str]]:
    problems: list[str] = []
    models: list[ModelProfileSpec] = []
    accs: list[AcceleratorProfileSpec] = []
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


async def load_world_catalog(ctx: Pass) -> None:
    if ctx.spec is not None:
        ctx.catalog, ctx.problems = await load_catalog(ctx.world, ctx.cfg)


def replica_bounds(ctx: Pass) -> tuple[int, int | None]:
    """Replica bounds to plan within: spec.autoscaling's, else at least one and no maximum."""
    a = ctx.spec.autoscaling if ctx.spec is not None else None
    return (a.min_replicas, a.max_replicas) if a is not None else (1, None)


def load_demand(ctx: Pass) -> None:
    """ctx.demand_rps and status.autoscaling: the autoscaler's decision when spec.autoscaling is set
    (its last one, kept in status, between polls); None plans for spec.traffic."""
    if ctx.spec is None:
        return
    if ctx.spec.autoscaling is None:
        ctx.new.pop("autoscaling", None)
        return
    if ctx.autoscale is not None:
        ctx.new["autoscaling"] = ctx.autoscale.status
        ctx.verdicts[Cond.DEMAND_OBSERVED] = ctx.autoscale.verdict
        if ctx.autoscale.sli_verdict is not None:
            ctx.verdicts[Cond.SLI_OBSERVED] = ctx.autoscale.sli_verdict
        ctx.demand_rps = ctx.autoscale.planned_rps
        return
    ctx.verdicts[Cond.DEMAND_OBSERVED] = ctx.previous(Cond.DEMAND_OBSERVED) or Verdict(
        "Unknown", Reason.WAITING, "no demand sample yet; planning for spec.traffic"
    )
    if ctx.spec.autoscaling.sli is not None:  # between polls: what the last poll measured
        ctx.verdicts[Cond.SLI_OBSERVED] = ctx.previous(Cond.SLI_OBSERVED) or Verdict(
            "Unknown", Reason.WAITING, "no interval measured yet; the error budget's account is estimated"
        )
    planned = (ctx.old.get("autoscaling") or {}).get("plannedRequestsPerSecond")
    if planned is not None:
        ctx.demand_rps = float(planned)
