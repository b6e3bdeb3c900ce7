"""What the admin's CapacityPolicy objects and the operator configuration allow one ModelDeployment: its
ceilings (per ModelDeployment, and per namespace less what the namespace's other plans hold) and its
node-pool targets, or a refusal. Pure, and the one implementation of that check: the operator's
admission (reconcile/admission.py) and the offline planner (`infercap plan --policy`) both call it.

Fail closed: a CapacityPolicy that does not validate (or, with policyRequired, a namespace no policy
covers) refuses every new plan.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from pydantic import ValidationError

from infercap.api.conditions import Reason
from infercap.api.config import OperatorConfig
from infercap.api.policy import CapacityPolicySpec, Ceilings, Targets
from infercap.api.validation import describe
from infercap.core.cost import HOURS_PER_MONTH
from infercap.core.limits import Ceiling, Usage, ceilings_for
from infercap.core.planner import Plan
from infercap.providers import Owner
from infercap.providers.quota import Share
from infercap.providers.targets import targets_for


@dataclass(frozen=True)
class Refusal:
    reason: str  # PolicyInvalid, NoPolicy
    message: str


@dataclass(frozen=True)
class Allowance:
    ceilings: list[Ceiling]
    targets: Targets
    refused: Refusal | None = None  # set: plan nothing new


def parse_policies(policy_docs: Iterable[dict[str, Any]]) -> list[tuple[str, CapacityPolicySpec]] | Refusal:
    """The policies by name, or the refusal naming the first that does not validate (and the field)."""
    out: list[tuple[str, CapacityPolicySpec]] = []
    for doc in policy_docs:
        name = (doc.get("metadata") or {}).get("name", "?")
        try:
            out.append((name, CapacityPolicySpec.model_validate(doc.get("spec") or {})))
        except ValidationError as e:
            return Refusal(
                Reason.POLICY_INVALID,
                f"CapacityPolicy {name} is invalid ({describe(e, 'spec')}); infercap applies no new plan until "
                f"the cluster admin fixes it",
            )
    return out


def allowance(
    cfg: OperatorConfig, namespace: str, uid: str, policy_docs: Iterable[dict[str, Any]], shares: Iterable[Share]
) -> Allowance:
    """Ceilings and targets for the ModelDeployment `uid` of `namespace`, given the namespace's shares (its
    own, if listed, is left out: a re-plan replaces it)."""
    policies = parse_policies(policy_docs)
    if isinstance(policies, Refusal):
        return Allowance([], Targets(), policies)
    if cfg.policy_required and not any(p.covers(namespace) for _, p in policies):
        return Allowance(
            [],
            Targets(),
            Refusal(
                Reason.NO_POLICY,
                f"no CapacityPolicy covers namespace {namespace} and the operator requires one; ask the cluster "
                f"admin for one",
            ),
        )
    # What the others use matters to per-namespace ceilings only: without one, no O(namespace) sum (at 2,000
    # ModelDeployments in one namespace, every reconcile summed all of them).
    capped = _set(cfg.limits.per_namespace) or any(
        p.covers(namespace) and _set(p.limits.per_namespace) for _, p in policies
    )
    used = _usage([s for s in shares if s.uid != uid]) if capped else Usage()
    return Allowance(ceilings_for(namespace, cfg.limits, policies, used), targets_for(namespace, policies))


def _usage(others: list[Share]) -> Usage:
    return Usage(
        chips=sum(s.chips for s in others),
        nodes=sum(s.nodes for s in others),
        monthly=sum((s.hourly * HOURS_PER_MONTH for s in others), Decimal(0)),
    )


def _set(c: Ceilings) -> bool:
    return c.max_chips is not None or c.max_nodes is not None or c.max_monthly_cost is not None


def namespace_capped(cfg: OperatorConfig, namespace: str, policy_docs: Iterable[dict[str, Any]]) -> bool:
    """Whether a per-namespace ceiling may apply to `namespace` (then its admissions take turns). Policies
    that do not validate count as one: they refuse, and a turn costs nothing then."""
    if _set(cfg.limits.per_namespace):
        return True
    policies = parse_policies(policy_docs)
    if isinstance(policies, Refusal):
        return True
    return any(p.covers(namespace) and _set(p.limits.per_namespace) for _, p in policies)


def reservation(owner: Owner, p: Plan, cfg: OperatorConfig, serving: bool) -> Share | None:
    """The share a plan holds in its namespace from its admission until its quota turn notes what was
    applied (offline: for good): its chips plus the rollout surge the quota counts, its nodes and cost.
    None: no replica."""
    applied = p.applied
    pl = applied.placement
    if pl.replicas == 0:
        return None
    chips = pl.replicas * pl.chips_per_replica
    if serving and cfg.quota.rollout_surge:
        chips += cfg.serving.rollout_surge * pl.chips_per_replica
    return Share(
        owner.name, owner.uid, applied.accelerator.resource_name, chips, applied.cost.hourly, applied.cost.currency,
        pl.nodes,
    )  # fmt: skip
