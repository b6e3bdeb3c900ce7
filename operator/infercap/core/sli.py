"""The error budget's measured SLI, the pure part: the PromQL that counts the requests completed and those
that missed the SLO over one interval, and the (requests, misses) those counts make.

The SLI is a ratio of good to total events, as OpenSLO's ratioMetric and Sloth define it. Either the
user writes both queries (spec.autoscaling.sli.prometheus, with Sloth's `{{.window}}` placeholder), or
infercap builds them from the serving engine's own latency histograms:

- total: the TTFT histogram's `_count` (every request that got a first token);
- good TTFT: its bucket at `le` = the largest bucket bound <= spec.slo.timeToFirstTokenMs. A request
  between that bound and the target counts as a miss: conservative (the measured account can only
  overstate the misses, so it never loosens the margins more than the truth would); a target below the
  lowest bound has no such bucket and is refused (SliUnsupported), not rounded up;
- decode speed (spec.slo.outputTokensPerSecondPerStream): vLLM's per-request histogram of the mean time
  per output token, vllm:request_time_per_output_token_seconds (the v1 engine's; a release without it
  exports no such series, and the SLI then counts TTFT only and says so), at the largest bound <= 1 /
  the stream speed. SGLang has no per-request TPOT histogram (sglang:inter_token_latency_seconds
  observes each token gap, not each request), so for SGLang the SLI is TTFT only, and says so. The two
  histograms are not joint: a request slow on both counts twice, so misses = min(total, TTFT misses +
  TPOT misses), an upper bound of the requests that missed either (conservative again).

Counts over an interval are `increase()` over a range of at least `min_window` seconds (Prometheus needs
two scrapes in the range); a range longer than the interval is scaled down to it (the rate over the range
times the interval), so the account sums no request twice on average.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

from infercap.core.calibration_live import series

WINDOW = "{{.window}}"  # Sloth's placeholder for the query range

# Bucket upper bounds (seconds) of the engines' default histograms, and the metric names, as the engines'
# sources spell them:
# - vLLM, vllm/v1/metrics/loggers.py (PrometheusStatLogger; the same bounds in public /metrics
#   captures of several releases):
#   vllm:time_to_first_token_seconds [0.001, 0.005, 0.01, 0.02, 0.04, 0.06, 0.08, 0.1, 0.25, 0.5, 0.75,
#   1.0, 2.5, 5.0, 7.5, 10.0, 20.0, 40.0, 80.0, 160.0, 640.0, 2560.0];
#   vllm:request_time_per_output_token_seconds (per request) [0.01, 0.025, 0.05, 0.075, 0.1, 0.15, 0.2,
#   0.3, 0.4, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5, 10.0, 20.0, 40.0, 80.0].
# - SGLang, python/sglang/srt/metrics/collector.py (TokenizerMetricsCollector, default of
#   --bucket-time-to-first-token): sglang:time_to_first_token_seconds [0.1, 0.2, 0.4, 0.6, 0.8, 1, 2, 4,
#   6, 8, 10, 20, 40, 60, 80, 100, 200, 400]. Older SGLang releases had other defaults; a bound the
#   engine does not export matches no bucket series, and the SLI reads as unavailable, never as wrong.
VLLM_TTFT_BUCKETS = (
    0.001, 0.005, 0.01, 0.02, 0.04, 0.06, 0.08, 0.1, 0.25, 0.5, 0.75,
    1.0, 2.5, 5.0, 7.5, 10.0, 20.0, 40.0, 80.0, 160.0, 640.0, 2560.0,
)  # fmt: skip
VLLM_TPOT_BUCKETS = (
    0.01, 0.025, 0.05, 0.075, 0.1, 0.15, 0.2, 0.3, 0.4, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5, 10.0, 20.0, 40.0, 80.0,
)  # fmt: skip
SGLANG_TTFT_BUCKETS = (
    0.1, 0.2, 0.4, 0.6, 0.8, 1.0, 2.0, 4.0, 6.0, 8.0, 10.0, 20.0, 40.0, 60.0, 80.0, 100.0, 200.0, 400.0,
)  # fmt: skip


@dataclass(frozen=True)
class Histogram:
    """A latency histogram of an engine: its metric name (without _bucket/_count) and bucket bounds."""

    name: str
    buckets: tuple[float, ...]


# Engine -> (TTFT histogram, per-request TPOT histogram or None).
ENGINE_HISTOGRAMS: dict[str, tuple[Histogram, Histogram | None]] = {
    "vllm": (
        Histogram("vllm:time_to_first_token_seconds", VLLM_TTFT_BUCKETS),
        Histogram("vllm:request_time_per_output_token_seconds", VLLM_TPOT_BUCKETS),
    ),
    "sglang": (Histogram("sglang:time_to_first_token_seconds", SGLANG_TTFT_BUCKETS), None),
}


class SliUnsupported(ValueError):
    """No SLI can be built for this spec (an engine without histograms, a target below every bucket)."""


@dataclass(frozen=True)
class SliQueries:
    """The instant queries of one interval: request counts over `window` seconds. `ttft_good` and the TPOT
    pair are None for user-written queries (then `good` counts the requests that met the whole SLO)."""

    total: str
    good: str
    tpot_total: str | None = None
    tpot_good: str | None = None
    what: str = ""  # what the SLI counts, for the condition's message


def bound_at_most(buckets: tuple[float, ...], target_seconds: float) -> float | None:
    """The largest bucket bound <= the target (a tiny relative slack for float spelling), or None."""
    fitting = [b for b in buckets if b <= target_seconds * (1 + 1e-9)]
    return max(fitting) if fitting else None


def le_matcher(bound: float) -> str:
    """A matcher of the bucket `bound` in either spelling: prometheus-client writes floats ("1.0", "0.025"),
    other clients and Prometheus 3's normalisation may write "1"; dots escaped for the regex."""
    spellings = dict.fromkeys((repr(float(bound)), f"{bound:g}"))
    return 'le=~"' + "|".join(s.replace(".", "\\\\.") for s in spellings) + '"'


