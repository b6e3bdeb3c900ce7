"""The autoscaler's measured SLI end to end (issue 12): the fake engine exports vLLM's TTFT and per-request
TPOT histograms with vLLM's bucket bounds, a real Prometheus scrapes it, and the session operator reads
them through its named source `test`. The error budget's account then says `measured`, counts the
engine's requests (20/s, not the load generator's 2/s that the estimate would count) and its misses (the
30 % whose TTFT is 3 s against a 2 s target); when the engine's series go, the account falls back to the
estimate and SliObserved says why, while the demand decisions go on."""

from __future__ import annotations

import datetime
import json
import urllib.parse
import urllib.request
from typing import Any

import pytest
import yaml

from tests.e2e.conftest import Cluster, Operator, Prometheus, wait_until
from tests.e2e.test_operator import condition, manifest, mdep

pytestmark = pytest.mark.cluster

ENGINE_RPS = 20.0
SLOW_SHARE = 0.3


def seconds_between(a: str, b: str) -> float:
    def at(ts: str) -> float:
        return datetime.datetime.strptime(ts, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=datetime.UTC).timestamp()

    return at(b) - at(a)


def prom_has(prometheus: Prometheus, promql: str) -> bool:
    url = f"{prometheus.url}/api/v1/query?" + urllib.parse.urlencode({"query": promql})
    with urllib.request.urlopen(url, timeout=5) as r:
        return bool(json.loads(r.read())["data"]["result"])


def test_the_error_budget_counts_the_engines_measured_misses_and_falls_back_to_the_estimate(
    cluster: Cluster, operator: Operator, namespace: str, prometheus: Prometheus
) -> None:
    prometheus.set_rate(2)
    engine = {"replicas": 2, "dp": 2, "batch": 8, "step": 0.02, "kv": 0.3, "namespace": namespace}
    prometheus.set_engine(**engine, rps=ENGINE_RPS, ttft=0.05, slow_share=SLOW_SHARE, slow_ttft=3.0)
    # The histograms are in Prometheus before the account opens, so no interval falls back to the estimate.
    selector = f'namespace="{namespace}"'
    wait_until(
        lambda: prom_has(prometheus, f"increase(vllm:time_to_first_token_seconds_count{{{selector}}}[10s])"),
        timeout=60,
        what="the engine's TTFT histogram in Prometheus",
    )
    doc = yaml.safe_load(
        manifest(
            "measured",
            namespace,
            traffic={"requestsPerSecond": 1, "inputTokens": 1000, "outputTokens": 200},
            slo={"timeToFirstTokenMs": 2000, "outputTokensPerSecondPerStream": 30},
            nodePool={"provider": "none"},
            autoscaling={
                "metric": {"prometheus": {"source": "test", "query": "sum(rate(loadgen_requests_total[10s]))"}},
                "provisioningSeconds": 0,
                "staleAfterSeconds": 600,
                # No serving workload here: the engine is named. Polls are 2 s apart, ranges 10 s.
                "sli": {"source": "test", "engine": "vllm", "selector": 'job="engine"', "minWindowSeconds": 10},
            },
        )
    )
    cluster.kubectl("apply", "-f", "-", input=yaml.safe_dump(doc))

    def budget(source: str, requests: float = 0.0) -> dict[str, Any] | None:
        obj = mdep(cluster, "measured", namespace)
        b = ((obj.get("status") or {}).get("autoscaling") or {}).get("errorBudget") or {}
        return obj if b.get("source") == source and float(b.get("requests") or 0) > requests else None

    obj = wait_until(lambda: budget("measured", 400), timeout=120, what="a measured account of 400+ requests")
    b = obj["status"]["autoscaling"]["errorBudget"]
    cond = condition(obj, "SliObserved")
    assert cond is not None and (cond["status"], cond["reason"]) == ("True", "Measured"), cond
    assert "vllm:time_to_first_token_seconds" in cond["message"] and "TTFT <= 1 s" in cond["message"]
    assert "TTFT only" not in cond["message"]  # the TPOT histogram is there, and every request met it
    # The misses follow the engine's TTFTs: 30 % of requests at 3 s miss a 2 s target, the rest at 50 ms
    # do not (range boundaries and extrapolation make it approximate).
    assert b["misses"] > 0 and b["misses"] / b["requests"] == pytest.approx(SLOW_SHARE, abs=0.08)
    # The engine's requests, not the demand metric's: the estimate would count ~2 req/s.
    rate = b["requests"] / max(1.0, seconds_between(b["since"], b["updated"]))
    assert ENGINE_RPS * 0.6 < rate < ENGINE_RPS * 1.4, rate
    assert condition(obj, "DemandObserved")["status"] == "True"  # type: ignore[index]
    print(f"\nmeasured error budget: {b['requests']:.0f} requests, {b['misses']:.0f} missed ({rate:.1f} req/s)")

    # The engine's series leave this namespace: no series match, the interval is estimated and said so.
    prometheus.set_engine(**{**engine, "namespace": "elsewhere"}, rps=ENGINE_RPS, ttft=0.05)

    def fell_back() -> dict[str, Any] | None:
        obj = budget("estimated")
        c = condition(obj, "SliObserved") if obj is not None else None
        return obj if c is not None and (c["status"], c["reason"]) == ("False", "SliUnavailable") else None

    obj = wait_until(fell_back, timeout=90, what="SliObserved=False and an estimated account")
    assert "queueing model's estimate" in condition(obj, "SliObserved")["message"]  # type: ignore[index]
    assert obj["status"]["autoscaling"]["errorBudget"]["requests"] > 0  # the account is kept, not reopened
    assert condition(obj, "DemandObserved")["status"] == "True"  # type: ignore[index]
    assert obj["status"]["autoscaling"]["plannedRequestsPerSecond"]


def test_the_api_server_refuses_ratio_queries_without_the_window_or_with_a_selector(
    cluster: Cluster, crds_installed: None, namespace: str
) -> None:
    ratio = {"good": "sum(increase(g[{{.window}}]))", "total": "sum(increase(t[5m]))"}
    for i, (sli, says) in enumerate(
        (
            ({"source": "test", "prometheus": ratio}, "spec.autoscaling.sli.prometheus.total"),
            (
                {"source": "test", "selector": 'job="x"', "prometheus": {**ratio, "total": "t[{{.window}}]"}},
                "with prometheus, write the matchers into its queries",
            ),
        )
    ):
        doc = yaml.safe_load(
            manifest(
                f"bad-{i}",
                namespace,
                traffic={"requestsPerSecond": 1, "inputTokens": 1000, "outputTokens": 200},
                autoscaling={"metric": {"prometheus": {"source": "test", "query": "up"}}, "sli": sli},
            )
        )
        out = cluster.kubectl("apply", "-f", "-", input=yaml.safe_dump(doc), check=False)
        assert out.returncode != 0 and says in out.stderr, out.stderr
