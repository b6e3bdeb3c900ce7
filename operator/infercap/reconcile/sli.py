"""The autoscaler's measured SLI (spec.autoscaling.sli): for the interval since the policy's last decision,
the requests completed and those that missed the SLO, read from the admin-named Prometheus source, and the
SliObserved condition. The queries are core.sli's; the reader is infercap.egress.EngineMetrics (named
sources only, one timeout for every query of the interval).

Nothing here decides: a failed or refused read gives no SLI, and the policy's account takes the queueing
model's estimate for that interval, while the demand decision goes on.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from infercap.api.conditions import Reason
from infercap.api.deployment import ModelDeploymentSpec, Sli
from infercap.api.errors import ReasonedError
from infercap.core.calibration_live import SelectorOutsideNamespace, scoped_selector
from infercap.core.sli import SliQueries, SliUnsupported, engine_queries, interval_counts, user_queries, window_seconds
from infercap.reconcile.status import Verdict

FALLBACK = "the error budget's account is the queueing model's estimate for this interval"
REQUIRED = ("total", "good")  # the TPOT pair is optional: an engine without the histogram counts TTFT only


class Reader(Protocol):
    """Reads instant queries from a named source (infercap.egress.EngineMetrics.read_counts): the value of
    each, None for an optional query without series; raises a ReasonedError (UnknownSource,
    SourceMisconfigured, QueryFailed, MetricUnavailable) when a required one cannot be had."""

    async def read_counts(
        self, source: str, promql: dict[str, str], required: tuple[str, ...]
    ) -> dict[str, float | None]: ...


@dataclass(frozen=True)
class Measurement:
    """What the policy gets for this interval (None: estimate it) and the SliObserved condition."""

    sli: tuple[float, float] | None  # (requests completed, of them missed the SLO)
    verdict: Verdict


def engine_of(sli: Sli, spec: ModelDeploymentSpec) -> str:
    """The engine whose histograms count: spec.autoscaling.sli.engine, else the one infercap renders."""
    if sli.engine is not None:
        return sli.engine.value
    if spec.serving is not None:
        return spec.serving.engine.value
    raise SliUnsupported(
        "infercap renders no engine for this ModelDeployment (spec.serving is not set), so it does not know whose "
        "histograms to read: set spec.autoscaling.sli.engine (vllm or sglang) or spec.autoscaling.sli.prometheus"
    )


def build(spec: ModelDeploymentSpec, namespace: str, window: int) -> SliQueries:
    """The interval's queries; SliUnsupported or SelectorOutsideNamespace when none may be sent."""
    a = spec.autoscaling
    assert a is not None and a.sli is not None
    sli = a.sli
    if sli.prometheus is not None:
        return user_queries(sli.prometheus.good, sli.prometheus.total, window)
    selector = scoped_selector(sli.selector, namespace, "spec.autoscaling.sli.selector")
    stream = spec.slo.output_tokens_per_second_per_stream
    return engine_queries(
        engine_of(sli, spec),
        selector,
        spec.slo.time_to_first_token_ms,
        float(stream) if stream is not None else None,
        window,
    )


async def measure(reader: Reader, spec: ModelDeploymentSpec, namespace: str, elapsed: float) -> Measurement:
    """The SLI over the last `elapsed` seconds (the interval since the account's last update)."""
    a = spec.autoscaling
    assert a is not None and a.sli is not None
    window = window_seconds(elapsed, a.sli.min_window_seconds)
    try:
        q = build(spec, namespace, window)
    except SliUnsupported as e:
        return Measurement(None, Verdict("False", Reason.SLI_UNSUPPORTED, f"{e}; {FALLBACK}"))
    except SelectorOutsideNamespace as e:
        return Measurement(None, Verdict("False", Reason.SELECTOR_OUTSIDE_NAMESPACE, f"{e}; {FALLBACK}"))
    promql = {"total": q.total, "good": q.good}
    if q.tpot_total is not None and q.tpot_good is not None:
        promql.update(tpot_total=q.tpot_total, tpot_good=q.tpot_good)
    try:
        got = await reader.read_counts(a.sli.source, promql, REQUIRED)
    except ReasonedError as e:
        reason = Reason.SLI_UNAVAILABLE if e.reason in ("QueryFailed", "MetricUnavailable") else e.reason
        return Measurement(None, Verdict("False", reason, f"{e.message}; {FALLBACK}"))
    total, good = got["total"], got["good"]
    assert total is not None and good is not None
    tpot_total, tpot_good = got.get("tpot_total"), got.get("tpot_good")
    requests, missed = interval_counts(total, good, elapsed, window, tpot_total, tpot_good)
    what = q.what
    if "tpot_total" in promql and (tpot_total is None or tpot_good is None):
        what += " (no per-request TPOT series: TTFT only)"
    message = (
        f"{requests:.4g} request(s), {missed:.4g} of them missing the SLO, over the last {elapsed:.0f} s "
        f"(counted over {window} s) from Prometheus source {a.sli.source}: {what}"
    )
    return Measurement((requests, missed), Verdict("True", Reason.MEASURED, message))
