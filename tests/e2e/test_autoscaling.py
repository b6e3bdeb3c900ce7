"""Autoscaling on live traffic, end to end: a load generator, a real Prometheus scraping it, the
operator polling Prometheus. Raising the rate raises nodes and cost; stopping the generator does not
drop capacity (the last plan is held and DemandObserved says why)."""

from __future__ import annotations

import datetime
from typing import Any

import pytest
import yaml

from tests.e2e.conftest import Cluster, Operator, Prometheus, wait_until
from tests.e2e.test_operator import condition, events_of, manifest, mdep

pytestmark = pytest.mark.cluster


def autoscaled(name: str, namespace: str, **autoscaling: Any) -> dict[str, Any]:
    """A ModelDeployment of these tests: llama-3.1-70b on h100 at 30 tok/s per stream, autoscaled."""
    return dict(
        yaml.safe_load(
            manifest(
                name,
                namespace,
                model="llama-3.1-70b",
                precision="fp8",
                traffic={"requestsPerSecond": 1, "inputTokens": 2000, "outputTokens": 400},
                slo={"outputTokensPerSecondPerStream": 30},
                autoscaling=autoscaling,
            )
        )
    )


def test_live_demand_moves_capacity_and_missing_data_holds_it(
    cluster: Cluster, operator: Operator, namespace: str, prometheus: Prometheus
) -> None:
    prometheus.set_rate(2)
    doc = autoscaled(
        "live",
        namespace,
        # The source the session operator's configuration names (tests/e2e/conftest.py).
        metric={"prometheus": {"source": "test", "query": "sum(rate(loadgen_requests_total[10s]))"}},
        minReplicas=1,
        maxReplicas=64,
        scaleDownStabilizationSeconds=60,
        provisioningSeconds=0,
        staleAfterSeconds=600,
    )
    cluster.kubectl("apply", "-f", "-", input=yaml.safe_dump(doc))

    def observed(at_least: float) -> dict[str, Any] | None:
        obj = mdep(cluster, "live", namespace)
        auto = (obj.get("status") or {}).get("autoscaling") or {}
        value = float(auto.get("observedRequestsPerSecond") or -1)
        return obj if value >= at_least and (obj["status"].get("plan") or {}).get("nodes") else None

    low = wait_until(lambda: observed(1.5), timeout=90, what="the operator to observe ~2 req/s")
    cond = condition(low, "DemandObserved")
    assert cond is not None and cond["status"] == "True"
    assert low["status"]["demand"]["source"] == "metric"

    prometheus.set_rate(40)
    wait_until(lambda: observed(30), timeout=90, what="the operator to observe ~40 req/s")

    def more_nodes() -> dict[str, Any] | None:
        obj = mdep(cluster, "live", namespace)
        return obj if obj["status"]["plan"]["nodes"] > low["status"]["plan"]["nodes"] else None

    high = wait_until(more_nodes, timeout=60, what="more nodes")
    assert float(high["status"]["cost"]["monthly"]) > float(low["status"]["cost"]["monthly"])
    q = cluster.get_json("resourcequota", "infercap", "-n", namespace)
    assert int(q["spec"]["hard"]["requests.nvidia.com/gpu"]) > low["status"]["plan"]["chips"] // 2

    # The generator stops: its series goes stale, the query returns nothing. Capacity is held.
    prometheus.stop_loadgen()

    def unavailable() -> dict[str, Any] | None:
        obj = mdep(cluster, "live", namespace)
        c = condition(obj, "DemandObserved")
        return obj if c is not None and c["status"] == "False" else None

    held = wait_until(unavailable, timeout=90, what="DemandObserved=False after the generator stopped")
    assert condition(held, "DemandObserved")["reason"] == "MetricUnavailable"  # type: ignore[index]
    assert held["status"]["plan"]["replicas"] >= 1
    # `high` is the first plan above `low`; demand may still have risen after it, so "held" means no drop.
    assert held["status"]["plan"]["nodes"] >= high["status"]["plan"]["nodes"], "no drop on missing data"


def test_a_scheduled_window_raises_the_plan_over_low_demand(
    cluster: Cluster, operator: Operator, namespace: str, prometheus: Prometheus
) -> None:
    """A window open now (the test's clock, in UTC) at 30 req/s while the measured demand is about 1: the
    planned demand reaches the window's rate and status.autoscaling names the window; the API server
    refuses a time that is not HH:MM (the CRD's pattern)."""
    prometheus.set_rate(1)
    now = datetime.datetime.now(datetime.UTC)
    start, end = now - datetime.timedelta(hours=1), now + datetime.timedelta(hours=2)
    window = {
        "name": "launch",
        "start": start.strftime("%H:%M"),
        "end": end.strftime("%H:%M"),  # past midnight when it comes before start: the next day's
        "days": [start.strftime("%a")],  # the day it opened
        "timeZone": "UTC",
        "requestsPerSecond": "30",
    }
    doc = autoscaled(
        "scheduled",
        namespace,
        metric={"prometheus": {"source": "test", "query": "sum(rate(loadgen_requests_total[10s]))"}},
        maxReplicas=64,  # without minReplicas: the CRD's rule reads it as 1
        provisioningSeconds=60,
        staleAfterSeconds=600,
        schedule=[window],
    )
    bad = {**doc, "metadata": {"name": "bad-window", "namespace": namespace}}
    bad["spec"] = {
        **doc["spec"],
        "autoscaling": {**doc["spec"]["autoscaling"], "schedule": [{**window, "start": "9:00"}]},
    }
    refused = cluster.kubectl("apply", "-f", "-", input=yaml.safe_dump(bad), check=False)
    assert refused.returncode != 0 and "schedule[0].start" in refused.stderr, refused.stderr
    cluster.kubectl("apply", "-f", "-", input=yaml.safe_dump(doc))

    def planned_for_the_window() -> dict[str, Any] | None:
        obj = mdep(cluster, "scheduled", namespace)
        auto = (obj.get("status") or {}).get("autoscaling") or {}
        observed = float(auto.get("observedRequestsPerSecond") or -1)
        planned = float(auto.get("plannedRequestsPerSecond") or -1)
        ok = 0 <= observed < 5 and planned >= 30 and (obj["status"].get("plan") or {}).get("nodes")
        return obj if ok else None

    obj = wait_until(planned_for_the_window, timeout=90, what="the plan to reach the window's 30 req/s")
    auto = obj["status"]["autoscaling"]
    assert auto["scheduledRequestsPerSecond"] == "30" and auto["scheduleWindow"] == "launch"
    assert "launch" in auto["message"]
    assert condition(obj, "DemandObserved")["status"] == "True"  # type: ignore[index]


