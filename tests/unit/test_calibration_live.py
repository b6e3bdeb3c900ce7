"""Online calibration, short of a cluster: the engine queries, the sample they make against the model,
the filter state as status keeps it (bounded even when tampered with), the planner's correction, the
calibration step of a reconcile (due windows, low load, failures, observe vs online) and a whole
reconcile loop whose replicas run 30 % slower than the model says (issue 11, item 6)."""

from __future__ import annotations

import asyncio
import math
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from tests.unit.fakekube import FakeKube, mdep
from tests.unit.fakeprom import engine_metrics, slow

from infercap import egress, metrics
from infercap.api.config import OperatorConfig
from infercap.api.deployment import ModelDeploymentSpec
from infercap.api.errors import ReasonedError
from infercap.cli import plugin
from infercap.core.calibration_live import (
    REPLICA_LABELS,
    Readings,
    SelectorOutsideNamespace,
    filters,
    filters_doc,
    fold,
    mixed_window,
    queries,
    sample_of,
    scoped_selector,
)
from infercap.core.catalog import builtin_catalog
from infercap.core.compute import Workload
from infercap.core.correction import Correction, FilterParams, Sample
from infercap.core.planner import plan
from infercap.demand import DemandError, Endpoint, Reading
from infercap.reconcile import calibrate, reconcile

CAT = builtin_catalog()
P = FilterParams()
BASE: dict[str, Any] = {
    "model": "llama-3.1-8b",
    "accelerators": ["h100"],
    "traffic": {"requestsPerSecond": 250, "inputTokens": 1000, "outputTokens": 200},
}


def spec_with(mode: str = "online", **extra: Any) -> ModelDeploymentSpec:
    return ModelDeploymentSpec.model_validate(
        {**BASE, "calibration": {"mode": mode, "source": "prom", "windowSeconds": 10, **extra}}
    )


WORK = Workload(1000, 200)


def model_step(accelerator: str, chips: int, batch: int) -> float:
    replica = CAT.replica(CAT.shape(CAT.model("llama-3.1-8b"), None, None), CAT.accelerator(accelerator), chips)
    return replica.step(batch, WORK).total


# --------------------------------------------------------------------------- queries and samples


def test_queries_use_the_engines_metric_names_the_selector_and_the_window() -> None:
    q = queries("vllm", 'namespace="prod"', 60)
    running = '{__name__=~"vllm:num_requests_running|vllm_num_requests_running", namespace="prod"}'
    assert q["replicas"] == f"count(count by (namespace, pod, instance) ({running}))"
    assert q["running"] == f"sum(avg_over_time({running}[60s]))"
    tokens = '{__name__=~"vllm:generation_tokens_total|vllm_generation_tokens_total", namespace="prod"}'
    assert q["tokens"] == f"sum(rate({tokens}[60s]))"
    tpot_sum = (
        '{__name__=~"vllm:inter_token_latency_seconds_sum|vllm:time_per_output_token_seconds_sum|'
        'vllm_inter_token_latency_seconds_sum|vllm_time_per_output_token_seconds_sum", namespace="prod"}'
    )
    assert q["tpot"].startswith(f"sum(rate({tpot_sum}[60s])) / sum(rate(")
    assert "vllm:kv_cache_usage_perc|vllm:gpu_cache_usage_perc|" in q["kv"]
    s = queries("sglang", 'job="x"', 30)
    assert "sglang:num_running_reqs|" in s["running"] and "sglang:token_usage|" in s["kv"]
    assert s["tokens"].startswith('sum(avg_over_time({__name__=~"sglang:gen_throughput|')  # a gauge, not rate()


@pytest.mark.parametrize(
    "selector",
    ['namespace="a"', 'namespace="a", model_name=~"llama.*"', 'pod!="x",job="y"'],
)
def test_a_selector_of_label_matchers_is_accepted(selector: str) -> None:
    assert spec_with(selector=selector).calibration is not None


