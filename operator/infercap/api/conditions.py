"""Condition types, condition reasons and event actions of a ModelDeployment, and the API's length limits
on their messages: the one place these strings are spelled (a typo in a literal is a silent new reason;
a typo in a constant is a NameError).

Plain `Final[str]` constants on namespace classes, not enums: the values travel into JSON, YAML and
Kubernetes objects as ordinary strings.
"""

from __future__ import annotations

from typing import Final


class Cond:
    """Condition types (status.conditions[].type), in the order the status lists them."""

    READY: Final = "Ready"
    PLANNED: Final = "Planned"
    NODE_POOLS_READY: Final = "NodePoolsReady"
    QUOTA_APPLIED: Final = "QuotaApplied"
    WITHIN_BUDGET: Final = "WithinBudget"
    WITHIN_LIMITS: Final = "WithinLimits"
    DEMAND_OBSERVED: Final = "DemandObserved"
    SERVING: Final = "Serving"
    CAPACITY_MATCHES_PLAN: Final = "CapacityMatchesPlan"
    SCALED_BY_OTHERS: Final = "ScaledByOthers"
    CALIBRATED: Final = "Calibrated"
    SLI_OBSERVED: Final = "SliObserved"


CONDITION_TYPES: Final = (
    Cond.READY,
    Cond.PLANNED,
    Cond.NODE_POOLS_READY,
    Cond.QUOTA_APPLIED,
    Cond.WITHIN_BUDGET,
    Cond.WITHIN_LIMITS,
    Cond.DEMAND_OBSERVED,
    Cond.SERVING,
    Cond.CAPACITY_MATCHES_PLAN,
    Cond.SCALED_BY_OTHERS,
    Cond.CALIBRATED,
    Cond.SLI_OBSERVED,
)


class Reason:
    """Condition reasons infercap sets (PascalCase, as the API asks). Reasons that come from elsewhere
    (a PlanError's, the API server's, the autoscaler's decision) pass through unchanged."""

    # Ready / Planned
    READY: Final = "Ready"
    PLANNED: Final = "Planned"
    REPLANNED: Final = "Replanned"  # event only
    INVALID_SPEC: Final = "InvalidSpec"
    PLAN_TIMEOUT: Final = "PlanTimeout"
    PLAN_FAILED: Final = "PlanFailed"
    POLICY_INVALID: Final = "PolicyInvalid"
    NO_POLICY: Final = "NoPolicy"
    # NodePoolsReady
    APPLIED: Final = "Applied"
    APPLY_FAILED: Final = "ApplyFailed"
    NAME_CONFLICT: Final = "NameConflict"
    NO_PROVIDER: Final = "NoProvider"
    PAUSED: Final = "Paused"
    NOTHING_AFFORDABLE: Final = "NothingAffordable"
    PROVIDER_UNSUPPORTED: Final = "ProviderUnsupported"
    PROVIDER_DISABLED: Final = "ProviderDisabled"
    PROVIDER_CANNOT_CREATE: Final = "ProviderCannotCreate"  # a rejected accelerator
    ENGINE_UNSUPPORTED: Final = "EngineUnsupported"  # a rejected accelerator
    TARGET_NOT_ALLOWED: Final = "TargetNotAllowed"
    NODE_POOL_NOT_READY: Final = "NodePoolNotReady"
    NODE_POOL_PENDING: Final = "NodePoolPending"
    # QuotaApplied
    DISABLED: Final = "Disabled"
    # WithinBudget / WithinLimits
    NO_BUDGET: Final = "NoBudget"
    WITHIN_BUDGET: Final = "WithinBudget"
    OVER_BUDGET: Final = "OverBudget"
    WITHIN_LIMITS: Final = "WithinLimits"
    CAPPED_BY_POLICY: Final = "CappedByPolicy"
    # DemandObserved
    OBSERVED: Final = "Observed"
    WAITING: Final = "Waiting"
    # Serving / ScaledByOthers
    SERVING: Final = "Serving"
    PROGRESSING: Final = "Progressing"
    TARGET_NOT_FOUND: Final = "TargetNotFound"
    TARGET_UNREADABLE: Final = "TargetUnreadable"
    SCALE_FAILED: Final = "ScaleFailed"
    OTHER_SCALER_DETECTED: Final = "OtherScalerDetected"
    NO_OTHER_SCALER: Final = "NoOtherScaler"
    # CapacityMatchesPlan
    MATCHES: Final = "Matches"
    MORE_THAN_PLANNED: Final = "MoreThanPlanned"
    NODES_PENDING: Final = "NodesPending"
    INSTANCE_TYPE_MISMATCH: Final = "InstanceTypeMismatch"
    OBSERVE_FAILED: Final = "ObserveFailed"
    # Calibrated (the engine's metrics against the model; reasons of egress failures pass through)
    CORRECTING: Final = "Correcting"
    OBSERVING: Final = "Observing"
    NO_LOAD: Final = "NoLoad"
    LOW_LOAD: Final = "LowLoad"
    NO_PLAN: Final = "NoPlan"
    NO_READER: Final = "NoReader"
    PLAN_CHANGED: Final = "PlanChanged"  # the engine's series still mix replicas of the previous plan
    SELECTOR_OUTSIDE_NAMESPACE: Final = "SelectorOutsideNamespace"  # another tenant's engines: nothing sent
    # SliObserved (spec.autoscaling.sli; egress reasons pass through): False leaves the interval's account
    # to the queueing model's estimate, the demand decision goes on
    MEASURED: Final = "Measured"
    SLI_UNAVAILABLE: Final = "SliUnavailable"  # the queries failed or returned no series
    SLI_UNSUPPORTED: Final = "SliUnsupported"  # no SLI can be built for this spec (engine, target, buckets)


# NodePoolsReady reasons for a plan infercap refused to apply (not a transient failure): such a plan gets
# no quota, so a namespace never holds quota for capacity it was not given.
NOT_APPLIED: Final = frozenset(
    {
        Reason.NOTHING_AFFORDABLE,
        Reason.NAME_CONFLICT,
        Reason.PROVIDER_UNSUPPORTED,
        Reason.TARGET_NOT_ALLOWED,
        Reason.PROVIDER_DISABLED,
    }
)


class Action:
    """What infercap was doing when it posted an event (events.k8s.io/v1 `action`)."""

    RECONCILE: Final = "Reconcile"
    PLAN: Final = "Plan"
    APPLY_NODE_POOLS: Final = "ApplyNodePools"
    APPLY_QUOTA: Final = "ApplyQuota"
    BUDGET: Final = "Budget"
    LIMITS: Final = "Limits"
    CALIBRATE: Final = "Calibrate"


class EventType:
    NORMAL: Final = "Normal"
    WARNING: Final = "Warning"


# The API's limits: metav1.Condition.message is at most 32768 bytes; an events.k8s.io/v1 note at most
# 1 kB; an event's reason and action at most 128 characters.
CONDITION_MESSAGE_LIMIT: Final = 32768
EVENT_NOTE_LIMIT: Final = 1024
EVENT_FIELD_LIMIT: Final = 128
_MARK = "..."


def truncate(text: str, limit: int) -> str:
    """`text` cut to at most `limit` UTF-8 bytes, the cut marked with "...", never splitting a character
    (the API server counts bytes: a message of 32768 non-ASCII characters is rejected)."""
    raw = text.encode()
    if len(raw) <= limit:
        return text
    keep = raw[: max(limit - len(_MARK), 0)].decode(errors="ignore")  # drops a split trailing character
    return keep + _MARK[: limit - len(keep.encode())]