def test_a_schedule_the_api_server_cannot_judge_is_refused_by_the_operator(
    cluster: Cluster, operator: Operator, namespace: str
) -> None:
    """Each window name once is the CRD's rule; a time zone the tz database does not know passes the CRD's
    pattern and is Planned=False InvalidSpec naming the field, with a Warning event."""
    metric = {"prometheus": {"source": "test", "query": "sum(rate(loadgen_requests_total[10s]))"}}
    window = {"name": "peak", "start": "09:00", "end": "17:00", "requestsPerSecond": 10}
    twice = yaml.safe_load(manifest("twice", namespace))
    twice["spec"]["autoscaling"] = {"metric": metric, "schedule": [window, window]}
    refused = cluster.kubectl("apply", "-f", "-", input=yaml.safe_dump(twice), check=False)
    assert refused.returncode != 0 and "schedule names a window twice" in refused.stderr, refused.stderr
    typo = yaml.safe_load(manifest("typo", namespace))
    typo["spec"]["autoscaling"] = {"metric": metric, "schedule": [{**window, "timeZone": "Europe/Berln"}]}
    cluster.kubectl("apply", "-f", "-", input=yaml.safe_dump(typo))

    def invalid() -> dict[str, Any] | None:
        c = condition(mdep(cluster, "typo", namespace), "Planned")
        return c if c is not None and c["reason"] == "InvalidSpec" else None

    cond = wait_until(invalid, timeout=60, what="Planned=False InvalidSpec")
    assert cond["status"] == "False"
    assert cond["message"].startswith("spec.autoscaling.schedule[0].timeZone: unknown time zone"), cond
    warned = wait_until(
        lambda: [e for e in events_of(cluster, "typo", namespace) if e["reason"] == "InvalidSpec"] or None,
        timeout=30,
        what="the InvalidSpec event",
    )
    assert warned[0]["type"] == "Warning" and "timeZone" in warned[0]["message"]


def test_operator_exports_metrics(cluster: Cluster, operator: Operator, namespace: str) -> None:
    import urllib.request

    cluster.kubectl(
        "apply",
        "-f",
        "-",
        input=manifest(
            "measured", namespace, traffic={"requestsPerSecond": 5, "inputTokens": 500, "outputTokens": 100}
        ),
    )

    def scraped() -> str | None:
        with urllib.request.urlopen(f"http://127.0.0.1:{operator.metrics_port}/metrics", timeout=5) as r:
            text = r.read().decode()
        return text if f'infercap_planned_nodes{{name="measured",namespace="{namespace}"}}' in text else None

    text = wait_until(scraped, timeout=60, what="the ModelDeployment's series")
    for name in (
        "infercap_cost_hourly",
        "infercap_plan_info",
        "infercap_demand_requests_per_second",
        "infercap_reconcile_duration_seconds_bucket",
    ):
        assert name in text


def test_a_tenant_url_gets_no_request_under_the_default_configuration(
    cluster: Cluster, operator: Operator, namespace: str
) -> None:
    """The canary: a listener on the operator's loopback and ModelDeployments that point at it, at cloud
    metadata and at the API server. The operator's configuration allows no tenant URL, so it sends
    nothing, and the condition says why without any response detail."""
    import threading
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    hits: list[str] = []

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            hits.append(self.path)
            self.send_response(200)
            self.end_headers()
            self.wfile.write(b'{"status":"success","data":{"resultType":"scalar","result":[1,"1000"]}}')

        def log_message(self, *args: Any) -> None:
            return

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    urls = [
        f"http://127.0.0.1:{server.server_address[1]}",
        f"http://localhost:{server.server_address[1]}",
        "http://169.254.169.254",
        "https://kubernetes.default.svc",
    ]
    try:
        for i, url in enumerate(urls):
            doc = yaml.safe_load(manifest(f"canary-{i}", namespace))
            doc["spec"]["autoscaling"] = {"metric": {"prometheus": {"url": url, "query": "up"}}}
            cluster.kubectl("apply", "-f", "-", input=yaml.safe_dump(doc))

        def refused() -> list[dict[str, Any]] | None:
            conds = [condition(mdep(cluster, f"canary-{i}", namespace), "DemandObserved") for i in range(len(urls))]
            return conds if all(c is not None and c["reason"] == "SourceNotAllowed" for c in conds) else None  # type: ignore[return-value]

        conds = wait_until(refused, timeout=60, what="DemandObserved=SourceNotAllowed on every canary")
        for c in conds:
            assert c["status"] == "False" and "allowedHosts" in c["message"]
        assert hits == [], f"the operator sent {len(hits)} request(s) to the canary"
    finally:
        server.shutdown()
        server.server_close()
