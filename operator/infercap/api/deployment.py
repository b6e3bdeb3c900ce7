"""The ModelDeployment API (infercap.dev/v1alpha1): a model, its traffic and targets."""

from __future__ import annotations

from decimal import Decimal
from enum import StrEnum
from typing import Annotated, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BeforeValidator, Field, PlainSerializer, WithJsonSchema, field_validator, model_validator

from infercap.api.calibration import SELECTOR_PATTERN, Calibration, Engine
from infercap.api.catalog import CatalogId
from infercap.api.serving import Capacity, ScaleTargetRef, Serving
from infercap.api.types import ApiModel, Bounded, Precision, decimal_json, decimal_schema, to_decimal

Headroom = Annotated[
    Decimal,
    BeforeValidator(to_decimal),
    Field(ge=0, lt=Decimal("0.95")),
    PlainSerializer(decimal_json, return_type=str),
    WithJsonSchema(decimal_schema(ge=0, lt=Decimal("0.95"))),
]

Attainment = Annotated[
    Decimal,
    BeforeValidator(to_decimal),
    Field(ge=Decimal("0.5"), lt=1),
    PlainSerializer(decimal_json, return_type=str),
    WithJsonSchema(decimal_schema(ge=Decimal("0.5"), lt=1)),
]


# Upper bounds of every number a tenant writes: far above any real deployment (a million requests per
# second is the whole traffic of the largest LLM APIs), and they keep the planner's input space finite.
MAX_REQUESTS_PER_SECOND = 1_000_000
MAX_OUTPUT_TOKENS_PER_SECOND = 1_000_000_000
MAX_STREAM_TOKENS_PER_SECOND = 100_000
MAX_MONTHLY_COST = 10_000_000_000
_SPLIT = "split the traffic over several ModelDeployments"
RequestRate = Annotated[Decimal, Bounded(gt=0, le=MAX_REQUESTS_PER_SECOND, places=6, hint=_SPLIT)]
TokenRate = Annotated[Decimal, Bounded(gt=0, le=MAX_OUTPUT_TOKENS_PER_SECOND, places=6, hint=_SPLIT)]
StreamRate = Annotated[
    Decimal, Bounded(gt=0, le=MAX_STREAM_TOKENS_PER_SECOND, places=3, hint="no decoder is this fast")
]
Money = Annotated[Decimal, Bounded(gt=0, le=MAX_MONTHLY_COST, places=2, hint="omit spec.budget for no budget")]


class Traffic(ApiModel):
    """The load to plan for: exactly one of requestsPerSecond or outputTokensPerSecond, and the mean
    request shape."""

    requests_per_second: RequestRate | None = Field(
        default=None, description="Mean requests per second to serve (e.g. 40 or '2.5')."
    )
    output_tokens_per_second: TokenRate | None = Field(
        default=None,
        description="Mean generated tokens per second to serve, all requests together; an alternative to "
        "requestsPerSecond.",
    )
    input_tokens: int = Field(ge=1, le=10_000_000, description="Mean input (prompt) tokens per request.")
    output_tokens: int = Field(ge=1, le=1_000_000, description="Mean output (generated) tokens per request.")

    @model_validator(mode="after")
    def _one_unit(self) -> Traffic:
        if (self.requests_per_second is None) == (self.output_tokens_per_second is None):
            raise ValueError("set exactly one of requestsPerSecond or outputTokensPerSecond")
        return self

    @property
    def rps(self) -> float:
        """Requests per second, whichever unit was given."""
        if self.requests_per_second is not None:
            return float(self.requests_per_second)
        assert self.output_tokens_per_second is not None
        return float(self.output_tokens_per_second) / self.output_tokens


class Slo(ApiModel):
    """Latency targets every replica must meet at its planned batch."""

    time_to_first_token_ms: int | None = Field(
        default=None, ge=1, le=600_000, description="Target time to first token (prefill), milliseconds."
    )
    output_tokens_per_second_per_stream: StreamRate | None = Field(
        default=None,
        description="Decode speed each user sees, tokens per second (= 1000 / time per output token in ms).",
    )


