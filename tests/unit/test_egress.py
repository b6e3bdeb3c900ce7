"""Egress the admin allowed (issue 9, item 2): a canary listener sees no request under the default
configuration or for denied addresses; named sources carry their auth; every failure reads the same and
no response body reaches a message."""

from __future__ import annotations

import asyncio
import ipaddress
import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from infercap.api.config import EgressConfig
from infercap.api.deployment import PrometheusMetric
from infercap.demand import DemandError, query
from infercap.egress import Address, EgressDenied, SecretCache, endpoint

OK = {"status": "success", "data": {"resultType": "scalar", "result": [1.0, "7.5"]}}


class Canary:
    """A local HTTP server that records every request and answers what `reply` says."""

    def __init__(self) -> None:
        self.hits: list[dict[str, Any]] = []
        self.reply: tuple[int, bytes] = (200, json.dumps(OK).encode())
        canary = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                canary.hits.append({"path": self.path, "headers": dict(self.headers)})
                code, body = canary.reply
                self.send_response(code)
                self.send_header("Content-Type", "application/json")
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: Any) -> None:
                return

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def canary() -> Iterator[Canary]:
    c = Canary()
    yield c
    c.close()


async def _no_secrets(namespace: str, name: str) -> dict[str, str] | None:
    return None


def metric(**kw: Any) -> PrometheusMetric:
    return PrometheusMetric.model_validate({"query": "sum(rate(x[1m]))", **kw})


def resolve_to(*ips: str) -> Any:
    async def resolve(host: str, port: int) -> list[Address]:
        return [ipaddress.ip_address(ip) for ip in ips]

    return resolve


async def poll(m: PrometheusMetric, cfg: EgressConfig, **kw: Any) -> float:
    """What the operator does on each autoscale poll: resolve the endpoint, then query it."""
    target = await endpoint(m, cfg, SecretCache(_no_secrets), "infercap-system", **kw)
    return (await query(target, m.query, cfg.timeout_seconds, cfg.max_response_bytes)).value


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:{port}",
        "http://localhost:{port}",
        "http://[::1]:{port}",
        "http://169.254.169.254",
        "http://metadata.google.internal",
        "http://kubernetes.default.svc:443",
        "http://[::1",
        "http://user:pw@127.0.0.1:{port}",
        "http://127.0.0.1:{port}/api/v1/query?query=up#",
    ],
)
def test_default_configuration_sends_nothing(canary: Canary, url: str) -> None:
    url = url.format(port=canary.port)
    try:
        m = metric(url=url)
    except ValueError:
        return  # refused by the schema already
    with pytest.raises(EgressDenied) as err:
        asyncio.run(poll(m, EgressConfig()))
    assert err.value.reason == "SourceNotAllowed"
    assert canary.hits == []


@pytest.mark.parametrize(
    ("host", "ips"),
    [
        ("127.0.0.1", ["127.0.0.1"]),
        ("prom.example", ["127.0.0.2"]),
        ("prom.example", ["10.1.2.3", "169.254.169.254"]),  # one bad answer is enough
        ("prom.example", ["::ffff:127.0.0.1"]),
        ("prom.example", ["fd00:ec2::254"]),
        ("prom.example", ["10.96.0.1"]),  # the API server's Service address
    ],
)
def test_allowed_hosts_never_reach_denied_addresses(canary: Canary, host: str, ips: list[str]) -> None:
    cfg = EgressConfig(allowed_hosts=[host, "127.0.0.1"])
    with pytest.raises(EgressDenied):
        asyncio.run(
            poll(metric(url=f"http://{host}:{canary.port}"), cfg, api_servers={"10.96.0.1"}, resolve=resolve_to(*ips))
        )
    assert canary.hits == []


def test_an_allowed_host_is_pinned_to_the_checked_address() -> None:
    cfg = EgressConfig(allowed_hosts=["prom.monitoring.svc:9090"])
    target = asyncio.run(
        endpoint(
            metric(url="http://prom.monitoring.svc:9090"),
            cfg,
            SecretCache(_no_secrets),
            "x",
            set(),
            resolve_to("10.2.3.4"),
        )
    )
    assert target.url == "http://10.2.3.4:9090"
    assert target.headers == {"Host": "prom.monitoring.svc:9090"}
    with pytest.raises(EgressDenied):  # another port of the same host is not allowed
        asyncio.run(
            endpoint(
                metric(url="http://prom.monitoring.svc:22"),
                cfg,
                SecretCache(_no_secrets),
                "x",
                set(),
                resolve_to("10.2.3.4"),
            )
        )


