"""The serving side of a reconcile: apply the workload rendered from the plan, or scale the user's own
workload through its scale subresource; make-before-break when the plan moves to another accelerator;
hysteresis so small savings never move the fleet; `infercap.dev/paused` freezes the children.

Make-before-break: the new workload is named per accelerator, so it comes up beside the old one; the old
workload and its node pool stay until the new workload has all planned replicas ready, so ready replicas
never drop below what the demand needs during a switch.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

from infercap.api import API_VERSION
from infercap.api.conditions import Cond, Reason
from infercap.api.config import OperatorConfig
from infercap.core.planner import Plan
from infercap.kube.client import KubeError
from infercap.kube.client import scale_target as scale_target_kind
from infercap.providers import MANAGED_BY, MANAGER, OWNER_UID, cost_annotations
from infercap.reconcile.request import ApplyRequest
from infercap.reconcile.status import Verdict
from infercap.reconcile.status import child_ref as _ref
from infercap.workloads.plan import serving_plan
from infercap.workloads.render import SERVING, WorkloadRequest, render

PAUSED = "infercap.dev/paused"
WORKLOAD_KINDS = {"Deployment", "LeaderWorkerSet", "ConfigMap"}


@dataclass
class ServingOutcome:
    verdict: Verdict | None = None  # the Serving condition (None: no workload configured)
    refs: list[dict[str, Any]] = field(default_factory=list)
    workload: dict[str, Any] | None = None  # as the API server returned it, with status
    selector: dict[str, str] | None = None  # labels of the serving pods
    switch_done: bool = True  # the previous plan's workloads and pools may go
    old_chips: int = 0  # accelerator chips the previous plan's workloads still hold during a switch
    extra: dict[str, Verdict] = field(default_factory=dict)
    retry: str | None = None


def paused(body: dict[str, Any]) -> bool:
    return (body["metadata"].get("annotations") or {}).get(PAUSED) == "true"


def _ours(obj: dict[str, Any], uid: str) -> bool:
    labels = obj.get("metadata", {}).get("labels") or {}
    return labels.get(MANAGED_BY) == MANAGER and labels.get(OWNER_UID) == uid


def _ready(workload: dict[str, Any]) -> int:
    """Replicas of the current template that are ready. A status older than the spec (its controller has
    not observed the last update yet) still counts the previous template's pods: none of them count."""
    st = workload.get("status") or {}
    seen = st.get("observedGeneration")
    if seen is not None and int(seen) < int(workload["metadata"].get("generation") or 0):
        return 0
    ready = int(st.get("readyReplicas") or 0)
    if workload["kind"] == "Deployment":
        # A rollout in progress: only updated replicas count as the new plan's.
        ready = min(ready, int(st.get("updatedReplicas") or 0))
    return ready


def _chips(workload: dict[str, Any], resource: str) -> int:
    """Accelerator chips a Deployment or LeaderWorkerSet asks for at its current replicas."""
    spec = workload.get("spec") or {}
    if workload["kind"] == "Deployment":
        templates, size = [spec.get("template") or {}], 1
    elif workload["kind"] == "LeaderWorkerSet":
        lwt = spec.get("leaderWorkerTemplate") or {}
        size = int(lwt.get("size") or 1)
        templates = [lwt.get("leaderTemplate") or {}, *([lwt.get("workerTemplate") or {}] * (size - 1))]
        size = 1
    else:
        return 0
    per_replica = 0
    for t in templates:
        for c in (t.get("spec") or {}).get("containers") or []:
            per_replica += int(((c.get("resources") or {}).get("limits") or {}).get(resource, 0))
    return int(spec.get("replicas") or 0) * per_replica * size


def _parse(ts: str | None) -> datetime | None:
    if not ts:
        return None
    try:
        return datetime.fromisoformat(ts.replace("Z", "+00:00"))
    except ValueError:
        return None


