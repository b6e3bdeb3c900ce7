"""spec.calibration: compare what the serving engine's replicas do with the model's prediction, from the
engine's own metrics in a Prometheus the admin named, and optionally correct the plan with it."""

from __future__ import annotations

from enum import StrEnum

from pydantic import Field

from infercap.api.types import ApiModel

# PromQL label matchers only (name="value", name=~"regex", ...), comma-separated: the operator builds the
# queries itself, so a selector cannot smuggle in another expression or a second query.
_MATCHER = r'[a-zA-Z_][a-zA-Z0-9_]*\s*(=|!=|=~|!~)\s*"[^"\\{}]*"'
SELECTOR_PATTERN = rf"^{_MATCHER}(\s*,\s*{_MATCHER})*$"


class CalibrationMode(StrEnum):
    OFF = "off"  # no queries
    OBSERVE = "observe"  # measure the prediction error, change nothing
    ONLINE = "online"  # measure it and plan with the corrected step time


class Engine(StrEnum):
    VLLM = "vllm"
    SGLANG = "sglang"


class Calibration(ApiModel):
    """Learn from the running replicas: the serving engine's running requests, generated tokens and time
    per output token, averaged over a window, against the model's step time at the same batch. The
    prediction error goes to status.observed.calibration and the infercap_prediction_error_ratio metric;
    in online mode a bounded, smoothed correction (a Kalman filter on the step-time ratio) divides the
    replica's predicted throughput."""

    mode: CalibrationMode = Field(
        default=CalibrationMode.OBSERVE,
        description="observe: report the prediction error only; online: also re-plan with the correction; "
        "off: send no query.",
    )
    source: str = Field(
        pattern=r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$",
        max_length=63,
        description="Name of a Prometheus source in the operator configuration (prometheus.sources) that "
        "scrapes the serving engine.",
    )
    engine: Engine = Field(
        default=Engine.VLLM,
        description="Which metric names to read: vllm (vllm:num_requests_running, vllm:generation_tokens_total, "
        "vllm:inter_token_latency_seconds or its old name vllm:time_per_output_token_seconds, "
        "vllm:kv_cache_usage_perc or vllm:gpu_cache_usage_perc) or sglang (sglang:num_running_reqs, "
        "sglang:gen_throughput, sglang:time_per_output_token_seconds, sglang:token_usage).",
    )
    selector: str | None = Field(
        default=None,
        max_length=1024,
        pattern=SELECTOR_PATTERN,
        description='PromQL label matchers selecting this deployment\'s engine series, e.g. namespace="prod", '
        'model_name="meta-llama/Llama-3.1-8B-Instruct". Default: namespace="<this namespace>".',
    )
    window_seconds: int = Field(
        default=120,
        ge=10,
        le=3600,
        description="Averaging window of one sample; at most one sample per window (taken at a reconcile).",
    )
    min_running_requests: int = Field(
        default=8,
        ge=1,
        le=100_000,
        description="Samples below this many running requests per replica are ignored: a nearly idle replica's "
        "step time says nothing about its capacity.",
    )
