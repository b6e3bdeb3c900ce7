"""The ModelDeployment status: conditions, the plan with its explanation, cost, alternatives, budget."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal

from pydantic import ConfigDict, Field, ValidationError

from infercap.api.types import ApiModel


class Condition(ApiModel):
    """A Kubernetes-style condition; lastTransitionTime moves only when status changes."""

    type: str = Field(
        description="Ready, Planned, NodePoolsReady, QuotaApplied, WithinBudget, WithinLimits or DemandObserved."
    )
    status: Literal["True", "False", "Unknown"] = Field(description="True, False or Unknown.")
    reason: str = Field(pattern=r"^[A-Z][A-Za-z0-9]*$", description="PascalCase reason.")
    message: str = Field(default="", description="What happened and, for problems, how to fix it.")
    last_transition_time: str = Field(
        description="When status last changed (RFC 3339).", json_schema_extra={"format": "date-time"}
    )
    observed_generation: int | None = Field(default=None, description="Spec generation the condition is for.")


class Open(ApiModel):
    """A status object whose finer fields follow the plan report (kept, not validated)."""

    model_config = ConfigDict(extra="allow")


class Demand(ApiModel):
    """The demand the plan serves."""

    requests_per_second: str = Field(description="Requests per second planned for.")
    output_tokens_per_second: str = Field(description="Output tokens per second planned for.")
    input_tokens: int = Field(description="Mean input tokens per request.")
    output_tokens: int = Field(description="Mean output tokens per request.")
    display: str = Field(description="The traffic in short, for kubectl get.")
    source: str = Field(default="spec", description="spec (spec.traffic) or metric (observed).")


class PlanStatus(ApiModel):
    """The applied plan."""

    model_config = ConfigDict(extra="allow")
    accelerator: str = Field(description="Chosen accelerator id.")
    chips_per_replica: int = Field(description="Chips in one model replica.")
    replicas: int = Field(description="Model replicas planned.")
    nodes: int = Field(description="Nodes planned.")
    chips: int = Field(description="Chips on the planned nodes.")
    resource_name: str = Field(description="Kubernetes extended resource of the chips.")
    quota_chips: int | None = Field(
        default=None, description="Chips this plan adds to the namespace quota (planned plus rollout surge)."
    )
    source: str = Field(
        description="Where the throughput estimate comes from: analytic, calibrated, kernel-measured, measured."
    )
    parallelism: dict[str, int] = Field(default_factory=dict, description="Tensor/pipeline/expert sizes.")
    per_replica: Open = Field(default_factory=Open, description="Throughput, batch and latency of one replica.")
    memory: Open = Field(default_factory=Open, description="Weights, KV cache and capacity of one replica, GiB.")
    explanation: list[str] = Field(default_factory=list, description="How every number was derived.")


class Cost(ApiModel):
    """Cost of the applied plan (decimal strings)."""

    currency: str = Field(description="ISO 4217 currency.")
    hourly: str = Field(description="Cost per hour.")
    monthly: str = Field(description="Cost per month (730 h).")
    monthly_display: str = Field(default="", description="Monthly cost with its currency, for kubectl get.")
    per_million_output_tokens: str | None = Field(default=None, description="Cost per million output tokens.")
    api_hourly: str | None = Field(default=None, description="The same traffic through the vendor's API, per hour.")
    vs_api: str | None = Field(default=None, description="Self-hosted cost as a fraction of the API's.")


class BudgetStatus(ApiModel):
    """How the plan compares with spec.budget."""

    max_monthly_cost: str = Field(description="The budget.")
    currency: str = Field(description="ISO 4217 currency.")
    within_budget: bool = Field(description="Whether the full plan fits the budget.")
    unconstrained_monthly_cost: str = Field(description="What the traffic would cost without the budget.")
    affordable_replicas: int = Field(description="Replicas applied under the budget.")
    demand_coverage: float = Field(description="Share of demand the applied plan serves.")


class ErrorBudgetStatus(ApiModel):
    """The autoscaler's account of its SLO error budget (core.missbudget), kept across restarts."""

    since: str = Field(description="When the account opened (RFC 3339).")
    updated: str = Field(description="When it was last updated (RFC 3339).")
    requests: float = Field(description="Requests served, a sum decayed over the growth history.")
    misses: float = Field(description="Of them, measured or estimated to miss the SLO (same decay).")
    allowance: float = Field(description="The miss share the margins were sized for at the last decision.")
    source: Literal["measured", "estimated"] = Field(
        default="estimated",
        description="What the last interval added: measured (spec.autoscaling.sli) or estimated (queueing model).",
    )


