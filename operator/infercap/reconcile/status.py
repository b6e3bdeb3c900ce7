"""Pure status logic: conditions whose lastTransitionTime moves only on change, the status document of
a plan, and the Kubernetes Events a status change deserves (none when nothing changed)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from infercap.api.conditions import (
    CONDITION_MESSAGE_LIMIT,
    CONDITION_TYPES,
    Action,
    Cond,
    EventType,
    Reason,
    truncate,
)
from infercap.api.status import (
    BudgetStatus,
    ChildRef,
    Condition,
    Cost,
    Demand,
    ModelDeploymentStatus,
    Open,
    PlanStatus,
    dump,
)
from infercap.core.cost import money_display
from infercap.core.planner import Plan
from infercap.core.report import option_summary, plan_dict


@dataclass(frozen=True)
class Verdict:
    """One condition as this reconcile sees it."""

    status: str  # "True" | "False" | "Unknown"
    reason: str
    message: str


@dataclass(frozen=True)
class Event:
    type: str  # Normal | Warning
    reason: str
    message: str
    action: str = Action.RECONCILE  # what infercap was doing (events.k8s.io/v1 `action`)


# The action each condition's events report.
ACTIONS = {
    Cond.PLANNED: Action.PLAN,
    Cond.NODE_POOLS_READY: Action.APPLY_NODE_POOLS,
    Cond.QUOTA_APPLIED: Action.APPLY_QUOTA,
    Cond.WITHIN_BUDGET: Action.BUDGET,
    Cond.WITHIN_LIMITS: Action.LIMITS,
    Cond.CALIBRATED: Action.CALIBRATE,
}


def child_ref(obj: dict[str, Any]) -> dict[str, Any]:
    """The status.children entry of an object infercap manages (namespace only when it has one)."""
    meta = obj["metadata"]
    ref = ChildRef(api_version=obj["apiVersion"], kind=obj["kind"], name=meta["name"], namespace=meta.get("namespace"))
    return dump(ref)


def merge_conditions(
    old: list[dict[str, Any]], verdicts: dict[str, Verdict], now: str, generation: int | None
) -> list[dict[str, Any]]:
    """New conditions in a fixed order; a condition keeps its lastTransitionTime unless its status changed."""
    previous = {c.get("type"): c for c in old}
    out = []
    for ctype in CONDITION_TYPES:
        v = verdicts.get(ctype)
        if v is None:
            continue
        prev = previous.get(ctype) or {}
        changed = prev.get("status") != v.status
        cond = Condition(
            type=ctype,
            status=v.status,
            reason=v.reason,
            message=truncate(v.message, CONDITION_MESSAGE_LIMIT),
            last_transition_time=prev["lastTransitionTime"] if not changed and prev.get("lastTransitionTime") else now,
            observed_generation=generation,
        )
        out.append(dump(cond))
    return out


def ready(verdicts: dict[str, Verdict]) -> Verdict:
    """Ready when planned and the node pools and quota are applied; otherwise the first problem."""
    for ctype in (Cond.PLANNED, Cond.NODE_POOLS_READY, Cond.QUOTA_APPLIED):
        v = verdicts.get(ctype)
        if v is not None and v.status != "True":
            return Verdict("False", v.reason, v.message)
    return Verdict("True", Reason.READY, "capacity planned and applied")


def summary(p: Plan) -> str:
    o = p.applied
    pl = o.placement
    return (
        f"{pl.replicas} x {pl.chips_per_replica} {o.accelerator.id} on {pl.nodes} node(s), "
        f"{money_display(o.cost.monthly, o.cost.currency)}/month ({o.estimate.source})"
    )


def plan_status(p: Plan) -> dict[str, Any]:
    """status.demand, plan, cost, alternatives, rejected and budget from a plan."""
    d = plan_dict(p)
    demand = d["demand"]
    applied = p.applied
    # Built through the status model (key names live there; a key it lacks fails here, not in the API
    # server's pruning), dumped to the same camelCase JSON as before.
    status = ModelDeploymentStatus(
        demand=Demand(
            requests_per_second=f"{demand['requestsPerSecond']:g}",
            output_tokens_per_second=f"{demand['outputTokensPerSecond']:g}",
            input_tokens=demand["inputTokens"],
            output_tokens=demand["outputTokens"],
            display=f"{demand['requestsPerSecond']:g} req/s",
            source="spec",
        ),
        plan=PlanStatus.model_validate(
            {**d["plan"], "resourceName": applied.accelerator.resource_name, "explanation": d["explanation"]}
        ),
        cost=Cost.model_validate(
            {**d["cost"], "monthlyDisplay": money_display(applied.cost.monthly, applied.cost.currency)}
        ),
        alternatives=[Open.model_validate(option_summary(a)) for a in p.alternatives[:3]],
        rejected=[Open.model_validate(r) for r in d["rejected"]],
        budget=BudgetStatus.model_validate(d["budget"]) if "budget" in d else None,
    )
    return dump(status)


def _plan_key(status: dict[str, Any]) -> tuple[Any, ...] | None:
    plan = status.get("plan")
    if not plan:
        return None
    return (plan.get("accelerator"), plan.get("chipsPerReplica"), plan.get("replicas"), plan.get("nodes"))


def plan_changed(old: dict[str, Any], new: dict[str, Any]) -> bool:
    return _plan_key(old) != _plan_key(new)


def events(old: dict[str, Any], new: dict[str, Any]) -> list[Event]:
    """Events for what changed between two statuses: problems as Warnings, new plans as Normal."""
    before = {c["type"]: c for c in old.get("conditions", [])}
    after = {c["type"]: c for c in new.get("conditions", [])}
    out: list[Event] = []
    planned = after.get(Cond.PLANNED)
    if planned is not None:
        prev = before.get(Cond.PLANNED)
        if planned["status"] == "False":
            if prev is None or prev["status"] != "False" or prev["reason"] != planned["reason"]:
                out.append(Event(EventType.WARNING, planned["reason"], planned["message"], ACTIONS[Cond.PLANNED]))
        elif plan_changed(old, new):
            reason = Reason.REPLANNED if _plan_key(old) is not None else Reason.PLANNED
            out.append(Event(EventType.NORMAL, reason, planned["message"], ACTIONS[Cond.PLANNED]))
    for ctype in (Cond.NODE_POOLS_READY, Cond.QUOTA_APPLIED, Cond.WITHIN_BUDGET, Cond.WITHIN_LIMITS, Cond.CALIBRATED):
        cond, prev = after.get(ctype), before.get(ctype)
        if cond is None:
            continue
        if cond["status"] == "False" and (
            prev is None or (prev["status"], prev["reason"]) != ("False", cond["reason"])
        ):
            out.append(Event(EventType.WARNING, cond["reason"], cond["message"], ACTIONS.get(ctype, Action.RECONCILE)))
        elif cond["status"] == "True" and prev is not None and prev["status"] == "False":
            out.append(Event(EventType.NORMAL, cond["reason"], cond["message"], ACTIONS.get(ctype, Action.RECONCILE)))
    return out
