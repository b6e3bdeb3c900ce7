"""Pure status logic: conditions whose lastTransitionTime moves only on change, the status document of
a plan, and the Kubernetes Events a status change deserves (none when nothing changed)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from infercap.api.status import CONDITION_TYPES
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
    action: str = "Reconcile"  # what infercap was doing (events.k8s.io/v1 `action`)


# The action each condition's events report.
ACTIONS = {
    "Planned": "Plan",
    "NodePoolsReady": "ApplyNodePools",
    "QuotaApplied": "ApplyQuota",
    "WithinBudget": "Budget",
    "WithinLimits": "Limits",
    "Calibrated": "Calibrate",
}


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
        cond = {
            "type": ctype,
            "status": v.status,
            "reason": v.reason,
            "message": v.message,
            "lastTransitionTime": prev.get("lastTransitionTime")
            if not changed and prev.get("lastTransitionTime")
            else now,
        }
        if generation is not None:
            cond["observedGeneration"] = generation
        out.append(cond)
    return out


def ready(verdicts: dict[str, Verdict]) -> Verdict:
    """Ready when planned and the node pools and quota are applied; otherwise the first problem."""
    for ctype in ("Planned", "NodePoolsReady", "QuotaApplied"):
        v = verdicts.get(ctype)
        if v is not None and v.status != "True":
            return Verdict("False", v.reason, v.message)
    return Verdict("True", "Ready", "capacity planned and applied")


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
    plan = dict(d["plan"])
    plan["resourceName"] = applied.accelerator.resource_name
    plan["explanation"] = d["explanation"]
    cost = dict(d["cost"])
    cost["monthlyDisplay"] = money_display(applied.cost.monthly, applied.cost.currency)
    out: dict[str, Any] = {
        "demand": {
            "requestsPerSecond": f"{demand['requestsPerSecond']:g}",
            "outputTokensPerSecond": f"{demand['outputTokensPerSecond']:g}",
            "inputTokens": demand["inputTokens"],
            "outputTokens": demand["outputTokens"],
            "display": f"{demand['requestsPerSecond']:g} req/s",
            "source": "spec",
        },
        "plan": plan,
        "cost": cost,
        "alternatives": [option_summary(a) for a in p.alternatives[:3]],
        "rejected": d["rejected"],
    }
    if "budget" in d:
        out["budget"] = d["budget"]
    return out


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
    planned = after.get("Planned")
    if planned is not None:
        prev = before.get("Planned")
        if planned["status"] == "False":
            if prev is None or prev["status"] != "False" or prev["reason"] != planned["reason"]:
                out.append(Event("Warning", planned["reason"], planned["message"], ACTIONS["Planned"]))
        elif plan_changed(old, new):
            reason = "Replanned" if _plan_key(old) is not None else "Planned"
            out.append(Event("Normal", reason, planned["message"], ACTIONS["Planned"]))
    for ctype in ("NodePoolsReady", "QuotaApplied", "WithinBudget", "WithinLimits", "Calibrated"):
        cond, prev = after.get(ctype), before.get(ctype)
        if cond is None:
            continue
        if cond["status"] == "False" and (
            prev is None or (prev["status"], prev["reason"]) != ("False", cond["reason"])
        ):
            out.append(Event("Warning", cond["reason"], cond["message"], ACTIONS.get(ctype, "Reconcile")))
        elif cond["status"] == "True" and prev is not None and prev["status"] == "False":
            out.append(Event("Normal", cond["reason"], cond["message"], ACTIONS.get(ctype, "Reconcile")))
    return out
