"""The autoscaler's measured SLI (spec.autoscaling.sli), short of a cluster: the queries built from the
engines' TTFT/TPOT histograms (vLLM, SGLang, an engine without them, targets below the lowest bucket,
the namespace scope), the user's ratio queries, the counts of one interval, the reader's egress, the
API's validation, and the operator passing the SLI to the policy and falling back to the estimate."""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import re
from typing import Any

import pytest
from pydantic import ValidationError
from tests.unit.fakekube import FakeKube, mdep
from tests.unit.fakeprom import engine_metrics, serve_demand, slow

from infercap import egress
from infercap.api.config import OperatorConfig
from infercap.api.deployment import ModelDeploymentSpec
from infercap.api.errors import ReasonedError
from infercap.core.sli import (
    SGLANG_TTFT_BUCKETS,
    VLLM_TPOT_BUCKETS,
    VLLM_TTFT_BUCKETS,
    SliUnsupported,
    bound_at_most,
    engine_queries,
    interval_counts,
    le_matcher,
    user_queries,
    window_seconds,
)
from infercap.demand import DemandError, Endpoint, Reading
from infercap.reconcile import sli

BASE: dict[str, Any] = {
    "model": "llama-3.1-8b",
    "traffic": {"requestsPerSecond": 10, "inputTokens": 1000, "outputTokens": 200},
    "accelerators": ["h100"],
}
METRIC = {"prometheus": {"source": "main", "query": "sum(rate(x[1m]))"}}


def spec_with(
    sli_block: dict[str, Any], slo: dict[str, Any] | None = None, engine: str | None = "vllm"
) -> ModelDeploymentSpec:
    doc: dict[str, Any] = {
        **BASE,
        "slo": slo if slo is not None else {"timeToFirstTokenMs": 2000, "outputTokensPerSecondPerStream": 30},
        "autoscaling": {"metric": METRIC, "sli": sli_block},
    }
    if engine is not None:
        doc["serving"] = {"engine": engine, "model": {"huggingFace": "meta-llama/Llama-3.1-8B-Instruct"}}
    return ModelDeploymentSpec.model_validate(doc)


def le_regex(matcher: str) -> re.Pattern[str]:
    """The regex a `le=~"..."` matcher is, as PromQL reads it (string unescaped, match anchored)."""
    m = re.fullmatch(r'le=~"(.*)"', matcher)
    assert m is not None
    return re.compile(m.group(1).replace("\\\\", "\\"))


# --------------------------------------------------------------------------- queries


@pytest.mark.parametrize(
    ("engine", "ttft_ms", "stream", "ttft_le", "tpot_le", "names"),
    [
        # 2000 ms falls between vLLM's 1.0 and 2.5 buckets: 1.0 (a request at 1.5 s counts as a miss).
        (
            "vllm",
            2000,
            30.0,
            1.0,
            0.025,
            ("vllm:time_to_first_token_seconds", "vllm:request_time_per_output_token_seconds"),
        ),
        (
            "vllm",
            2500,
            20.0,
            2.5,
            0.05,
            ("vllm:time_to_first_token_seconds", "vllm:request_time_per_output_token_seconds"),
        ),
        ("vllm", 1, None, 0.001, None, ("vllm:time_to_first_token_seconds",)),  # the lowest bucket itself
        ("vllm", None, 30.0, None, 0.025, ("vllm:request_time_per_output_token_seconds",)),
        # SGLang: TTFT only, whatever the stream-speed SLO (no per-request TPOT histogram).
        ("sglang", 500, 30.0, 0.4, None, ("sglang:time_to_first_token_seconds",)),
        ("sglang", 100, None, 0.1, None, ("sglang:time_to_first_token_seconds",)),
    ],
)
def test_engine_queries_count_the_histograms_at_the_largest_bucket_within_the_target(
    engine: str,
    ttft_ms: int | None,
    stream: float | None,
    ttft_le: float | None,
    tpot_le: float | None,
    names: tuple[str, ...],
) -> None:
    q = engine_queries(engine, 'namespace="team"', ttft_ms, stream, 90)
    ttft_name = "vllm:time_to_first_token_seconds" if engine == "vllm" else "sglang:time_to_first_token_seconds"
    assert q.total.startswith("sum(increase(") and f"{ttft_name}_count" in q.total and "[90s]" in q.total
    for text in (q.total, q.good, q.tpot_total or "", q.tpot_good or ""):
        assert text == "" or ('namespace="team"' in text and "[90s]" in text)
    if ttft_le is None:
        assert q.good == q.total  # no TTFT target: every request met it
    else:
        assert f"{ttft_name}_bucket" in q.good
        matcher = re.search(r'le=~"[^"]*"', q.good)
        assert matcher is not None and le_regex(matcher.group(0)).fullmatch(repr(ttft_le))
    if tpot_le is None:
        assert q.tpot_total is None and q.tpot_good is None
    else:
        assert q.tpot_good is not None and "vllm:request_time_per_output_token_seconds_bucket" in q.tpot_good
        matcher = re.search(r'le=~"[^"]*"', q.tpot_good)
        assert matcher is not None and le_regex(matcher.group(0)).fullmatch(repr(tpot_le))
    for name in names:
        assert name in q.what or name in q.total + q.good + (q.tpot_good or "")
    if engine == "sglang" and stream is not None:
        assert "not decode speed" in q.what


