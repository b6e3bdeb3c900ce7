"""Egress the admin allowed (issue 9, item 2): a canary listener sees no request under the default
configuration or for denied addresses; named sources carry their auth; every failure reads the same and
no response body reaches a message."""

from __future__ import annotations

import asyncio
import ipaddress
import json
import socket
import ssl
import subprocess
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from infercap import egress
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


# --- HTTPS tenant URLs pinned to the checked address (DNS rebinding between check and connect) ---------


def _openssl(*args: str) -> None:
    subprocess.run(["openssl", *args], check=True, capture_output=True)


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """A throwaway CA, and server certificates it signed for prom.example and for other.example."""
    d = tmp_path_factory.mktemp("pki")
    ec = ("-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes")
    _openssl(
        "req", "-x509", *ec, "-keyout", str(d / "ca.key"), "-out", str(d / "ca.pem"), "-days", "2",
        "-subj", "/CN=infercap test CA", "-addext", "basicConstraints=critical,CA:TRUE",
        "-addext", "keyUsage=critical,keyCertSign,cRLSign",
    )  # fmt: skip
    for name in ("prom.example", "other.example"):
        _openssl("req", *ec, "-keyout", str(d / f"{name}.key"), "-out", str(d / f"{name}.csr"), "-subj", f"/CN={name}")
        (d / f"{name}.ext").write_text(f"subjectAltName=DNS:{name}\nextendedKeyUsage=serverAuth\n")
        _openssl(
            "x509", "-req", "-in", str(d / f"{name}.csr"), "-CA", str(d / "ca.pem"), "-CAkey", str(d / "ca.key"),
            "-CAcreateserial", "-days", "2", "-extfile", str(d / f"{name}.ext"), "-out", str(d / f"{name}.pem"),
        )  # fmt: skip
    return {"ca": d / "ca.pem", "dir": d}


class TLSCanary(Canary):
    """The canary over TLS on `address`:`port` with the certificate for `cert_name`; records SNI too."""

    def __init__(self, pki: dict[str, Path], cert_name: str, address: str, port: int = 0) -> None:
        self.hits = []
        self.sni: list[str | None] = []
        self.reply = (200, json.dumps(OK).encode())
        canary = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                canary.hits.append({"path": self.path, "headers": dict(self.headers)})
                body = canary.reply[1]
                self.send_response(canary.reply[0])
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: Any) -> None:
                return

        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(pki["dir"] / f"{cert_name}.pem", pki["dir"] / f"{cert_name}.key")
        ctx.sni_callback = lambda sock, name, _ctx: canary.sni.append(name)  # type: ignore[assignment,misc]
        self.server = ThreadingHTTPServer((address, port), Handler)
        self.server.socket = ctx.wrap_socket(self.server.socket, server_side=True)
        self.port = self.server.server_address[1]
        self.url = f"https://{address}:{self.port}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()


@pytest.fixture
def rebinding(monkeypatch: pytest.MonkeyPatch, pki: dict[str, Path]) -> Iterator[dict[str, Any]]:
    """prom.example: the operator's check resolves it to 127.0.0.1 (the real Prometheus here), any later
    lookup (the system resolver, what an unpinned client would use to connect) to 127.0.0.2, where a
    canary with a valid certificate for the same name listens on the same port. Loopback is allowed for
    these tests only: the local servers cannot listen anywhere else."""
    monkeypatch.setattr(egress, "DENIED_NETWORKS", [n for n in egress.DENIED_NETWORKS if not n.is_loopback])
    monkeypatch.setenv("SSL_CERT_FILE", str(pki["ca"]))  # verify=True trusts the test CA, and only it
    good = TLSCanary(pki, "prom.example", "127.0.0.1")
    try:
        evil = TLSCanary(pki, "prom.example", "127.0.0.2", good.port)
    except OSError:
        good.close()
        pytest.skip("127.0.0.2 is not usable on this machine")
    checks: list[str] = []

    async def check_resolver(host: str, port: int) -> list[Address]:
        checks.append(host)
        return [ipaddress.ip_address("127.0.0.1" if len(checks) == 1 else "127.0.0.2")]

    real = socket.getaddrinfo

    def system_resolver(host: Any, *args: Any, **kw: Any) -> Any:
        return real("127.0.0.2" if host in ("prom.example", b"prom.example") else host, *args, **kw)

    monkeypatch.setattr(socket, "getaddrinfo", system_resolver)
    yield {"good": good, "evil": evil, "checks": checks, "resolve": check_resolver}
    good.close()
    evil.close()


def test_an_https_tenant_url_is_pinned_to_the_checked_address(rebinding: dict[str, Any]) -> None:
    good, evil = rebinding["good"], rebinding["evil"]
    cfg = EgressConfig(allowed_hosts=["prom.example"])
    url = f"https://prom.example:{good.port}"
    assert asyncio.run(poll(metric(url=url), cfg, api_servers=set(), resolve=rebinding["resolve"])) == 7.5
    assert evil.hits == [], "the rebound address got the query"
    assert len(good.hits) == 1 and rebinding["checks"] == ["prom.example"]
    assert good.sni == ["prom.example"], "SNI carries the URL's name, not the address"
    assert good.hits[0]["headers"]["Host"] == f"prom.example:{good.port}"
    target = asyncio.run(endpoint(metric(url=url), cfg, SecretCache(_no_secrets), "x", set(), resolve_to("10.2.3.4")))
    assert target.url == f"https://10.2.3.4:{good.port}" and target.tls_name == "prom.example"


def test_a_pinned_https_url_still_verifies_the_certificate_for_the_name(
    rebinding: dict[str, Any], pki: dict[str, Path]
) -> None:
    """Pinning must not weaken TLS: the certificate is checked for the URL's name (a server at the checked
    address with a certificate for another name is refused), against the trusted CAs."""
    wrong = TLSCanary(pki, "other.example", "127.0.0.3")
    try:
        cfg = EgressConfig(allowed_hosts=["prom.example"])

        async def to_wrong(host: str, port: int) -> list[Address]:
            return [ipaddress.ip_address("127.0.0.3")]

        with pytest.raises(DemandError) as e:
            asyncio.run(
                poll(metric(url=f"https://prom.example:{wrong.port}"), cfg, api_servers=set(), resolve=to_wrong)
            )
        assert e.value.reason == "QueryFailed" and wrong.hits == []
    finally:
        wrong.close()