def test_a_named_source_is_queried_with_its_bearer_token(canary: Canary) -> None:
    cfg = EgressConfig.model_validate(
        {"sources": {"main": {"url": canary.url, "bearerToken": {"name": "prom-auth", "key": "token"}}}}
    )
    reads: list[tuple[str, str]] = []

    async def read(namespace: str, name: str) -> dict[str, str] | None:
        reads.append((namespace, name))
        return {"token": "s3cret\n"}

    secrets = SecretCache(read)
    m = metric(source="main")
    for _ in range(3):
        target = asyncio.run(endpoint(m, cfg, secrets, "infercap-system"))
        assert asyncio.run(query(target, m.query)).value == 7.5
    assert canary.hits[0]["headers"]["Authorization"] == "Bearer s3cret"
    assert canary.hits[0]["path"].startswith("/api/v1/query?query=sum")
    assert reads == [("infercap-system", "prom-auth")], "the Secret is cached, not read on every poll"


def test_basic_auth_and_missing_secrets(canary: Canary) -> None:
    cfg = EgressConfig.model_validate({"sources": {"main": {"url": canary.url, "basicAuth": "prom-basic"}}})

    async def read(namespace: str, name: str) -> dict[str, str] | None:
        return {"username": "u", "password": "p"} if name == "prom-basic" else None

    target = asyncio.run(endpoint(metric(source="main"), cfg, SecretCache(read), "ns"))
    asyncio.run(query(target, "up"))
    assert canary.hits[-1]["headers"]["Authorization"] == "Basic dTpw"
    with pytest.raises(EgressDenied) as err:
        asyncio.run(endpoint(metric(source="main"), cfg, SecretCache(_no_secrets), "ns"))
    assert err.value.reason == "SourceMisconfigured"
    with pytest.raises(EgressDenied) as err:
        asyncio.run(endpoint(metric(source="other"), cfg, SecretCache(_no_secrets), "ns"))
    assert err.value.reason == "UnknownSource"


@pytest.mark.parametrize(
    "reply",
    [
        (500, b"internal SECRET-BODY"),
        (404, b'{"status":"error","error":"SECRET-BODY"}'),
        (200, b'{"status":"error","errorType":"bad_data","error":"SECRET-BODY"}'),
        (200, b"<html>SECRET-BODY</html>"),
        (200, b'{"status":"success","data":{"resultType":"scalar","result":["SECRET-BODY"]}}'),
        (200, b"x" * 5000),
        (302, b""),
    ],
)
def test_every_failure_reads_the_same_and_carries_no_body(canary: Canary, reply: tuple[int, bytes]) -> None:
    canary.reply = reply
    cfg = EgressConfig.model_validate({"sources": {"main": {"url": canary.url}}, "maxResponseBytes": 4096})
    with pytest.raises(DemandError) as err:
        asyncio.run(poll(metric(source="main"), cfg))
    assert err.value.reason == "QueryFailed"
    assert err.value.message == "Prometheus source main gave no usable answer (see the operator log)"


def test_a_closed_port_reads_like_an_error_answer() -> None:
    cfg = EgressConfig.model_validate({"sources": {"main": {"url": "http://127.0.0.1:9"}}})
    with pytest.raises(DemandError) as err:
        asyncio.run(poll(metric(source="main"), cfg))
    assert err.value.message == "Prometheus source main gave no usable answer (see the operator log)"


def test_a_metric_names_exactly_one_target() -> None:
    with pytest.raises(ValueError, match="exactly one of source or url"):
        PrometheusMetric.model_validate({"query": "up"})
    with pytest.raises(ValueError, match="exactly one of source or url"):
        PrometheusMetric.model_validate({"query": "up", "source": "a", "url": "http://p:9090"})
