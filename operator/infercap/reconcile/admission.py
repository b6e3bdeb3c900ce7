"""What the cluster admin allows one ModelDeployment: the ceilings on its plan and the node-pool targets
of its namespace, from the CapacityPolicy objects and the operator configuration.

Fail closed: a CapacityPolicy that does not validate (or, with policyRequired, a namespace no policy
covers) stops every new plan; what was applied before stays as it is, so an admin's typo neither lets
tenants grow nor tears capacity down.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from pydantic import ValidationError

from infercap.api.config import OperatorConfig
from infercap.api.policy import CapacityPolicySpec, Targets
from infercap.api.validation import describe
from infercap.core.cost import HOURS_PER_MONTH
from infercap.core.limits import Ceiling, Usage, ceilings_for
from infercap.core.planner import Plan
from infercap.providers import Owner
from infercap.providers.quota import Share
from infercap.providers.targets import targets_for
from infercap.reconcile.status import Verdict


@dataclass(frozen=True)
class Admission:
    ceilings: list[Ceiling]
    targets: Targets
    refused: Verdict | None = None  # set: plan nothing new


def admit(
    cfg: OperatorConfig, namespace: str, uid: str, policy_docs: list[dict[str, Any]], shares: list[Share]
) -> Admission:
    policies: list[tuple[str, CapacityPolicySpec]] = []
    for doc in policy_docs:
        name = doc.get("metadata", {}).get("name", "?")
        try:
            policies.append((name, CapacityPolicySpec.model_validate(doc.get("spec") or {})))
        except ValidationError as e:
            return Admission(
                [],
                Targets(),
                Verdict(
                    "False",
                    "PolicyInvalid",
                    f"CapacityPolicy {name} is invalid ({describe(e, 'spec')}); infercap applies no new plan until "
                    f"the cluster admin fixes it",
                ),
            )
    if cfg.policy_required and not any(p.covers(namespace) for _, p in policies):
        return Admission(
            [],
            Targets(),
            Verdict(
                "False",
                "NoPolicy",
                f"no CapacityPolicy covers namespace {namespace} and the operator requires one; ask the cluster "
                f"admin for one",
            ),
        )
    others = [s for s in shares if s.uid != uid]
    used = Usage(
        chips=sum(s.chips for s in others),
        nodes=sum(s.nodes for s in others),
        monthly=sum((s.hourly * HOURS_PER_MONTH for s in others), Decimal(0)),
    )
    return Admission(ceilings_for(namespace, cfg.limits, policies, used), targets_for(namespace, policies))


def namespace_capped(cfg: OperatorConfig, namespace: str, policy_docs: list[dict[str, Any]]) -> bool:
    """Whether a per-namespace ceiling may apply to `namespace` (then admissions there take turns). A
    policy that does not validate counts as one: it refuses, and a turn costs nothing then."""
    n = cfg.limits.per_namespace
    if n.max_chips is not None or n.max_nodes is not None or n.max_monthly_cost is not None:
        return True
    for doc in policy_docs:
        try:
            spec = CapacityPolicySpec.model_validate(doc.get("spec") or {})
        except ValidationError:
            return True
        c = spec.limits.per_namespace
        if spec.covers(namespace) and (
            c.max_chips is not None or c.max_nodes is not None or c.max_monthly_cost is not None
        ):
            return True
    return False


def limits_verdict(p: Plan, admission: Admission) -> Verdict:
    if p.limit is None:
        scopes = len(admission.ceilings)
        return Verdict("True", "WithinLimits", f"within {scopes} admin ceiling(s)" if scopes else "no admin ceiling")
    pl = p.limit.capped.placement
    return Verdict(
        "False",
        "CappedByPolicy",
        f"the plan needs {p.chosen.placement.chips} chips on {p.chosen.placement.nodes} node(s); "
        f"{'; '.join(p.limit.binding)} allows {pl.replicas} replica(s) on {pl.nodes} node(s)"
        + (": nothing is applied" if pl.replicas == 0 else "")
        + ". Ask the cluster admin to raise the ceiling, or lower spec.traffic",
    )


def reservation(owner: Owner, p: Plan, cfg: OperatorConfig, serving: bool) -> Share | None:
    """The share a plan holds in the namespace from its admission until its quota turn notes what was
    applied: its chips plus the rollout surge the quota will count, its nodes and cost (None: no replica)."""
    applied = p.applied
    pl = applied.placement
    if pl.replicas == 0:
        return None
    chips = pl.replicas * pl.chips_per_replica
    if serving and cfg.quota.rollout_surge:
        chips += cfg.serving.rollout_surge * pl.chips_per_replica
    return Share(
        owner.name,
        owner.uid,
        applied.accelerator.resource_name,
        chips,
        applied.cost.hourly,
        applied.cost.currency,
        pl.nodes,
    )
