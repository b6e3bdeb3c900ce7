"""A workload target that exists only in tests, with error injection: it reports what it is told to
(`verdict`, `retry`, `switch_done`), records each apply, and can raise the API server's error."""

from __future__ import annotations

from dataclasses import dataclass, field

from infercap.api.deployment import ModelDeploymentSpec
from infercap.kube.client import KubeError
from infercap.reconcile.request import ApplyRequest
from infercap.reconcile.serving import ServingOutcome
from infercap.reconcile.status import Verdict


@dataclass
class FakeTarget:
    name: str = "fake"
    verdict: Verdict | None = None
    retry: str | None = None
    switch_done: bool = True
    raise_error: KubeError | None = None
    applied: list[int] = field(default_factory=list)  # the planned replicas of each apply

    def claims(self, spec: ModelDeploymentSpec) -> bool:
        return True

    async def apply(self, req: ApplyRequest) -> ServingOutcome:
        if self.raise_error is not None:
            raise self.raise_error
        self.applied.append(req.plan.applied.placement.replicas)
        ref = {
            "apiVersion": "fake/v1",
            "kind": "FakeWorkload",
            "name": req.owner.name,
            "namespace": req.owner.namespace,
        }
        return ServingOutcome(verdict=self.verdict, refs=[ref], switch_done=self.switch_done, retry=self.retry)