class Budget(ApiModel):
    """A ceiling on spend; a plan above it is capped, and WithinBudget=False says by how much."""

    max_monthly_cost: Money = Field(description="Most the deployment may cost per month (730 h).")
    currency: str = Field(default="USD", pattern=r"^[A-Z]{3}$", description="ISO 4217 currency code.")


class Provider(StrEnum):
    KARPENTER = "karpenter"
    CLUSTERAPI = "clusterapi"
    GKE = "gke"
    NONE = "none"


class NodePoolSpec(ApiModel):
    """Where the planned nodes come from; unset fields fall back to the operator's configuration."""

    provider: Provider | None = Field(
        default=None, description="karpenter, clusterapi, gke or none (plan and status only)."
    )
    node_class: str | None = Field(
        default=None, max_length=253, description="karpenter: name of the NodeClass the NodePool references."
    )
    cluster_name: str | None = Field(
        default=None, max_length=63, description="clusterapi: Cluster name; gke: name of the ContainerCluster."
    )
    namespace: str | None = Field(
        default=None, max_length=63, description="clusterapi and gke: namespace of the node-pool objects."
    )


class DemandUnit(StrEnum):
    REQUESTS_PER_SECOND = "requestsPerSecond"
    OUTPUT_TOKENS_PER_SECOND = "outputTokensPerSecond"


class PrometheusMetric(ApiModel):
    """A PromQL query whose single value is the current demand, sent to a Prometheus the admin allowed."""

    source: str | None = Field(
        default=None,
        pattern=r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$",
        max_length=63,
        description="Name of a Prometheus source in the operator configuration (prometheus.sources).",
    )
    url: str | None = Field(
        default=None,
        pattern=r"^https?://[^\s/?#@]+(/[^\s?#]*)?$",
        max_length=2048,
        description="Prometheus base URL on a host the operator configuration allows (prometheus.allowedHosts); "
        "prefer source.",
    )
    query: str = Field(
        min_length=1,
        max_length=4096,
        description="PromQL returning one value, e.g. sum(rate(vllm:request_success_total[1m])).",
    )
    unit: DemandUnit = Field(
        default=DemandUnit.REQUESTS_PER_SECOND,
        description="What the query measures: requestsPerSecond or outputTokensPerSecond.",
    )

    @model_validator(mode="after")
    def _one_target(self) -> PrometheusMetric:
        if (self.source is None) == (self.url is None):
            raise ValueError("set exactly one of source or url")
        return self


class MetricSource(ApiModel):
    """Where live demand comes from."""

    prometheus: PrometheusMetric = Field(description="A Prometheus query.")


# Sloth's placeholder for the query range; the operator puts the interval since its last decision there.
_WINDOW = r"\{\{\.window\}\}"


class SliQueries(ApiModel):
    """The SLI as a ratio of good to total events (OpenSLO's ratioMetric, Sloth's queries): two PromQL
    queries whose single values count requests over the range `{{.window}}`."""

    good: str = Field(
        min_length=1,
        max_length=4096,
        pattern=_WINDOW,
        description="PromQL counting the requests that met the SLO over {{.window}}, e.g. "
        'sum(increase(my_ttft_seconds_bucket{le="1.0"}[{{.window}}])).',
    )
    total: str = Field(
        min_length=1,
        max_length=4096,
        pattern=_WINDOW,
        description="PromQL counting every request over {{.window}}, e.g. "
        "sum(increase(my_ttft_seconds_count[{{.window}}])).",
    )