def hold_accelerator(p: Plan, old: dict[str, Any], now: str, cfg: OperatorConfig) -> tuple[Plan, str | None]:
    """Hysteresis: keep the previous accelerator unless the new one saves at least the configured share
    of the hourly cost and the cooldown since the last switch has passed. Returns the plan to apply and,
    when the switch was held back, why."""
    previous = (old.get("plan") or {}).get("accelerator")
    if not previous or previous == p.chosen.accelerator.id or p.budget is not None:
        return p, None
    keep = next((o for o in p.alternatives if o.accelerator.id == previous), None)
    if keep is None:
        return p, None  # the old accelerator can no longer serve the demand: switch now
    saving = float(1 - p.chosen.cost.hourly / keep.cost.hourly) if keep.cost.hourly else 1.0
    last = _parse(old.get("lastSwitchTime"))
    cooling = last is not None and (_parse(now) or last).timestamp() - last.timestamp() < (
        cfg.serving.switch_cooldown_seconds
    )
    threshold = cfg.serving.switch_threshold
    if saving >= threshold and not cooling:
        return p, None
    why = (
        f"{p.chosen.accelerator.id} would save {saving:.1%} of the hourly cost, under the {threshold:.0%} threshold"
        if saving < threshold
        else f"{p.chosen.accelerator.id} saves {saving:.1%} but the last switch was under "
        f"{cfg.serving.switch_cooldown_seconds} s ago"
    )
    others = [o for o in p.alternatives if o is not keep]
    return replace(p, chosen=keep, alternatives=[p.chosen, *others]), f"kept {previous}: {why}"


async def apply_serving(req: ApplyRequest) -> ServingOutcome:
    """Apply the serving workload of this plan; remove an earlier plan's workload once this one serves."""
    kube, cfg, spec, owner, p, previous = req.kube, req.cfg, req.spec, req.owner, req.plan, req.previous
    if spec.serving is None:
        return ServingOutcome()
    sp = serving_plan(p)
    served = spec.serving.model.hugging_face or spec.model
    o = p.applied
    cost = cost_annotations(o.placement.chips, o.accelerator.price.per_chip_hour, o.cost.currency, owner)
    wreq = WorkloadRequest(owner, spec.serving, sp, served, surge=cfg.serving.rollout_surge, annotations=cost)
    out = ServingOutcome(selector={SERVING: owner.name})
    for manifest in render(wreq, API_VERSION):
        meta = manifest["metadata"]
        try:
            existing = await kube.get(manifest["apiVersion"], manifest["kind"], meta["name"], meta["namespace"])
            if existing is not None and not _ours(existing, owner.uid):
                out.verdict = Verdict(
                    "False",
                    Reason.NAME_CONFLICT,
                    f"{manifest['kind']} {meta['name']} exists and was not created by infercap for this "
                    f"ModelDeployment; infercap leaves it alone. Rename this ModelDeployment or remove that object",
                )
                out.switch_done = False
                return out
            applied = await kube.apply(manifest)
        except KubeError as e:
            out.verdict = Verdict(
                "False", Reason.APPLY_FAILED, f"applying {manifest['kind']} {meta['name']}: {e.message}"
            )
            out.switch_done = False
            out.retry = "apply failed"
            return out
        out.refs.append(_ref(manifest))
        if manifest["kind"] in ("Deployment", "LeaderWorkerSet"):
            out.workload = applied
    assert out.workload is not None
    ready = _ready(out.workload)
    kind, name = out.workload["kind"], out.workload["metadata"]["name"]
    if ready >= sp.replicas:
        out.verdict = Verdict("True", Reason.SERVING, f"{ready} of {sp.replicas} replica(s) ready ({kind}/{name})")
    else:
        out.verdict = Verdict("False", Reason.PROGRESSING, f"{ready} of {sp.replicas} replica(s) ready ({kind}/{name})")
    out.switch_done = ready >= sp.replicas
    wanted = {(r["kind"], r["name"]) for r in out.refs}
    for ref in previous:
        if ref.get("kind") not in WORKLOAD_KINDS or (ref["kind"], ref["name"]) in wanted:
            continue
        obj = await kube.get(ref["apiVersion"], ref["kind"], ref["name"], ref.get("namespace"))
        if not out.switch_done:
            if obj is not None:
                out.refs.append(ref)  # the old workload serves until the new one is ready
                out.old_chips += _chips(obj, sp.resource_name)
            continue
        if obj is not None and _ours(obj, owner.uid):
            await kube.delete(ref["apiVersion"], ref["kind"], ref["name"], ref.get("namespace"))
    return out