class AutoscalingStatus(ApiModel):
    """Live demand and the autoscaler's last decision."""

    observed_requests_per_second: str | None = Field(default=None, description="Latest demand from the metric.")
    observed_time: str | None = Field(default=None, description="When it was observed (RFC 3339).")
    planned_requests_per_second: str = Field(description="Demand the capacity is planned for.")
    last_decision: str = Field(description="ScaleUp, ScaleDown, Hold, Stabilizing, StaleSignal or NoSignal.")
    last_decision_time: str = Field(description="When the planned demand last changed (RFC 3339).")
    message: str = Field(default="", description="Why.")
    last_scale_down_time: str | None = Field(default=None, description="When capacity last stepped down.")
    error_budget: ErrorBudgetStatus | None = Field(default=None, description="The SLO error budget's account.")
    scheduled_requests_per_second: str | None = Field(
        default=None,
        description="The floor spec.autoscaling.schedule sets now: the largest rate of the windows open within the "
        "next provisioningSeconds (absent when none is).",
    )
    schedule_window: str | None = Field(
        default=None, description="The window that sets it: its name, or schedule[i] for an unnamed one."
    )


class ChildRef(ApiModel):
    """An object infercap manages for this ModelDeployment."""

    api_version: str = Field(description="API version.")
    kind: str = Field(description="Kind.")
    name: str = Field(description="Name.")
    namespace: str | None = Field(default=None, description="Namespace (absent for cluster-scoped objects).")


class ObservedNode(ApiModel):
    """A node that exists for this ModelDeployment's pools."""

    name: str = Field(description="Node (or NodeClaim, until its node registers) name.")
    pool: str = Field(description="Node pool it belongs to.")
    instance_type: str = Field(default="", description="node.kubernetes.io/instance-type.")
    zone: str = Field(default="", description="topology.kubernetes.io/zone.")
    ready: bool = Field(description="Whether the node is Ready.")


class PendingPod(ApiModel):
    """A serving pod that is not running, and why."""

    name: str = Field(description="Pod name.")
    reason: str = Field(description="Why it waits, as the scheduler or Karpenter says.")


class ObservedCost(ApiModel):
    """What the nodes that exist cost: their instance types at catalog prices."""

    currency: str = Field(description="ISO 4217 currency.")
    hourly: str = Field(description="Cost per hour.")
    monthly: str = Field(description="Cost per month (730 h).")


class CalibrationFilter(ApiModel):
    """The correction filter of one accelerator: log of the observed/predicted step-time ratio."""

    accelerator: str = Field(description="Accelerator id the samples were taken on.")
    log_ratio: float = Field(description="Filter mean: log(observed step time / predicted step time).")
    variance: float = Field(description="Filter variance of logRatio.")
    samples: int = Field(default=0, description="Samples used.")
    ignored: int = Field(default=0, description="Samples left out (low load or invalid).")


class CalibrationStatus(ApiModel):
    """The model's prediction against what the engine reports (spec.calibration)."""

    mode: str = Field(description="observe or online.")
    engine: str = Field(description="vllm or sglang.")
    accelerator: str | None = Field(default=None, description="The applied plan's accelerator, sampled.")
    prediction_error: str | None = Field(
        default=None,
        description="Last sample: observed step time / the model's at the observed batch - 1 (+0.3: the model "
        "promised 30 % more capacity than the replicas deliver).",
    )
    factor: str | None = Field(default=None, description="Smoothed step-time correction (bounded to 0.5-2).")
    applied: bool = Field(default=False, description="Whether the plan divides replica throughput by factor.")
    batch_per_replica: str | None = Field(default=None, description="Last sample: running requests per replica.")
    observed_step_seconds: str | None = Field(default=None, description="Last sample: observed decode step.")
    predicted_step_seconds: str | None = Field(default=None, description="Last sample: the model's step.")
    replicas: int | None = Field(
        default=None, description="Last sample: serving replicas reporting (distinct pods, not data-parallel ranks)."
    )
    kv_cache_usage: str | None = Field(default=None, description="Last sample: mean KV-cache usage (0-1).")
    samples: int = Field(default=0, description="Samples used by the filter of this accelerator.")
    last_sample_time: str | None = Field(default=None, description="When the last query ran (RFC 3339).")
    selector: str | None = Field(
        default=None, description="The label matchers the last query used (always within this namespace)."
    )
    replica_key: str | None = Field(
        default=None, description="What one replica of the applied plan is: accelerator/chips/parallelism/engine."
    )
    plan_change_time: str | None = Field(
        default=None,
        description="When the replicas last changed kind (or the rollout of the change last ran): samples whose "
        "window starts earlier mix old and new replicas and are skipped.",
    )
    rollout_pending: bool | None = Field(
        default=None, description="The rollout of the last change of replica kind is still under way."
    )
    filters: list[CalibrationFilter] = Field(default_factory=list, description="Filter state by accelerator.")


