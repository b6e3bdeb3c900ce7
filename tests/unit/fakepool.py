"""A second, Karpenter-like node-pool provider that exists only in tests: the whole of what adding a
provider takes is this module and one `register(FakePoolProvider())` (issue 13, "done when").

It writes cluster-scoped `FakePool` objects of its own group, reports readiness through their Ready
condition and the karpenter.sh/nodepool label on nodes (so `observes_nodes`), and injects errors: a
render that fails with a reason, accelerators it refuses.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from infercap.api.catalog import AcceleratorProfileSpec
from infercap.api.config import OperatorConfig
from infercap.api.deployment import NodePoolSpec
from infercap.api.policy import Targets
from infercap.providers.base import (
    PoolKind,
    PoolRequest,
    ProviderError,
    cost_annotations,
    owner_labels,
    pool_name,
)
from infercap.providers.targets import node_class

ID = "fakepool"
KIND = PoolKind("fake.infercap.dev/v1", "FakePool", "fakepools", namespaced=False)


@dataclass
class FakePoolProvider:
    """A fake with error injection: `render_error` is raised by render; `refuse` lists accelerator ids
    `supports` says no to; `rendered` counts renders."""

    id: str = ID
    kinds: tuple[PoolKind, ...] = (KIND,)
    observes_nodes: bool = True
    render_error: ProviderError | None = None
    refuse: set[str] = field(default_factory=set)
    rendered: int = 0

    def supports(self, acc: AcceleratorProfileSpec, cfg: OperatorConfig) -> bool:
        return acc.id not in self.refuse

    def resolve(self, pool: NodePoolSpec, cfg: OperatorConfig, targets: Targets) -> NodePoolSpec:
        return node_class(pool, "default", targets.node_classes)  # a node-class provider, like Karpenter

    def render(self, req: PoolRequest, cfg: OperatorConfig) -> list[dict[str, Any]]:
        self.rendered += 1
        if self.render_error is not None:
            raise self.render_error
        chips = req.placement.chips
        return [
            {
                "apiVersion": KIND.api_version,
                "kind": KIND.kind,
                "metadata": {
                    "name": pool_name(req.owner, req.accelerator.id),
                    "labels": owner_labels(req.owner, req.accelerator.id),
                    "annotations": cost_annotations(chips, req.price_per_chip_hour, req.currency, req.owner),
                },
                "spec": {"nodes": req.placement.nodes, "limits": {req.accelerator.resource_name: str(chips)}},
            }
        ]