def _targets(obj: dict[str, Any], ref: dict[str, str], default_kind: str | None) -> bool:
    target = (obj.get("spec") or {}).get("scaleTargetRef") or {}
    kind = target.get("kind") or default_kind
    group = str(target.get("apiVersion") or "apps/v1").split("/")[0]
    return bool(target.get("name") == ref["name"] and kind == ref["kind"] and group == ref["apiVersion"].split("/")[0])


async def scale_target(req: ApplyRequest) -> ServingOutcome:
    """Scale the user's workload to the planned replicas through its scale subresource, unless an HPA
    or a KEDA ScaledObject scales it (then say so and leave it to them)."""
    kube, spec, owner, p = req.kube, req.spec, req.owner, req.plan
    out = ServingOutcome()
    t = spec.scale_target_ref
    if t is None:
        return out
    ref = {"apiVersion": t.api_version, "kind": t.kind, "name": t.name}
    scale_target_kind(t.api_version, t.kind)
    want = p.applied.placement.replicas
    others = [
        f"HorizontalPodAutoscaler/{h['metadata']['name']}"
        for h in await kube.list("autoscaling/v2", "HorizontalPodAutoscaler", namespace=owner.namespace)
        if _targets(h, ref, None)
    ] + [
        f"ScaledObject/{k['metadata']['name']}"
        for k in await kube.list("keda.sh/v1alpha1", "ScaledObject", namespace=owner.namespace)
        if _targets(k, ref, "Deployment")
    ]
    try:
        target = await kube.get(t.api_version, t.kind, t.name, owner.namespace)
    except KubeError as e:
        out.verdict = Verdict("False", Reason.TARGET_UNREADABLE, f"reading {t.kind}/{t.name}: {e.message}")
        return out
    if target is None:
        out.verdict = Verdict(
            "False",
            Reason.TARGET_NOT_FOUND,
            f"spec.scaleTargetRef: {t.kind}/{t.name} does not exist in {owner.namespace}",
        )
        return out
    if others:
        out.extra[Cond.SCALED_BY_OTHERS] = Verdict(
            "True",
            Reason.OTHER_SCALER_DETECTED,
            f"{', '.join(others)} scales {t.kind}/{t.name}; infercap plans capacity but does not set its replicas",
        )
    else:
        out.extra[Cond.SCALED_BY_OTHERS] = Verdict(
            "False", Reason.NO_OTHER_SCALER, f"infercap sets {t.kind}/{t.name} replicas"
        )
        if int((target.get("spec") or {}).get("replicas") or 0) != want:
            try:
                await kube.set_replicas(t.api_version, t.kind, t.name, owner.namespace, want)
            except KubeError as e:
                out.verdict = Verdict("False", Reason.SCALE_FAILED, f"scaling {t.kind}/{t.name}: {e.message}")
                out.retry = "scale failed"
                return out
            target = await kube.get(t.api_version, t.kind, t.name, owner.namespace) or target
    out.workload = target
    ready = int((target.get("status") or {}).get("readyReplicas") or 0)
    status = "True" if ready >= want else "False"
    out.verdict = Verdict(
        status,
        Reason.SERVING if status == "True" else Reason.PROGRESSING,
        f"{ready} of {want} replica(s) ready ({t.kind}/{t.name})",
    )
    return out
