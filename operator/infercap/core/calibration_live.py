"""Online calibration from the serving engine's metrics, the pure part: the PromQL of one sample window
(vLLM or SGLang metric names), the Sample those readings make, and the per-accelerator filter state as
status keeps it (status.observed.calibration).

The sample compares the replica the applied plan runs (its accelerator and size) at the batch the
engine reports with the model's uncorrected step time at that batch, so the filter estimates the
model's own error and a correction never feeds back into its next measurement.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from infercap.core.compute import Replica, Workload
from infercap.core.correction import Correction, FilterParams, Sample, engine_sample, prediction_error, update

MAX_FILTERS = 8  # accelerators remembered per deployment (a plan that moves back finds its correction)

# What tells one serving replica from another: its pod (with its namespace), and the scrape target for a
# target that is not a pod. Not the series: vLLM exports one series per data-parallel rank (label `engine`,
# 0..DP-1, all from the one API server of the replica) and SGLang one per rank too, so counting series
# counts ranks. Infercap renders one vLLM or SGLang server per replica, whatever its data-parallel size.
REPLICA_LABELS = ("namespace", "pod", "instance")

# Metric names by engine: running requests (gauge), generated tokens (counter, or a tokens/s gauge),
# decode step (histogram), KV-cache usage (gauge, 0-1). Where an engine renamed a metric, both names are
# read: vLLM 0.11 renamed vllm:time_per_output_token_seconds to vllm:inter_token_latency_seconds (same
# observations, so a scrape of both still averages the same steps; the old one is gone since 0.13) and
# vllm:gpu_cache_usage_perc to vllm:kv_cache_usage_perc.
ENGINE_METRICS: dict[str, dict[str, tuple[str, ...]]] = {
    "vllm": {
        "running": ("vllm:num_requests_running",),
        "tokens": ("vllm:generation_tokens_total",),
        "tpot": ("vllm:inter_token_latency_seconds", "vllm:time_per_output_token_seconds"),
        "kv": ("vllm:kv_cache_usage_perc", "vllm:gpu_cache_usage_perc"),
    },
    "sglang": {
        "running": ("sglang:num_running_reqs",),
        "tokens": ("sglang:gen_throughput",),  # a gauge of tokens/s, not a counter
        "tpot": ("sglang:time_per_output_token_seconds",),
        "kv": ("sglang:token_usage",),
    },
}


def series(names: tuple[str, ...], selector: str, suffix: str = "") -> str:
    """A selector of the metric under any of its names, each as the engine writes it (vllm:x) or with the
    colon escaped (vllm_x): recent prometheus-client versions escape colons when the scraper negotiates
    OpenMetrics 1.0."""
    spelled = [n + suffix for n in names]
    alternatives = "|".join([*spelled, *(n.replace(":", "_") for n in spelled)])
    return '{__name__=~"' + alternatives + '", ' + selector + "}"


def queries(engine: str, selector: str, window_seconds: int) -> dict[str, str]:
    """The instant queries of one sample: totals over every replica the selector matches (replicas are
    distinct pods, not series: see REPLICA_LABELS)."""
    m = ENGINE_METRICS[engine]
    w = f"[{int(window_seconds)}s]"
    running, kv, tokens = (series(m[k], selector) for k in ("running", "kv", "tokens"))
    tpot_sum, tpot_count = series(m["tpot"], selector, "_sum"), series(m["tpot"], selector, "_count")
    return {
        "replicas": f"count(count by ({', '.join(REPLICA_LABELS)}) ({running}))",
        "running": f"sum(avg_over_time({running}{w}))",
        "tokens": f"sum(avg_over_time({tokens}{w}))" if engine == "sglang" else f"sum(rate({tokens}{w}))",
        "tpot": f"sum(rate({tpot_sum}{w})) / sum(rate({tpot_count}{w}))",
        "kv": f"avg(avg_over_time({kv}{w}))",
    }


class SelectorOutsideNamespace(ValueError):
    """spec.calibration.selector names a namespace other than the ModelDeployment's own."""


_MATCHER = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)\s*(=~|!~|!=|=)\s*"([^"\\{}]*)"')