@pytest.mark.parametrize(
    "selector",
    ['namespace="a"}) or vector(1', "up", 'a="b" or c="d"', 'x="}"', 'a="b"[5m]', ""],
)
def test_a_selector_that_is_more_than_label_matchers_is_refused(selector: str) -> None:
    with pytest.raises(ValueError):
        spec_with(selector=selector)


@pytest.mark.parametrize(
    ("selector", "sent"),
    [
        (None, 'namespace="team"'),
        ('job="engine"', 'job="engine", namespace="team"'),
        ('namespaced="x", model_name="m"', 'namespaced="x", model_name="m", namespace="team"'),
        ('namespace="team", pod=~"llama-.*"', 'namespace="team", pod=~"llama-.*"'),
    ],
)
def test_the_selector_is_kept_within_the_deployments_namespace(selector: str | None, sent: str) -> None:
    assert scoped_selector(selector, "team") == sent


@pytest.mark.parametrize(
    "selector",
    [
        'namespace="other"',
        'job="e", namespace=~"team|other"',
        'namespace!="kube-system"',
        'namespace="team",namespace=~".+"',
    ],
)
def test_a_selector_naming_another_namespace_is_refused(selector: str) -> None:
    with pytest.raises(SelectorOutsideNamespace) as e:
        scoped_selector(selector, "team")
    assert "spec.calibration.selector" in str(e.value) and 'namespace="team"' in str(e.value)


def test_replicas_are_counted_by_pod_not_by_data_parallel_rank_series(tmp_path: Any) -> None:
    """The fake engine of the e2e test exports vLLM's series shape: one series per data-parallel rank
    (label `engine`). Grouped by REPLICA_LABELS, as the replicas query groups them, four replicas of two
    ranks are four, where counting series says eight; the batch per replica is then both ranks'."""
    import json

    from prometheus_client import CollectorRegistry, generate_latest
    from prometheus_client.parser import text_string_to_metric_families
    from tests.e2e.fake_engine import Engine

    params = tmp_path / "engine.json"
    params.write_text(json.dumps({"replicas": 4, "dp": 2, "batch": 64, "step": 0.02, "namespace": "team"}))
    engine = Engine(params)
    engine.advance(1.0)
    registry = CollectorRegistry()
    registry.register(engine)
    [running] = [
        f.samples
        for f in text_string_to_metric_families(generate_latest(registry).decode())
        if f.name == "vllm:num_requests_running"
    ]
    assert len(running) == 8 and {s.labels["engine"] for s in running} == {"0", "1"}
    replicas = {tuple(s.labels.get(k, "") for k in REPLICA_LABELS) for s in running}
    assert len(replicas) == 4
    total = sum(s.value for s in running)
    replica = CAT.replica(CAT.shape(CAT.model("llama-3.1-8b"), None, None), CAT.accelerator("h100"), 1)
    sample = sample_of(replica, WORK, Readings(len(replicas), total, total / 0.02, 0.02))
    assert sample is not None and sample.batch == 64


def test_readings_thirty_percent_slower_than_the_model_make_a_ratio_of_1_3() -> None:
    replica = CAT.replica(CAT.shape(CAT.model("llama-3.1-8b"), None, None), CAT.accelerator("h100"), 1)
    work = Workload(1000, 200)
    slow = model_step("h100", 1, 64) * 1.3
    # 4 replicas at 64 running each; the engine's TPOT histogram and its token rate agree.
    by_tpot = sample_of(replica, work, Readings(4, 256, 4 * 64 / slow, slow, 0.4))
    by_rate = sample_of(replica, work, Readings(4, 256, 4 * 64 / slow, None, None))
    for s in (by_tpot, by_rate):
        assert s is not None and s.batch == 64
        assert s.ratio == pytest.approx(1.3)
    assert sample_of(replica, work, Readings(4, 0, 0)) is None
    assert sample_of(replica, work, Readings(0, 10, 10)) is None


# --------------------------------------------------------------------------- the state in status