class Observed(ApiModel):
    """What exists, next to the plan: nodes, serving replicas, pending pods, cost, and how the replicas'
    step time compares with the model's (calibration)."""

    nodes: list[ObservedNode] = Field(default_factory=list, description="Nodes of this ModelDeployment's pools.")
    nodes_ready: int = Field(default=0, description="Nodes that are Ready.")
    nodes_planned: int = Field(default=0, description="Nodes the plan needs.")
    replicas_desired: int | None = Field(default=None, description="Serving replicas the workload asks for.")
    replicas_ready: int | None = Field(default=None, description="Serving replicas that are ready.")
    pending_pods: list[PendingPod] = Field(default_factory=list, description="Serving pods not yet running.")
    cost: ObservedCost | None = Field(default=None, description="Hourly cost of the nodes that exist.")
    workload: str | None = Field(default=None, description="The workload serving the plan (kind/name).")
    calibration: CalibrationStatus | None = Field(
        default=None, description="Prediction error and correction, when spec.calibration is set."
    )


class ModelDeploymentStatus(ApiModel):
    """What infercap planned and applied for this ModelDeployment."""

    observed_generation: int | None = Field(default=None, description="Spec generation last reconciled.")
    # A map list keyed by type (the Kubernetes API conventions): one condition per type, and server-side
    # apply merges conditions by type instead of replacing the list.
    conditions: list[Condition] = Field(
        default_factory=list,
        description="Ready, Planned, NodePoolsReady, QuotaApplied, WithinBudget, DemandObserved: one per type.",
        json_schema_extra={"x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": ["type"]},
    )
    demand: Demand | None = Field(default=None, description="The demand planned for.")
    plan: PlanStatus | None = Field(default=None, description="The applied plan.")
    cost: Cost | None = Field(default=None, description="Cost of the applied plan.")
    alternatives: list[Open] = Field(default_factory=list, description="Next-best accelerators, cheapest first.")
    rejected: list[Open] = Field(default_factory=list, description="Accelerators that could not serve, and why.")
    budget: BudgetStatus | None = Field(default=None, description="Budget check, when spec.budget is set.")
    children: list[ChildRef] = Field(default_factory=list, description="Node pools and quota infercap manages.")
    autoscaling: AutoscalingStatus | None = Field(
        default=None, description="Live demand, when spec.autoscaling is set."
    )
    last_plan_time: str | None = Field(default=None, description="When the plan last changed (RFC 3339).")
    observed: Observed | None = Field(default=None, description="What exists: nodes, replicas, cost.")
    last_switch_time: str | None = Field(
        default=None, description="When the plan last moved to another accelerator (RFC 3339)."
    )


def dump(status: ModelDeploymentStatus | ApiModel) -> dict[str, Any]:
    """The wire form: camelCase, no nulls, and only the fields that were set (a default the operator did
    not write is not invented on the way back, so reading a status and dumping it changes nothing)."""
    return status.model_dump(mode="json", by_alias=True, exclude_none=True, exclude_unset=True)


def read(status: Mapping[str, Any] | None) -> ModelDeploymentStatus:
    """A status as read from the cluster, through the model. A block that does not validate (written by
    hand, or by another version of infercap) is left out rather than failing every reader of the object."""
    raw = dict(status or {})
    try:
        return ModelDeploymentStatus.model_validate(raw)
    except ValidationError:
        kept = {}
        for key, value in raw.items():
            try:
                ModelDeploymentStatus.model_validate({key: value})
            except ValidationError:
                continue
            kept[key] = value
        return ModelDeploymentStatus.model_validate(kept)