def scoped_selector(selector: str | None, namespace: str, field: str = "spec.calibration.selector") -> str:
    """The selector the queries use: the user's matchers, always within the ModelDeployment's own namespace.
    Without a namespace matcher `namespace="<own>"` is added; a namespace matcher that is anything but that
    (another namespace, a regex, a negation) is refused: a tenant may read its own engines only.
    The selector has passed SELECTOR_PATTERN (label matchers only), so matching its matchers is exact."""
    own = f'namespace="{namespace}"'
    if not selector:
        return own
    named = [(op, value) for label, op, value in _MATCHER.findall(selector) if label == "namespace"]
    if not named:
        return f"{selector}, {own}"
    if all(op == "=" and value == namespace for op, value in named):
        return selector
    op, value = next((op, v) for op, v in named if (op, v) != ("=", namespace))
    raise SelectorOutsideNamespace(
        f'{field} matches namespace{op}"{value}": the operator reads the engine metrics of this '
        f'ModelDeployment\'s namespace only; drop the namespace matcher (namespace="{namespace}" is added) or '
        f'write namespace="{namespace}"'
    )


def mixed_window(change: float | None, now: float, window_seconds: int) -> bool:
    """Whether the window ending `now` began before the applied replica last changed (epoch seconds):
    its averages then mix the old replicas and the new, and belong to neither accelerator."""
    return change is not None and now - window_seconds < change


@dataclass(frozen=True)
class Readings:
    """One window's values; tpot and kv are optional (the step time then comes from batch / tokens)."""

    replicas: float
    running: float
    tokens_per_second: float
    tpot_s: float | None = None
    kv_usage: float | None = None


def sample_of(replica: Replica, work: Workload, r: Readings) -> Sample | None:
    """The Sample these readings make for `replica`, or None when no replica reports load."""
    n = round(r.replicas)
    tpot = r.tpot_s if r.tpot_s is not None and math.isfinite(r.tpot_s) and r.tpot_s > 0 else None
    return engine_sample(
        replica,
        work,
        replicas=n,
        running_requests=r.running,
        generation_tokens_per_second=r.tokens_per_second,
        time_per_output_token_s=tpot,
    )


def filters(block: Mapping[str, Any] | None, params: FilterParams) -> dict[str, Correction]:
    """The filter of each accelerator, from status (a malformed entry starts afresh)."""
    out: dict[str, Correction] = {}
    for f in (block or {}).get("filters") or []:
        try:
            acc = str(f["accelerator"])
            log_ratio, variance = float(f["logRatio"]), float(f["variance"])
            samples, ignored = int(f.get("samples", 0)), int(f.get("ignored", 0))
        except (KeyError, TypeError, ValueError):
            continue
        lo, hi = math.log(params.min_ratio), math.log(params.max_ratio)
        if not (math.isfinite(log_ratio) and math.isfinite(variance) and variance > 0):
            continue
        # Bounded on the way in too: status is writable by whoever may patch it.
        out[acc] = Correction(min(max(log_ratio, lo), hi), variance, max(0, samples), max(0, ignored))
    return out


def filters_doc(states: Mapping[str, Correction], current: str | None) -> list[dict[str, Any]]:
    """Status form of the filters, the current accelerator's first, at most MAX_FILTERS."""
    order = sorted(states, key=lambda a: (a != current, a))[:MAX_FILTERS]
    return [
        {
            "accelerator": a,
            "logRatio": round(states[a].log_ratio, 6),
            "variance": round(states[a].variance, 8),
            "samples": states[a].samples,
            "ignored": states[a].ignored,
        }
        for a in order
    ]


def fold(state: Correction, sample: Sample | None, params: FilterParams) -> Correction:
    """The filter after one window: an absent sample (nothing reported) counts as ignored."""
    if sample is None:
        return Correction(state.log_ratio, state.variance, state.samples, state.ignored + 1)
    return update(state, sample, params)


def sample_fields(sample: Sample, readings: Readings) -> dict[str, Any]:
    """The last sample as status shows it."""
    out: dict[str, Any] = {
        "predictionError": f"{prediction_error(sample):.4f}",
        "batchPerReplica": f"{sample.batch:.4g}",
        "observedStepSeconds": f"{sample.observed_step_s:.6g}",
        "predictedStepSeconds": f"{sample.predicted_step_s:.6g}",
        "replicas": round(readings.replicas),
    }
    if readings.kv_usage is not None and math.isfinite(readings.kv_usage):
        out["kvCacheUsage"] = f"{readings.kv_usage:.3f}"
    return out