@settings(max_examples=100, deadline=None)
@given(st.floats(min_value=0.6, max_value=1.9), st.integers(min_value=8, max_value=512))
def test_the_filter_converges_through_status_round_trips(ratio: float, batch: int) -> None:
    """The state is written to status (rounded) and read back every window: it still converges."""
    state = Correction(variance=P.initial_variance)
    for _ in range(60):
        state = fold(state, Sample(batch, 0.03 * ratio, 0.03), P)
        state = filters({"filters": filters_doc({"h100": state}, "h100")}, P)["h100"]
    assert state.factor == pytest.approx(ratio, rel=0.02)


@settings(max_examples=200, deadline=None)
@given(
    st.one_of(st.floats(allow_nan=True, allow_infinity=True), st.text(max_size=5), st.none()),
    st.one_of(st.floats(allow_nan=True, allow_infinity=True), st.text(max_size=5), st.none()),
)
def test_a_tampered_status_never_yields_an_unbounded_correction(log_ratio: Any, variance: Any) -> None:
    got = filters({"filters": [{"accelerator": "h100", "logRatio": log_ratio, "variance": variance}]}, P)
    for state in got.values():
        assert P.min_ratio - 1e-12 <= state.factor <= P.max_ratio + 1e-12
        assert state.variance > 0 and math.isfinite(state.variance)


def test_filters_are_kept_per_accelerator_current_first_and_capped() -> None:
    states = {f"acc{i}": Correction(0.1 * i, 0.01, i) for i in range(12)}
    doc = filters_doc(states, "acc9")
    assert doc[0]["accelerator"] == "acc9" and len(doc) == 8
    assert fold(Correction(), None, P).ignored == 1


# --------------------------------------------------------------------------- the planner


@settings(max_examples=60, deadline=None)
@given(st.floats(min_value=0.5, max_value=2.0), st.integers(min_value=20, max_value=2000))
def test_the_correction_scales_replicas_by_the_factor_within_one_replica(factor: float, rps: int) -> None:
    spec = ModelDeploymentSpec.model_validate({**BASE, "traffic": {**BASE["traffic"], "requestsPerSecond": rps}})
    before = plan(CAT, spec).applied
    after = plan(CAT, spec, step_time_factors={"h100": factor}).applied
    assert before.estimate.performance is not None and after.estimate.performance is not None
    assert after.estimate.performance.requests_per_second == pytest.approx(
        before.estimate.performance.requests_per_second / factor
    )
    exact = rps / (after.estimate.performance.requests_per_second * 0.8)
    assert math.ceil(exact - 1e-9) == after.placement.replicas
    if factor >= 1:
        assert after.placement.replicas >= before.placement.replicas


def test_a_correction_of_another_accelerator_changes_nothing_and_the_explanation_says_when_one_applies() -> None:
    spec = ModelDeploymentSpec.model_validate(BASE)
    base = plan(CAT, spec)
    other = plan(CAT, spec, step_time_factors={"b200": 1.5})
    assert other.applied.placement == base.applied.placement
    assert not any("Online calibration" in line for line in other.explanation)
    corrected = plan(CAT, spec, step_time_factors={"h100": 1.3})
    line = next(x for x in corrected.explanation if x.startswith("Online calibration"))
    assert "1.30x" in line and f"would plan {base.applied.placement.replicas} replica(s)" in line


def test_a_slower_replica_meets_a_stream_speed_floor_at_a_smaller_batch() -> None:
    spec = ModelDeploymentSpec.model_validate({**BASE, "slo": {"outputTokensPerSecondPerStream": 60}})
    base = plan(CAT, spec).applied.estimate.performance
    slow = plan(CAT, spec, step_time_factors={"h100": 1.3}).applied.estimate.performance
    assert base is not None and slow is not None
    assert slow.stream_tokens_per_second >= 60 - 1e-9
    assert slow.batch < base.batch


# --------------------------------------------------------------------------- the reconcile step


