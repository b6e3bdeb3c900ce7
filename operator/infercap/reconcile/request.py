"""What applying one plan works from, in one frozen value: the ModelDeployment (its owner identity and
spec), the plan, and what the last applied plan wrote. The workload targets and the node pools both take it."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from infercap.api.config import OperatorConfig
from infercap.api.deployment import ModelDeploymentSpec
from infercap.core.planner import Plan
from infercap.kube.client import Kube
from infercap.providers import Owner


@dataclass(frozen=True)
class ApplyRequest:
    """The plan `plan` for the ModelDeployment `owner` with this `spec`; `previous`, the refs of what the
    last applied plan wrote (status.children)."""

    kube: Kube
    cfg: OperatorConfig
    spec: ModelDeploymentSpec
    owner: Owner
    plan: Plan
    previous: list[dict[str, Any]]
