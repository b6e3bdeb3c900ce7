"""Workload targets: what a ModelDeployment's replicas run as. The `WorkloadTarget` contract, a registry
consulted in order (the first target that claims a spec serves it), and the built-in targets: the serving
workload infercap renders from spec.serving (Deployment or LeaderWorkerSet), the user's own workload
named by spec.scaleTargetRef (scaled through its scale subresource), and none (plan only).
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable

from infercap.api.deployment import ModelDeploymentSpec
from infercap.reconcile.request import ApplyRequest
from infercap.reconcile.serving import ServingOutcome, apply_serving, scale_target


@runtime_checkable
class WorkloadTarget(Protocol):
    """Contract:
    - `name` identifies the target (unique in the registry).
    - `claims(spec)` is pure: whether this target serves a ModelDeployment with this spec. Exactly one
      registered target claims any valid spec (the last one, `none`, claims every spec).
    - `apply(req)` brings the workload in line with the plan `req.plan` and returns a ServingOutcome: the Serving
      condition (None: no workload), the refs of every object it wrote (status.children), the workload as
      the API server returned it (observing reads its replicas), the pods' selector, whether a previous
      plan's workloads may go (`switch_done`; False keeps the old node pools too), the chips the old
      workloads still hold, any extra conditions, and `retry` for a transient failure. It never raises
      for a refused or failed write: that is a condition; a KubeError that escapes means the API server
      could not be read at all, and the whole reconcile is retried.
    - Objects it writes carry the owner labels and are named so that another ModelDeployment's never
      collide; it deletes only objects labelled as this owner's.
    """

    @property
    def name(self) -> str: ...

    def claims(self, spec: ModelDeploymentSpec) -> bool: ...

    async def apply(self, req: ApplyRequest) -> ServingOutcome: ...


class ScaleTargetRef:
    """spec.scaleTargetRef: the user's workload, scaled to the planned replicas."""

    name = "scaleTargetRef"

    def claims(self, spec: ModelDeploymentSpec) -> bool:
        return spec.scale_target_ref is not None

    async def apply(self, req: ApplyRequest) -> ServingOutcome:
        return await scale_target(req)


class ServingWorkload:
    """spec.serving: the Deployment or LeaderWorkerSet infercap renders, make-before-break on a switch."""

    name = "serving"

    def claims(self, spec: ModelDeploymentSpec) -> bool:
        return spec.serving is not None

    async def apply(self, req: ApplyRequest) -> ServingOutcome:
        return await apply_serving(req)


class NoWorkload:
    """Neither: capacity is planned and applied, the workload is someone else's business."""

    name = "none"

    def claims(self, spec: ModelDeploymentSpec) -> bool:
        return True

    async def apply(self, req: ApplyRequest) -> ServingOutcome:
        return ServingOutcome()


_TARGETS: list[WorkloadTarget] = [ScaleTargetRef(), ServingWorkload(), NoWorkload()]


def register(target: WorkloadTarget) -> WorkloadTarget:
    """Consult `target` before the built-in ones (a name already registered is replaced)."""
    unregister(target.name)
    _TARGETS.insert(0, target)
    return target


def unregister(name: str) -> None:
    _TARGETS[:] = [t for t in _TARGETS if t.name != name]


def registered() -> list[WorkloadTarget]:
    return list(_TARGETS)


def target_for(spec: ModelDeploymentSpec) -> WorkloadTarget:
    """The first registered target that claims this spec (`none` when nothing else does)."""
    return next((t for t in _TARGETS if t.claims(spec)), _TARGETS[-1])