class FakeReader:
    """Engine readings of `replicas` replicas at `batch` each, `slower` times the model's step."""

    def __init__(self, batch: int = 64, slower: float = 1.3, replicas: int = 4) -> None:
        self.batch, self.slower, self.replicas = batch, slower, replicas
        self.calls: list[dict[str, str]] = []
        self.error: ReasonedError | None = None

    async def read(self, source: str, promql: dict[str, str]) -> Readings:
        self.calls.append(promql)
        if self.error is not None:
            raise self.error
        step = model_step("h100", 1, self.batch) * self.slower
        n = self.replicas
        return Readings(n, n * self.batch, n * self.batch / step, step, 0.5)


OLD_PLAN = {"plan": {"accelerator": "h100", "chipsPerReplica": 1, "replicas": 14}}


def at(second: int) -> str:
    return f"2026-12-01T00:{second // 60:02d}:{second % 60:02d}Z"


def run_step(reader: FakeReader | None, spec: ModelDeploymentSpec, old: dict[str, Any], t: int) -> Any:
    return asyncio.run(calibrate.step(reader, spec, old, CAT, "team", at(t)))


def test_the_step_samples_once_per_window_and_converges_to_the_slowdown() -> None:
    reader, spec = FakeReader(), spec_with()
    old: dict[str, Any] = dict(OLD_PLAN)
    for t in range(0, 105, 5):  # reconciles every 5 s, window 10 s: samples at 0, 10, ..., 100
        out = run_step(reader, spec, old, t)
        old = {**OLD_PLAN, "observed": {"calibration": out.block}}
    assert len(reader.calls) == 11
    assert reader.calls[0]["running"].endswith(', namespace="team"}[10s]))')  # the default selector
    block = out.block
    assert float(block["predictionError"]) == pytest.approx(0.3, abs=1e-3)
    assert float(block["factor"]) == pytest.approx(1.3, rel=0.02)
    assert block["applied"] is True and out.factors["h100"] == pytest.approx(1.3, rel=0.02)
    assert out.verdict.status == "True" and out.verdict.reason == "Correcting"
    assert "+30%" in out.verdict.message


def test_observe_mode_reports_the_error_and_gives_the_planner_nothing() -> None:
    out = run_step(FakeReader(), spec_with("observe"), dict(OLD_PLAN), 0)
    assert out.factors == {} and out.block["applied"] is False
    assert float(out.block["predictionError"]) == pytest.approx(0.3, abs=1e-3)
    assert out.verdict.reason == "Observing"


def test_why_calibration_is_inactive() -> None:
    spec = spec_with()
    assert run_step(FakeReader(), spec, {}, 0).verdict.reason == "NoPlan"
    for bad in ({"accelerator": 7, "chipsPerReplica": 1}, {"accelerator": "h100", "chipsPerReplica": "x"}):
        assert run_step(FakeReader(), spec, {"plan": bad}, 0).verdict.reason == "NoPlan"
    assert run_step(None, spec, dict(OLD_PLAN), 0).verdict.reason == "NoReader"
    low = run_step(FakeReader(batch=4), spec, dict(OLD_PLAN), 0)
    assert (low.verdict.status, low.verdict.reason) == ("False", "LowLoad")
    assert low.factors == {} and "predictionError" not in low.block
    idle = run_step(FakeReader(replicas=0), spec, dict(OLD_PLAN), 0)
    assert idle.verdict.reason == "NoLoad"
    assert "no usable sample yet" in plugin.calibration_summary(idle.block)
    failing = FakeReader()
    failing.error = DemandError("QueryFailed", "Prometheus source prom gave no usable answer (see the operator log)")
    out = run_step(failing, spec, dict(OLD_PLAN), 0)
    assert (out.verdict.status, out.verdict.reason) == ("False", "QueryFailed")
    assert "keeps the last correction" in out.verdict.message
    assert asyncio.run(calibrate.step(FakeReader(), spec_with("off"), dict(OLD_PLAN), CAT, "t", at(0))).block is None