def _increase(name: str, selector: str, window: int) -> str:
    return f"sum(increase({series((name,), selector)}[{window}s]))"


def engine_queries(
    engine: str, selector: str, ttft_ms: int | None, stream_tokens_per_second: float | None, window: int
) -> SliQueries:
    """The queries of the engine's histograms within `selector` (already scoped to the namespace)."""
    if engine not in ENGINE_HISTOGRAMS:
        raise SliUnsupported(
            f"the {engine} engine exports no TTFT histogram infercap reads; write the SLI's queries in "
            "spec.autoscaling.sli.prometheus (good and total), or remove spec.autoscaling.sli"
        )
    ttft, tpot = ENGINE_HISTOGRAMS[engine]
    if ttft_ms is None and stream_tokens_per_second is None:
        raise SliUnsupported(
            "spec.slo sets neither timeToFirstTokenMs nor outputTokensPerSecondPerStream: there is no target to "
            "count misses against; set one, or write spec.autoscaling.sli.prometheus"
        )
    total = _increase(f"{ttft.name}_count", selector, window)
    parts: list[str] = []
    good = total  # no TTFT target: every request met it
    if ttft_ms is not None:
        le = bound_at_most(ttft.buckets, ttft_ms / 1000)
        if le is None:
            raise SliUnsupported(
                f"spec.slo.timeToFirstTokenMs {ttft_ms} is below the lowest bucket of {ttft.name} "
                f"({ttft.buckets[0] * 1000:g} ms): no bucket counts the requests that met it; raise the target "
                "or write spec.autoscaling.sli.prometheus"
            )
        good = _increase(f"{ttft.name}_bucket", f"{selector}, {le_matcher(le)}", window)
        parts.append(f"TTFT <= {le:g} s ({ttft.name}, the largest bucket within {ttft_ms} ms)")
    tpot_total = tpot_good = None
    if stream_tokens_per_second is not None:
        target = 1 / stream_tokens_per_second
        le = bound_at_most(tpot.buckets, target) if tpot is not None else None
        if tpot is None:
            parts.append(f"not decode speed ({engine} has no per-request TPOT histogram)")
        elif le is None:
            raise SliUnsupported(
                f"spec.slo.outputTokensPerSecondPerStream {stream_tokens_per_second:g} asks for {target * 1000:.3g} ms "
                f"per token, below the lowest bucket of {tpot.name} ({tpot.buckets[0] * 1000:g} ms); write "
                "spec.autoscaling.sli.prometheus"
            )
        else:
            tpot_total = _increase(f"{tpot.name}_count", selector, window)
            tpot_good = _increase(f"{tpot.name}_bucket", f"{selector}, {le_matcher(le)}", window)
            parts.append(f"TPOT <= {le:g} s ({tpot.name}, within {target * 1000:.3g} ms)")
    return SliQueries(total, good, tpot_total, tpot_good, f"{engine} histograms: " + ", ".join(parts))


_PLACEHOLDER = re.compile(r"\{\{\.window\}\}")


def user_queries(good: str, total: str, window: int) -> SliQueries:
    """The user's ratio queries with the range in place of `{{.window}}`."""
    fill = f"{window}s"
    return SliQueries(
        _PLACEHOLDER.sub(fill, total), _PLACEHOLDER.sub(fill, good), what="spec.autoscaling.sli.prometheus"
    )


def window_seconds(elapsed: float, min_window: int) -> int:
    """The query range for an interval of `elapsed` seconds: the interval, at least `min_window`."""
    return max(int(min_window), math.ceil(max(0.0, elapsed)))


def interval_counts(
    total: float,
    good: float,
    elapsed: float,
    window: int,
    tpot_total: float | None = None,
    tpot_good: float | None = None,
) -> tuple[float, float]:
    """(requests, misses) over the interval from counts over `window` seconds: scaled to the interval when
    the window is longer, misses at most the requests (increase() extrapolates each series on its own,
    so good may read a little above total)."""
    scale = min(1.0, max(0.0, elapsed) / window) if window > 0 else 0.0
    requests = max(0.0, total)
    missed = max(0.0, requests - max(0.0, good))
    if tpot_total is not None and tpot_good is not None:
        missed += max(0.0, tpot_total - tpot_good)
    return requests * scale, min(requests, missed) * scale