@pytest.mark.parametrize(
    ("engine", "ttft_ms", "stream", "says"),
    [
        ("trtllm", 2000, 30.0, "trtllm engine exports no TTFT histogram"),
        ("sglang", 50, None, "below the lowest bucket of sglang:time_to_first_token_seconds (100 ms)"),
        ("vllm", 2000, 200.0, "below the lowest bucket of vllm:request_time_per_output_token_seconds (10 ms)"),
        ("vllm", None, None, "spec.slo sets neither"),
    ],
)
def test_no_engine_sli_without_histograms_or_below_the_lowest_bucket(
    engine: str, ttft_ms: int | None, stream: float | None, says: str
) -> None:
    with pytest.raises(SliUnsupported) as e:
        engine_queries(engine, 'namespace="team"', ttft_ms, stream, 60)
    assert says in str(e.value) and "spec.autoscaling.sli" in str(e.value)


def test_the_bound_is_the_largest_at_most_the_target() -> None:
    assert bound_at_most(VLLM_TTFT_BUCKETS, 2.0) == 1.0
    assert bound_at_most(VLLM_TTFT_BUCKETS, 0.0009) is None
    assert bound_at_most(SGLANG_TTFT_BUCKETS, 0.3) == 0.2
    assert bound_at_most(VLLM_TPOT_BUCKETS, 1 / 40) == 0.025  # exactly on a bound: that bucket


def test_le_matchers_match_the_bounds_as_prometheus_client_writes_them_and_no_other() -> None:
    """Real vLLM and SGLang export through prometheus-client; every bound's matcher finds its own bucket
    line in that exposition, and no neighbour's (the dot is escaped, the match anchored)."""
    from prometheus_client import CollectorRegistry, Histogram, generate_latest
    from prometheus_client.parser import text_string_to_metric_families

    for buckets in (VLLM_TTFT_BUCKETS, VLLM_TPOT_BUCKETS, SGLANG_TTFT_BUCKETS):
        registry = CollectorRegistry()
        Histogram("h_seconds", "h", buckets=list(buckets), registry=registry).observe(0.5)
        [family] = [
            f for f in text_string_to_metric_families(generate_latest(registry).decode()) if f.name == "h_seconds"
        ]
        les = [s.labels["le"] for s in family.samples if s.name == "h_seconds_bucket"]
        for bound in buckets:
            rx = le_regex(le_matcher(bound))
            assert [le for le in les if rx.fullmatch(le)] == [repr(float(bound))], bound
        assert le_regex(le_matcher(1.0)).fullmatch("1") and not le_regex(le_matcher(1.0)).fullmatch("1x0")


def test_user_queries_get_the_window_in_place_of_the_placeholder() -> None:
    q = user_queries("sum(increase(good[{{.window}}]))", "sum(increase(all[{{.window}}]))", 75)
    assert (q.good, q.total) == ("sum(increase(good[75s]))", "sum(increase(all[75s]))")
    assert q.tpot_total is None and "spec.autoscaling.sli.prometheus" in q.what