def test_a_selector_outside_the_namespace_sends_nothing_and_says_why() -> None:
    reader = FakeReader()
    out = run_step(reader, spec_with(selector='job="e", namespace="other"'), dict(OLD_PLAN), 0)
    assert (out.verdict.status, out.verdict.reason) == ("False", "SelectorOutsideNamespace")
    assert "spec.calibration.selector" in out.verdict.message and reader.calls == []
    run_step(reader, spec_with(selector='job="e"'), dict(OLD_PLAN), 0)
    assert reader.calls[0]["running"].endswith('job="e", namespace="team"}[10s]))')
    out = run_step(reader, spec_with(selector='job="e"'), dict(OLD_PLAN), 0)
    assert out.block["selector"] == 'job="e", namespace="team"'  # status shows what was asked


def _steps(reader: FakeReader, spec: ModelDeploymentSpec, statuses: dict[int, dict[str, Any]]) -> dict[int, Any]:
    """Reconciles every 5 s; `statuses`: from that second on, the status the reconcile reads (the plan, conditions)."""
    out, block = {}, None
    current: dict[str, Any] = {}
    for t in range(0, max(statuses) + 40, 5):
        current = statuses.get(t, current)
        old = {**current, "observed": {"calibration": block}} if block is not None else dict(current)
        out[t] = run_step(reader, spec, old, t)
        block = out[t].block
    return out


def _serving(status: str) -> dict[str, Any]:
    return {"conditions": [{"type": "Serving", "status": status, "reason": "Progressing", "message": "1 of 14 ready"}]}


def test_samples_whose_window_overlaps_a_switch_of_accelerator_are_skipped_until_the_rollout_ends() -> None:
    reader, spec = FakeReader(), spec_with()
    h200 = {"plan": {"accelerator": "h200", "chipsPerReplica": 1, "replicas": 10}}
    out = _steps(reader, spec, {0: dict(OLD_PLAN), 30: {**h200, **_serving("False")}, 50: {**h200, **_serving("True")}})
    assert out[20].verdict.reason == "Correcting" and out[20].block["accelerator"] == "h100"
    for t in (30, 40, 50, 55):  # rolling out, then the drain's window (10 s after the last reconcile that saw it)
        assert (out[t].verdict.status, out[t].verdict.reason) == ("Unknown", "PlanChanged"), t
        assert "h200" in out[t].verdict.message and "previous plan" in out[t].verdict.message
    assert "its rollout is under way (1 of 14 ready)" in out[40].verdict.message
    assert "no sample until 2026-12-01T00:01:00Z" in out[55].verdict.message
    assert out[40].block["rolloutPending"] is True and "rolloutPending" not in out[55].block
    assert out[55].block["planChangeTime"] == at(50)
    assert out[60].verdict.reason == "Correcting" and out[60].block["accelerator"] == "h200"
    # No query while the windows mix: samples at 0, 10 and 20 on h100, then at 60, 70 and 80 on h200.
    assert len(reader.calls) == 6
    h100, h200_filter = (filters(out[60].block, P)[a] for a in ("h100", "h200"))
    assert (h100.samples, h200_filter.samples) == (3, 1)


def test_a_serving_condition_written_before_the_rollout_showed_does_not_end_it() -> None:
    """The pass that applies a new plan may still read the workload's status of before it (Serving True):
    the rollout ends only at a later pass that reads Serving True."""
    h200 = {"plan": {"accelerator": "h200", "chipsPerReplica": 1, "replicas": 10}}
    statuses = {0: dict(OLD_PLAN), 30: {**h200, **_serving("True")}, 35: {**h200, **_serving("False")}}
    out = _steps(FakeReader(), spec_with(), {**statuses, 50: {**h200, **_serving("True")}})
    assert all(out[t].verdict.reason == "PlanChanged" for t in range(30, 60, 5))
    assert out[60].verdict.reason == "Correcting"


