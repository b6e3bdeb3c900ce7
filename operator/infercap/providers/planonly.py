"""The `none` provider: plan and status only, no node pool (the nodes come from elsewhere)."""

from __future__ import annotations

from typing import Any

from infercap.api.catalog import AcceleratorProfileSpec
from infercap.api.config import OperatorConfig
from infercap.api.deployment import NodePoolSpec, Provider
from infercap.api.policy import Targets
from infercap.providers.base import PoolKind, PoolRequest, register


class PlanOnlyProvider:
    id: str = Provider.NONE
    kinds: tuple[PoolKind, ...] = ()
    observes_nodes: bool = False

    def supports(self, acc: AcceleratorProfileSpec, cfg: OperatorConfig) -> bool:
        return True

    def render(self, req: PoolRequest, cfg: OperatorConfig) -> list[dict[str, Any]]:
        return []

    def resolve(self, pool: NodePoolSpec, cfg: OperatorConfig, targets: Targets) -> NodePoolSpec:
        return pool  # nothing is written, so there is no target to allow


PROVIDER = register(PlanOnlyProvider())