def test_the_window_is_the_interval_at_least_the_minimum_and_counts_scale_to_the_interval() -> None:
    assert window_seconds(15.0, 60) == 60 and window_seconds(90.2, 60) == 91 and window_seconds(-1, 10) == 10
    # 120 requests over a 60 s range, 30 of them slow: a 15 s interval is a quarter of them.
    assert interval_counts(120, 90, 15, 60) == pytest.approx((30, 7.5))
    assert interval_counts(120, 90, 60, 60) == pytest.approx((120, 30))
    # increase() extrapolates each series alone: good a little above total is no negative miss.
    assert interval_counts(100, 100.4, 60, 60) == (100, 0)
    # TTFT and TPOT misses add (an upper bound of either), never beyond the requests.
    assert interval_counts(100, 80, 60, 60, 95, 85) == pytest.approx((100, 30))
    assert interval_counts(100, 10, 60, 60, 100, 0) == pytest.approx((100, 100))


# --------------------------------------------------------------------------- the API


def test_the_api_takes_a_source_and_optionally_the_engine_selector_or_ratio_queries() -> None:
    s = spec_with({"source": "main"})
    assert s.autoscaling is not None and s.autoscaling.sli is not None
    assert s.autoscaling.sli.min_window_seconds == 60 and s.autoscaling.sli.engine is None
    spec_with({"source": "main", "prometheus": {"good": "a[{{.window}}]", "total": "b[{{.window}}]"}})
    for bad, field in (
        ({"source": "main", "prometheus": {"good": "a[5m]", "total": "b[{{.window}}]"}}, "good"),
        ({"source": "http://prom:9090"}, "source"),
        ({"source": "main", "selector": 'job="x"}) or vector(1'}, "selector"),
        ({"source": "main", "engine": "trtllm"}, "engine"),
        (
            {"source": "main", "selector": 'job="x"', "prometheus": {"good": "{{.window}}", "total": "{{.window}}"}},
            "sli",
        ),
    ):
        with pytest.raises(ValidationError) as e:
            spec_with(bad)
        assert field in str(e.value)


def test_the_crd_refuses_what_the_model_refuses() -> None:
    from infercap.api.crd import model_deployment_crd

    schema = model_deployment_crd()["spec"]["versions"][0]["schema"]["openAPIV3Schema"]
    block = schema["properties"]["spec"]["properties"]["autoscaling"]["properties"]["sli"]
    assert block["required"] == ["source"]
    assert block["properties"]["prometheus"]["properties"]["good"]["pattern"] == r"\{\{\.window\}\}"
    assert "has(self.prometheus)" in block["x-kubernetes-validations"][0]["rule"]
    assert re.search(block["properties"]["prometheus"]["properties"]["total"]["pattern"], "x[{{.window}}]")


# --------------------------------------------------------------------------- one interval's measurement


class FakeReader:
    """Answers each query by its key; `missing` keys have no series, `error` fails the whole read."""

    def __init__(self, answers: dict[str, float] | None = None) -> None:
        self.answers = answers if answers is not None else {"total": 120.0, "good": 90.0}
        self.calls: list[tuple[str, dict[str, str]]] = []
        self.error: ReasonedError | None = None

    async def read_counts(
        self, source: str, promql: dict[str, str], required: tuple[str, ...]
    ) -> dict[str, float | None]:
        self.calls.append((source, promql))
        if self.error is not None:
            raise self.error
        return {k: self.answers.get(k) for k in promql}


def test_a_measurement_counts_the_interval_within_the_namespace() -> None:
    reader = FakeReader({"total": 120.0, "good": 90.0, "tpot_total": 110.0, "tpot_good": 110.0})
    m = asyncio.run(sli.measure(reader, spec_with({"source": "main", "selector": 'model_name="m"'}), "team", 15))
    assert m.sli == pytest.approx((30, 7.5))
    assert (m.verdict.status, m.verdict.reason) == ("True", "Measured")
    assert "over the last 15 s (counted over 60 s)" in m.verdict.message and "source main" in m.verdict.message
    [(source, promql)] = reader.calls
    assert source == "main" and set(promql) == {"total", "good", "tpot_total", "tpot_good"}
    assert all('model_name="m", namespace="team"' in q for q in promql.values())


def test_no_tpot_series_counts_ttft_only_and_says_so() -> None:
    m = asyncio.run(sli.measure(FakeReader(), spec_with({"source": "main"}), "team", 60))
    assert m.sli == pytest.approx((120, 30)) and "TTFT only" in m.verdict.message