class Sli(ApiModel):
    """Where the error budget's account comes from: the requests that met the SLO, measured, instead of the
    queueing model's estimate. Without `prometheus`, infercap counts them from the serving engine's own
    TTFT (and, for vLLM, per-request TPOT) histograms, within this namespace; a failed read falls back to
    the estimate for that interval (SliObserved=False)."""

    source: str = Field(
        pattern=r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$",
        max_length=63,
        description="Name of a Prometheus source in the operator configuration (prometheus.sources); no URL.",
    )
    engine: Engine | None = Field(
        default=None,
        description="Whose histograms to read: vllm or sglang. Default: spec.serving.engine (the engine "
        "infercap renders); required with scaleTargetRef unless prometheus is set.",
    )
    selector: str | None = Field(
        default=None,
        max_length=1024,
        pattern=SELECTOR_PATTERN,
        description='PromQL label matchers of this deployment\'s engine series, e.g. model_name="llama". '
        'Default and always: namespace="<this namespace>".',
    )
    prometheus: SliQueries | None = Field(
        default=None, description="The good and total queries, instead of the engine's histograms."
    )
    min_window_seconds: int = Field(
        default=60,
        ge=5,
        le=3600,
        description="Shortest query range (at least two scrape intervals); a longer range than the interval "
        "since the last decision is scaled down to it.",
    )

    @model_validator(mode="after")
    def _one_kind(self) -> Sli:
        if self.prometheus is not None and (self.engine is not None or self.selector is not None):
            raise ValueError(
                "engine and selector apply to the engine's histograms; with prometheus, write the matchers into "
                "its queries"
            )
        return self


class Weekday(StrEnum):
    MON = "Mon"
    TUE = "Tue"
    WED = "Wed"
    THU = "Thu"
    FRI = "Fri"
    SAT = "Sat"
    SUN = "Sun"


CLOCK_PATTERN = r"^([01][0-9]|2[0-3]):[0-5][0-9]$"  # HH:MM, 24-hour
# An IANA tz database name's shape (Europe/Berlin, America/Argentina/Buenos_Aires, UTC, Etc/GMT+5); whether
# the database knows it is the validator's check, since the CRD cannot list every zone.
ZONE_PATTERN = r"^[A-Za-z][A-Za-z0-9_+-]*(/[A-Za-z0-9_+-]+)*$"
MAX_SCHEDULE_WINDOWS = 32


class ScheduleWindow(ApiModel):
    """A recurring window of known demand (business hours, a nightly batch): while it is open, and one
    provisioning delay before, the autoscaler plans for at least its rate."""

    name: str | None = Field(
        default=None,
        min_length=1,
        max_length=63,
        pattern=r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$",
        description="What the window is, for status and messages (default: its index, schedule[i]).",
    )
    days: list[Weekday] = Field(
        default_factory=lambda: list(Weekday),
        min_length=1,
        max_length=7,
        description="Days the window opens on (Mon..Sun), in its time zone; a window past midnight belongs to "
        "the day it opens. Default: every day.",
    )
    start: str = Field(pattern=CLOCK_PATTERN, description="Local time it opens, HH:MM (24-hour).")
    end: str = Field(
        pattern=CLOCK_PATTERN,
        description="Local time it closes, HH:MM; at or before start, it closes on the next day (22:00 to 06:00).",
    )
    time_zone: str = Field(
        default="UTC",
        min_length=1,
        max_length=64,
        pattern=ZONE_PATTERN,
        description="IANA time zone of start and end, e.g. Europe/Berlin (daylight saving time follows it).",
    )
    requests_per_second: RequestRate = Field(
        description="The least demand to plan for while the window is open (requests per second)."
    )

    @field_validator("time_zone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(
                "unknown time zone; use an IANA tz database name such as Europe/Berlin, America/New_York or UTC"
            ) from None
        return value

    @model_validator(mode="after")
    def _days_once(self) -> ScheduleWindow:
        if len(set(self.days)) != len(self.days):
            raise ValueError("days lists a day twice")
        return self