def test_a_change_of_replica_size_without_a_rendered_workload_skips_one_window_and_a_scale_out_none() -> None:
    reader, spec = FakeReader(), spec_with()
    bigger = {"plan": {**OLD_PLAN["plan"], "chipsPerReplica": 2}}
    out = _steps(reader, spec, {0: dict(OLD_PLAN), 20: bigger})
    # Seen at 20, the change ends at the next pass (25: no Serving condition to wait for), then one window.
    assert [out[t].verdict.reason for t in (20, 25, 30)] == ["PlanChanged"] * 3
    assert out[35].verdict.reason == "Correcting" and out[35].block["replicaKey"].startswith("h100/2/")
    more = {"plan": {**OLD_PLAN["plan"], "replicas": 20}}
    reader = FakeReader()
    out = _steps(reader, spec, {0: dict(OLD_PLAN), 20: more})
    assert all(out[t].verdict.reason == "Correcting" for t in out if t % 10 == 0)
    assert len(reader.calls) == len([t for t in out if t % 10 == 0])  # a sample every window


def test_a_switch_the_status_records_counts_even_without_a_replica_key() -> None:
    old = {**OLD_PLAN, "lastSwitchTime": at(95), "observed": {"calibration": {"mode": "online", "engine": "vllm"}}}
    assert run_step(FakeReader(), spec_with(), old, 100).verdict.reason == "PlanChanged"
    assert run_step(FakeReader(), spec_with(), old, 105).verdict.reason == "Correcting"
    assert mixed_window(None, 100, 10) is False and mixed_window(95, 100, 10) and not mixed_window(90, 100, 10)


def test_a_failed_query_keeps_the_learnt_correction() -> None:
    reader, spec = FakeReader(), spec_with()
    old: dict[str, Any] = dict(OLD_PLAN)
    for t in range(0, 60, 10):
        old = {**OLD_PLAN, "observed": {"calibration": run_step(reader, spec, old, t).block}}
    reader.error = DemandError("QueryFailed", "down")
    out = run_step(reader, spec, old, 60)
    assert out.factors["h100"] == pytest.approx(float(old["observed"]["calibration"]["factor"]), rel=1e-3)


# --------------------------------------------------------------------------- egress


def test_engine_metrics_read_only_named_sources_and_bound_the_window() -> None:
    sent: list[str] = []

    async def send(target: Endpoint, q: str, timeout: float, max_bytes: int) -> Reading:
        sent.append(q)
        if "gpu_cache" in q:
            raise DemandError("MetricUnavailable", "the query returned no series")
        return Reading(4.0 if q.startswith("count") else 100.0, 0.0)

    reader = engine_metrics(send, namespace="infercap")
    got = asyncio.run(reader.read("prom", queries("vllm", 'job="e"', 60)))
    assert got == Readings(4.0, 100.0, 100.0, 100.0, None)
    with pytest.raises(egress.EgressDenied) as e:
        asyncio.run(reader.read("elsewhere", queries("vllm", 'job="e"', 60)))
    assert e.value.reason == "UnknownSource" and "spec.calibration.source" in e.value.message
    assert len(sent) == 5  # nothing sent for the unknown source

    async def nothing(target: Endpoint, q: str, timeout: float, max_bytes: int) -> Reading:
        raise DemandError("MetricUnavailable", "the query returned no series")

    with pytest.raises(DemandError) as d:
        asyncio.run(engine_metrics(nothing).read("prom", queries("vllm", 'a="b"', 60)))
    assert "spec.calibration.selector" in d.value.message
    with pytest.raises(DemandError) as t:
        asyncio.run(engine_metrics(slow, timeout_seconds=0.2).read("prom", queries("vllm", 'a="b"', 60)))
    assert t.value.reason == "QueryFailed"


# --------------------------------------------------------------------------- a whole reconcile loop