@pytest.mark.parametrize(
    ("error", "reason"),
    [
        (DemandError("MetricUnavailable", "the SLI query total returned no series"), "SliUnavailable"),
        (DemandError("QueryFailed", "Prometheus source main gave no usable answer"), "SliUnavailable"),
        (egress.EgressDenied("UnknownSource", "spec.autoscaling.sli.source 'x' is not a source"), "UnknownSource"),
    ],
)
def test_a_failed_read_falls_back_to_the_estimate_and_says_why(error: ReasonedError, reason: str) -> None:
    reader = FakeReader()
    reader.error = error
    m = asyncio.run(sli.measure(reader, spec_with({"source": "main"}), "team", 15))
    assert m.sli is None and (m.verdict.status, m.verdict.reason) == ("False", reason)
    assert error.message in m.verdict.message and "queueing model's estimate" in m.verdict.message


@pytest.mark.parametrize(
    ("block", "engine", "reason", "says"),
    [
        ({"source": "main"}, "trtllm", "SliUnsupported", "trtllm engine exports no TTFT histogram"),
        ({"source": "main"}, None, "SliUnsupported", "set spec.autoscaling.sli.engine"),
        (
            {"source": "main", "selector": 'namespace="kube-system"'},
            "vllm",
            "SelectorOutsideNamespace",
            'spec.autoscaling.sli.selector matches namespace="kube-system"',
        ),
        (
            {"source": "main", "selector": 'job="e", namespace=~"t.*"'},
            "vllm",
            "SelectorOutsideNamespace",
            'namespace=~"t.*"',
        ),
    ],
)
def test_nothing_is_sent_for_an_sli_that_cannot_be_built_or_reads_another_namespace(
    block: dict[str, Any], engine: str | None, reason: str, says: str
) -> None:
    reader = FakeReader()
    m = asyncio.run(sli.measure(reader, spec_with(block, engine=engine), "team", 15))
    assert reader.calls == [] and m.sli is None
    assert (m.verdict.status, m.verdict.reason) == ("False", reason) and says in m.verdict.message


def test_an_explicit_engine_serves_a_scale_target_and_ratio_queries_need_none() -> None:
    reader = FakeReader()
    m = asyncio.run(sli.measure(reader, spec_with({"source": "main", "engine": "sglang"}, engine=None), "team", 60))
    assert m.sli is not None and "sglang:time_to_first_token_seconds_count" in reader.calls[0][1]["total"]
    ratio = {
        "source": "main",
        "prometheus": {"good": "sum(increase(g[{{.window}}]))", "total": "sum(increase(t[{{.window}}]))"},
    }
    m = asyncio.run(sli.measure(reader, spec_with(ratio, engine=None), "team", 30))
    assert m.sli == pytest.approx((60, 15)) and reader.calls[1][1] == {
        "total": "sum(increase(t[60s]))",
        "good": "sum(increase(g[60s]))",
    }


# --------------------------------------------------------------------------- the reader's egress


def test_read_counts_uses_named_sources_only_and_optional_queries_may_have_no_series() -> None:
    sent: list[str] = []

    async def send(target: Endpoint, q: str, timeout: float, max_bytes: int) -> Reading:
        sent.append(q)
        if "tpot" in q:
            raise DemandError("MetricUnavailable", "the query returned no series")
        return Reading(7.0, 0.0)

    reader = engine_metrics(send, namespace="infercap")
    got = asyncio.run(reader.read_counts("prom", {"total": "t", "good": "g", "tpot_total": "tpot"}, ("total", "good")))
    assert got == {"total": 7.0, "good": 7.0, "tpot_total": None}
    with pytest.raises(egress.EgressDenied) as e:
        asyncio.run(reader.read_counts("elsewhere", {"total": "t"}, ("total",)))
    assert e.value.reason == "UnknownSource" and "spec.autoscaling.sli.source" in e.value.message
    assert len(sent) == 3  # nothing for the unknown source
    with pytest.raises(DemandError) as d:
        asyncio.run(reader.read_counts("prom", {"tpot_total": "tpot"}, ("tpot_total",)))
    assert d.value.reason == "MetricUnavailable" and "spec.autoscaling.sli" in d.value.message
    with pytest.raises(DemandError) as t:
        asyncio.run(engine_metrics(slow, timeout_seconds=0.2).read_counts("prom", {"total": "t"}, ("total",)))
    assert t.value.reason == "QueryFailed"


# --------------------------------------------------------------------------- the operator


KEY = ("infercap.dev/v1alpha1", "ModelDeployment", "team", "chat")
log = logging.getLogger("test")