class Autoscaling(ApiModel):
    """Plan for live demand instead of spec.traffic's rate (the request shape still comes from
    spec.traffic): up at once, down after the stabilization window in bounded steps, holding the last
    plan when the metric is missing or stale."""

    metric: MetricSource = Field(description="The live demand signal.")
    min_replicas: int = Field(default=1, ge=1, le=10_000, description="Fewest replicas, whatever the demand.")
    max_replicas: int | None = Field(default=None, ge=1, le=10_000, description="Most replicas (default: no limit).")
    scale_down_stabilization_seconds: int = Field(
        default=300, ge=0, le=86_400, description="Scale down only below what this window needed."
    )
    provisioning_seconds: int = Field(
        default=300,
        ge=0,
        le=7_200,
        description="Node start plus model load: scale-up plans for the demand expected this far ahead.",
    )
    stale_after_seconds: int = Field(
        default=120, ge=10, le=86_400, description="A metric older than this holds the last plan."
    )
    target_attainment: Attainment = Field(
        default=Decimal("0.995"),
        description="Share of requests that should meet spec.slo: sizes the policy's queueing margin.",
    )
    sli: Sli | None = Field(
        default=None,
        description="Measure the error budget's misses (default: estimated by the queueing model).",
    )
    schedule: list[ScheduleWindow] = Field(
        default_factory=list,
        max_length=MAX_SCHEDULE_WINDOWS,
        description="Windows of known demand: while one is open (and one provisioningSeconds before), plan for "
        "at least its requestsPerSecond; the largest open window wins.",
    )

    @model_validator(mode="after")
    def _bounds(self) -> Autoscaling:
        if self.max_replicas is not None and self.max_replicas < self.min_replicas:
            raise ValueError("maxReplicas must be at least minReplicas")
        names = [w.name for w in self.schedule if w.name is not None]
        if len(set(names)) != len(names):
            raise ValueError("schedule names a window twice; give each window its own name")
        return self


class ModelDeploymentSpec(ApiModel):
    """What to serve and for how much traffic; infercap plans accelerators, nodes and cost from it."""

    model: CatalogId = Field(
        description="Catalog id of the model: built-in (infercap catalog models) or a ModelProfile."
    )
    precision: Precision | None = Field(
        default=None, description="Weight precision: bf16, fp8 or fp4. Default: the model's native precision."
    )
    kv_cache_precision: Precision | None = Field(
        default=None,
        description="KV-cache precision: bf16 or fp8. Default: fp8 when weights are fp8 or fp4, else bf16.",
    )
    traffic: Traffic = Field(description="The load to plan for.")
    slo: Slo = Field(default_factory=Slo, description="Latency targets.")
    accelerators: list[CatalogId] = Field(
        default_factory=list,
        max_length=32,
        description="Candidate accelerator ids; empty: every catalog accelerator the model fits.",
    )
    headroom: Headroom = Field(
        default=Decimal("0.2"),
        description="Spare capacity to keep, as a fraction of planned capacity (0.2 = run at 80 %).",
    )
    budget: Budget | None = Field(default=None, description="Optional spending ceiling.")
    autoscaling: Autoscaling | None = Field(
        default=None, description="Follow live demand from a metric (spec.traffic then gives the request shape)."
    )
    node_pool: NodePoolSpec = Field(default_factory=NodePoolSpec, description="Node-pool provider settings.")
    # The workload on the planned nodes: one that infercap renders, or one the user runs that it scales.
    serving: Serving | None = Field(default=None, description="Run this model server on the planned nodes.")
    scale_target_ref: ScaleTargetRef | None = Field(
        default=None, description="Scale this existing workload (through its scale subresource) to the plan."
    )
    capacity: Capacity = Field(default_factory=Capacity, description="How the node pools hold capacity.")
    calibration: Calibration | None = Field(
        default=None, description="Compare the engine's metrics with the model, and optionally correct the plan."
    )

    @model_validator(mode="after")
    def _kv_precision(self) -> ModelDeploymentSpec:
        if self.kv_cache_precision == Precision.FP4:
            raise ValueError("kvCachePrecision must be bf16 or fp8")
        if len(set(self.accelerators)) != len(self.accelerators):
            raise ValueError("accelerators lists an id twice")
        if self.serving is not None and self.scale_target_ref is not None:
            raise ValueError("set serving or scaleTargetRef, not both")
        return self


class ObjectMeta(ApiModel):
    """The parts of Kubernetes metadata the CLI reads."""

    model_config = ApiModel.model_config | {"extra": "allow"}
    name: str = Field(min_length=1, max_length=253)
    namespace: str | None = None


class ModelDeployment(ApiModel):
    """A ModelDeployment manifest as a user writes it."""

    model_config = ApiModel.model_config | {"extra": "ignore"}
    api_version: Literal["infercap.dev/v1alpha1"] = Field(alias="apiVersion")
    kind: Literal["ModelDeployment"]
    metadata: ObjectMeta
    spec: ModelDeploymentSpec