def test_replicas_thirty_percent_slower_are_re_planned_to_thirty_percent_more_and_it_is_explained() -> None:
    kube = FakeKube()
    spec = {
        **BASE,
        "nodePool": {"provider": "none"},
        "calibration": {"mode": "online", "source": "prom", "windowSeconds": 10},
    }
    kube.put(mdep("m", "team", spec))
    key = ("infercap.dev/v1alpha1", "ModelDeployment", "team", "m")
    reader = FakeReader()
    first = None
    for t in range(0, 120, 10):
        asyncio.run(reconcile(kube, OperatorConfig(), kube.objects[key], at(t), calibrator=reader))  # type: ignore[arg-type]
        if first is None:
            first = kube.objects[key]["status"]["plan"]["replicas"]
    status = kube.objects[key]["status"]
    assert first is not None and first >= 10
    after = status["plan"]["replicas"]
    assert after / first == pytest.approx(1.3, abs=1 / first + 0.02)
    cal = status["observed"]["calibration"]
    assert float(cal["predictionError"]) == pytest.approx(0.3, abs=1e-3) and cal["applied"] is True
    line = next(x for x in status["plan"]["explanation"] if x.startswith("Online calibration"))
    assert f"{float(cal['factor']):.2f}x the model's" in line and f"would plan {first} replica(s)" in line
    cond = {c["type"]: c for c in status["conditions"]}
    assert cond["Calibrated"]["reason"] == "Correcting" and cond["Ready"]["status"] == "True"
    shown = plugin.explain(kube.objects[key], "table")
    assert "Calibration: online (vllm on h100): prediction error +30.0% at 64 running per replica" in shown
    assert "applied to the plan" in shown and "Online calibration:" in shown
    metrics.observe("team", "m", "llama-3.1-8b", status)
    error = metrics.REGISTRY.get_sample_value("infercap_prediction_error_ratio", {"namespace": "team", "name": "m"})
    factor = metrics.REGISTRY.get_sample_value("infercap_calibration_factor", {"namespace": "team", "name": "m"})
    assert error == pytest.approx(0.3, abs=1e-3) and factor == pytest.approx(1.3, rel=0.03)
    # Calibration removed from the spec: the block, the condition and the series go.
    kube.objects[key]["spec"] = dict(BASE, nodePool={"provider": "none"})
    asyncio.run(reconcile(kube, OperatorConfig(), kube.objects[key], at(130), calibrator=reader))  # type: ignore[arg-type]
    status = kube.objects[key]["status"]
    assert "calibration" not in (status.get("observed") or {})
    assert "Calibrated" not in {c["type"] for c in status["conditions"]}
    assert status["plan"]["replicas"] == first
    metrics.observe("team", "m", "llama-3.1-8b", status)
    assert (
        metrics.REGISTRY.get_sample_value("infercap_prediction_error_ratio", {"namespace": "team", "name": "m"}) is None
    )
    metrics.forget("team", "m")


def test_a_calibration_that_cannot_read_its_source_is_a_warning_event_once_and_the_plan_stands() -> None:
    kube = FakeKube()
    spec = {**BASE, "nodePool": {"provider": "none"}, "calibration": {"source": "elsewhere", "windowSeconds": 10}}
    kube.put(mdep("m", "team", spec))
    key = ("infercap.dev/v1alpha1", "ModelDeployment", "team", "m")
    reader = FakeReader()
    reader.error = egress.EgressDenied("UnknownSource", "spec.calibration.source 'elsewhere' is not a source")
    results = []
    for t in (0, 10, 20, 30):
        results.append(asyncio.run(reconcile(kube, OperatorConfig(), kube.objects[key], at(t), calibrator=reader)))  # type: ignore[arg-type]
    warnings = [e for r in results for e in r.events if e.reason == "UnknownSource"]
    assert len(warnings) == 1 and warnings[0].type == "Warning" and warnings[0].action == "Calibrate"
    status = kube.objects[key]["status"]
    cond = {c["type"]: c for c in status["conditions"]}
    assert (cond["Calibrated"]["status"], cond["Ready"]["status"]) == ("False", "True")
    assert status["observed"]["calibration"]["mode"] == "observe"  # the default mode
    assert "factor" not in status["observed"]["calibration"]