def poll(op: Any, kube: FakeKube, earlier: float = 0.0) -> Any:
    """One autoscaler poll; `earlier` moves the account's last update back (the interval it measures)."""
    from infercap.api.status import read as read_status

    for uid, state in list(op.policy.items()):
        if state.budget is not None and earlier:
            op.policy[uid] = dataclasses.replace(
                state, budget=dataclasses.replace(state.budget, t=state.budget.t - earlier)
            )
    asyncio.run(op.autoscale(kube.objects[KEY], log, {}))
    status = read_status(kube.objects[KEY]["status"])
    return status, {c.type: c for c in status.conditions}


def test_the_operator_passes_the_measured_sli_and_falls_back_to_the_estimate(monkeypatch: pytest.MonkeyPatch) -> None:
    from infercap import controller
    from infercap.controller import Operator, policy_config

    kube = FakeKube()
    doc = spec_with({"source": "main"}).model_dump(by_alias=True, exclude_none=True, mode="json")
    kube.put(mdep("chat", "team", doc))

    serve_demand(monkeypatch, 2.0)  # 2 req/s of demand: the estimate's requests, 10x fewer than measured
    seen: list[tuple[float, float] | None] = []
    real_decide = controller.decide

    def decide(*args: Any, **kwargs: Any) -> Any:
        seen.append(args[4] if len(args) > 4 else None)
        return real_decide(*args, **kwargs)

    monkeypatch.setattr(controller, "decide", decide)
    op = Operator(OperatorConfig(), clock=lambda: "2026-12-01T00:00:00Z")
    op.kube = kube  # type: ignore[assignment]
    reader = FakeReader({"total": 1200.0, "good": 900.0})  # 20 req/s over the 60 s range, a quarter slow
    op.calibrator = reader  # type: ignore[assignment]
    assert policy_config(doc_spec(doc).autoscaling).measured_sli  # type: ignore[arg-type]

    # The first poll opens the account: nothing to measure yet, nothing sent.
    status, conds = poll(op, kube)
    assert reader.calls == [] and seen == [None]
    assert conds["SliObserved"].reason == "Waiting" and status.autoscaling.error_budget.source == "estimated"

    # 15 s later: the SLI of those 15 s goes to the policy and into the account.
    status, conds = poll(op, kube, earlier=15)
    assert seen[-1] == pytest.approx((300, 75), rel=0.05)  # 15 s and the poll's own time
    budget = status.autoscaling.error_budget
    assert budget.source == "measured" and budget.requests == pytest.approx(300, rel=0.05)
    assert budget.misses == pytest.approx(75, rel=0.05)
    assert (conds["SliObserved"].status, conds["SliObserved"].reason) == ("True", "Measured")
    assert conds["DemandObserved"].status == "True"

    # Prometheus fails: the interval is estimated (2 req/s x 15 s added), the demand decision still happens.
    reader.error = DemandError("QueryFailed", "Prometheus source main gave no usable answer")
    status, conds = poll(op, kube, earlier=15)
    assert seen[-1] is None
    after = status.autoscaling.error_budget
    assert after.source == "estimated" and after.requests == pytest.approx(budget.requests + 30, rel=0.02)
    assert (conds["SliObserved"].status, conds["SliObserved"].reason) == ("False", "SliUnavailable")
    assert "queueing model's estimate" in conds["SliObserved"].message
    assert conds["DemandObserved"].status == "True" and status.autoscaling.planned_requests_per_second


def doc_spec(doc: dict[str, Any]) -> ModelDeploymentSpec:
    return ModelDeploymentSpec.model_validate(doc)


def test_without_an_sli_there_is_no_condition_and_no_query(monkeypatch: pytest.MonkeyPatch) -> None:
    from infercap.controller import Operator, policy_config

    kube = FakeKube()
    doc = {**BASE, "slo": {"outputTokensPerSecondPerStream": 30}, "autoscaling": {"metric": METRIC}}
    kube.put(mdep("chat", "team", doc))

    serve_demand(monkeypatch, 2.0)
    op = Operator(OperatorConfig(), clock=lambda: "2026-12-01T00:00:00Z")
    op.kube = kube  # type: ignore[assignment]
    reader = FakeReader()
    op.calibrator = reader  # type: ignore[assignment]
    poll(op, kube)
    status, conds = poll(op, kube, earlier=15)
    assert "SliObserved" not in conds and reader.calls == []
    assert status.autoscaling.error_budget.source == "estimated"
    assert not policy_config(doc_spec(doc).autoscaling).measured_sli  # type: ignore[arg-type]
