"""What the cluster admin allows one ModelDeployment, as the reconcile uses it: the shared policy check
(providers/policy.py, also behind `infercap plan --policy`) with its refusal as a Planned condition.

Fail closed: a CapacityPolicy that does not validate (or, with policyRequired, a namespace no policy
covers) stops every new plan; what was applied before stays as it is, so an admin's typo neither lets
tenants grow nor tears capacity down.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from infercap.api.conditions import Reason
from infercap.api.config import OperatorConfig
from infercap.api.policy import Targets
from infercap.core.limits import Ceiling, within
from infercap.core.planner import Plan
from infercap.providers.policy import allowance, namespace_capped, reservation
from infercap.providers.quota import Share
from infercap.reconcile.status import Verdict

__all__ = ["Admission", "admit", "limits_verdict", "namespace_capped", "reservation", "still_admitted"]


@dataclass(frozen=True)
class Admission:
    ceilings: list[Ceiling]
    targets: Targets
    refused: Verdict | None = None  # set: plan nothing new


def admit(
    cfg: OperatorConfig, namespace: str, uid: str, policy_docs: list[dict[str, Any]], shares: list[Share]
) -> Admission:
    a = allowance(cfg, namespace, uid, policy_docs, shares)
    refused = Verdict("False", a.refused.reason, a.refused.message) if a.refused is not None else None
    return Admission(a.ceilings, a.targets, refused)


def still_admitted(p: Plan, planned_under: Admission, now: Admission) -> bool:
    """Whether plan `p`, made under `planned_under`, may stand under `now` (the namespace's shares read
    again in its turn): the same ceilings, or an uncapped plan that fits every one of them. A capped plan
    is made again whenever they changed (it may now get more, or must get less)."""
    if now.refused is not None:
        return False
    if now.ceilings == planned_under.ceilings:
        return True
    if p.limit is not None:
        return False
    o = p.applied
    pl = o.placement
    return all(within(o.accelerator, pl.chips_per_replica, pl.slice, pl.replicas, c) for c in now.ceilings)


def limits_verdict(p: Plan, admission: Admission) -> Verdict:
    if p.limit is None:
        scopes = len(admission.ceilings)
        return Verdict(
            "True", Reason.WITHIN_LIMITS, f"within {scopes} admin ceiling(s)" if scopes else "no admin ceiling"
        )
    pl = p.limit.capped.placement
    return Verdict(
        "False",
        Reason.CAPPED_BY_POLICY,
        f"the plan needs {p.chosen.placement.chips} chips on {p.chosen.placement.nodes} node(s); "
        f"{'; '.join(p.limit.binding)} allows {pl.replicas} replica(s) on {pl.nodes} node(s)"
        + (": nothing is applied" if pl.replicas == 0 else "")
        + ". Ask the cluster admin to raise the ceiling, or lower spec.traffic",
    )
