"""Egress the admin allowed: turns a ModelDeployment's metric reference into a Prometheus endpoint the
operator may call, or refuses without sending anything.

A tenant who may write a ModelDeployment must not make the operator a proxy into the cluster (SSRF):
by default the operator sends no demand query at all. A ModelDeployment names a source from the
operator configuration (prometheus.sources: URL, auth from a Secret in the operator's namespace, CA);
a URL it writes itself is used only on a host in prometheus.allowedHosts, and never when the host
resolves to loopback, link-local (cloud metadata), unspecified or multicast addresses, or is the API
server. Tenant URLs are pinned to the address that was checked (no DNS rebinding between the check and
the request): plain HTTP connects to that address with the Host header of the URL; HTTPS too, sending
the URL's host name in the TLS handshake (SNI) and verifying the certificate for that name. Online
calibration and the autoscaler's measured SLI (EngineMetrics) read from named sources only.
"""

from __future__ import annotations

import asyncio
import base64
import ipaddress
import os
import socket
import ssl
import time
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import urlsplit

from infercap.api.config import EgressConfig, PrometheusSource, SecretKeyRef
from infercap.api.deployment import PrometheusMetric
from infercap.api.errors import ReasonedError
from infercap.core.calibration_live import Readings
from infercap.demand import DemandError, Endpoint, Reading, query

Query = Callable[[Endpoint, str, float, int], Awaitable[Reading]]

Address = ipaddress.IPv4Address | ipaddress.IPv6Address

DENIED_NETWORKS = [
    ipaddress.ip_network(n)
    for n in (
        "0.0.0.0/8",  # "this host"
        "127.0.0.0/8",  # loopback
        "169.254.0.0/16",  # link-local: AWS, GCP, Azure metadata at 169.254.169.254
        "100.100.100.200/32",  # Alibaba Cloud metadata
        "224.0.0.0/4",  # multicast
        "255.255.255.255/32",
        "::/128",
        "::1/128",
        "fe80::/10",  # link-local
        "fd00:ec2::254/128",  # AWS metadata over IPv6
        "ff00::/8",  # multicast
    )
]
API_SERVER_NAMES = {
    "kubernetes",
    "kubernetes.default",
    "kubernetes.default.svc",
    "kubernetes.default.svc.cluster.local",
    "metadata",
    "metadata.google.internal",
}


class EgressDenied(ReasonedError):
    """The operator configuration does not allow this endpoint (reason SourceNotAllowed or UnknownSource)."""


# (namespace, name) -> a Secret's decoded data; None when it does not exist.
SecretReader = Callable[[str, str], Awaitable[dict[str, str] | None]]


def denied_address(ip: Address, api_servers: set[str]) -> str | None:
    """Why this address may not be queried, or None."""
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    if str(ip) in api_servers:
        return "the Kubernetes API server"
    for net in DENIED_NETWORKS:
        if ip.version == net.version and ip in net:
            return "a loopback, link-local, metadata, multicast or unspecified address"
    return None


def api_server_addresses() -> set[str]:
    """The API server as pods see it (the kubernetes Service), from the environment Kubernetes sets."""
    host = os.environ.get("KUBERNETES_SERVICE_HOST")
    return {host} if host else set()


def host_allowed(host: str, port: int | None, allowed: list[str]) -> bool:
    """`host` matches an entry `host` (any port) or `host:port` exactly; case-insensitive."""
    host = host.lower().rstrip(".")
    for entry in allowed:
        e = entry.lower()
        if e == host or (port is not None and e == f"{host}:{port}"):
            return True
    return False


async def _resolve(host: str, port: int) -> list[Address]:
    infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return [ipaddress.ip_address(str(info[4][0]).split("%")[0]) for info in infos]


Resolver = Callable[[str, int], Awaitable[list[Address]]]


async def tenant_endpoint(url: str, cfg: EgressConfig, api_servers: set[str], resolve: Resolver = _resolve) -> Endpoint:
    """A URL written in a ModelDeployment: allowed host, allowed addresses, pinned to the checked one."""
    refused = EgressDenied(
        "SourceNotAllowed",
        "spec.autoscaling.metric.prometheus.url is not on a host the operator configuration allows "
        "(prometheus.allowedHosts); ask the cluster admin for a named source and set metric.prometheus.source",
    )
    try:
        parts = urlsplit(url)
        host, port = parts.hostname, parts.port
    except ValueError:
        raise refused from None
    if parts.scheme not in ("http", "https") or not host or parts.username or parts.password:
        raise refused
    if parts.query or parts.fragment:
        raise refused  # the operator adds the query path itself; nothing else may ride along
    if not host_allowed(host, port, cfg.allowed_hosts) or host.lower().rstrip(".") in API_SERVER_NAMES:
        raise refused
    effective_port = port or (443 if parts.scheme == "https" else 80)
    try:
        addresses = await asyncio.wait_for(resolve(host, effective_port), timeout=cfg.timeout_seconds)
    except (OSError, TimeoutError, ValueError):
        raise EgressDenied("SourceNotAllowed", f"host {host} of metric.prometheus.url does not resolve") from None
    if not addresses or any(denied_address(a, api_servers) for a in addresses):
        raise refused
    # Connect to the checked address, not to whatever the name resolves to a moment later. For HTTPS the
    # name still goes into SNI and certificate verification (the address is never what is verified).
    ip = addresses[0]
    literal = f"[{ip}]" if ip.version == 6 else str(ip)
    base = f"{parts.scheme}://{literal}:{effective_port}{parts.path.rstrip('/')}"
    return Endpoint(host, base, {"Host": parts.netloc}, tls_name=host if parts.scheme == "https" else None)


class SecretCache:
    """Secrets of named sources, re-read at most once a minute (not on every poll of every object)."""

    def __init__(self, read: SecretReader, ttl: float = 60.0) -> None:
        self.read = read
        self.ttl = ttl
        self.entries: dict[tuple[str, str], tuple[float, dict[str, str] | None]] = {}

    async def get(self, namespace: str, name: str) -> dict[str, str] | None:
        now = time.monotonic()
        hit = self.entries.get((namespace, name))
        if hit is not None and now - hit[0] < self.ttl:
            return hit[1]
        data = await self.read(namespace, name)
        self.entries[(namespace, name)] = (now, data)
        return data


async def source_endpoint(name: str, src: PrometheusSource, secrets: SecretCache, namespace: str) -> Endpoint:
    """A named source of the operator configuration, with its credentials and CA."""

    async def key(ref: SecretKeyRef, what: str) -> str:
        data = await secrets.get(namespace, ref.name)
        if data is None or ref.key not in data:
            raise EgressDenied(
                "SourceMisconfigured",
                f"Prometheus source {name}: the {what} Secret key is missing (see the operator log)",
            )
        return data[ref.key]

    headers: dict[str, str] = {}
    if src.bearer_token is not None:
        headers["Authorization"] = f"Bearer {(await key(src.bearer_token, 'bearer token')).strip()}"
    elif src.basic_auth is not None:
        user = await key(SecretKeyRef(name=src.basic_auth, key="username"), "basic auth")
        password = await key(SecretKeyRef(name=src.basic_auth, key="password"), "basic auth")
        headers["Authorization"] = "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()
    verify: ssl.SSLContext | bool = True
    if src.ca is not None:
        try:
            verify = ssl.create_default_context(cadata=await key(src.ca, "CA"))
        except ssl.SSLError:
            raise EgressDenied("SourceMisconfigured", f"Prometheus source {name}: the CA is not PEM") from None
    return Endpoint(name, src.url.rstrip("/"), headers, verify)


async def endpoint(
    metric: PrometheusMetric,
    cfg: EgressConfig,
    secrets: SecretCache,
    namespace: str,
    api_servers: set[str] | None = None,
    resolve: Resolver = _resolve,
) -> Endpoint:
    """Where to send `metric`'s query, or EgressDenied before anything is sent."""
    if metric.source is not None:
        src = cfg.sources.get(metric.source)
        if src is None:
            known = ", ".join(sorted(cfg.sources)) or "none configured"
            raise EgressDenied(
                "UnknownSource",
                f"spec.autoscaling.metric.prometheus.source {metric.source!r} is not a source of the operator "
                f"configuration (known: {known})",
            )
        return await source_endpoint(metric.source, src, secrets, namespace)
    assert metric.url is not None
    return await tenant_endpoint(
        metric.url, cfg, api_servers if api_servers is not None else api_server_addresses(), resolve
    )


def operator_namespace(cfg: EgressConfig) -> str:
    """Where the auth Secrets live: configured, or the operator's own namespace (POD_NAMESPACE, set by the
    chart, or the service account's), or default outside a cluster."""
    if cfg.secrets_namespace:
        return cfg.secrets_namespace
    env = os.environ.get("POD_NAMESPACE")
    if env:
        return env
    try:
        with open("/var/run/secrets/kubernetes.io/serviceaccount/namespace", encoding="utf-8") as f:
            return f.read().strip() or "default"
    except OSError:
        return "default"


def decode_secret(obj: dict[str, Any]) -> dict[str, str]:
    """A Secret's data, base64-decoded (stringData is write-only and never read back)."""
    out = {}
    for k, v in (obj.get("data") or {}).items():
        try:
            out[k] = base64.b64decode(v).decode()
        except (ValueError, UnicodeDecodeError):
            continue
    return out


class EngineMetrics:
    """Reads one window of serving-engine metrics (spec.calibration) from a named source of the operator
    configuration: no tenant URL, every query of the window together under one timeout."""

    def __init__(self, cfg: EgressConfig, secrets: SecretCache, namespace: str, send: Query = query) -> None:
        self.cfg = cfg
        self.secrets = secrets
        self.namespace = namespace
        self.send = send

    async def endpoint(self, source: str, field: str = "spec.calibration.source") -> Endpoint:
        src = self.cfg.sources.get(source)
        if src is None:
            known = ", ".join(sorted(self.cfg.sources)) or "none configured"
            raise EgressDenied(
                "UnknownSource",
                f"{field} {source!r} is not a Prometheus source of the operator configuration "
                f"(known: {known}); ask the cluster admin to add one under prometheus.sources",
            )
        return await source_endpoint(source, src, self.secrets, self.namespace)

    async def read(self, source: str, promql: dict[str, str]) -> Readings:
        """One window's readings; EgressDenied or DemandError when they cannot be had."""
        target = await self.endpoint(source)

        async def one(q: str, required: bool) -> float | None:
            try:
                return (await self.send(target, q, self.cfg.timeout_seconds, self.cfg.max_response_bytes)).value
            except DemandError as e:
                if e.reason != "MetricUnavailable":
                    raise
                if required:
                    raise DemandError(
                        "MetricUnavailable",
                        f"no serving-engine series match spec.calibration.selector in Prometheus source {target.label}",
                    ) from None
                return None  # no series (no traffic yet, or the engine does not export this one)

        try:
            replicas, running, tokens, tpot, kv = await asyncio.wait_for(
                asyncio.gather(
                    one(promql["replicas"], True),
                    one(promql["running"], False),
                    one(promql["tokens"], False),
                    one(promql["tpot"], False),
                    one(promql["kv"], False),
                ),
                timeout=self.cfg.timeout_seconds,
            )
        except TimeoutError:
            raise DemandError("QueryFailed", f"Prometheus source {target.label} gave no usable answer") from None
        assert replicas is not None
        return Readings(replicas, running or 0.0, tokens or 0.0, tpot, kv)

    async def read_counts(
        self, source: str, promql: dict[str, str], required: tuple[str, ...]
    ) -> dict[str, float | None]:
        """The value of each query (spec.autoscaling.sli's counts), all together under one timeout: None for
        an optional query that returned no series; DemandError when a required one cannot be had."""
        target = await self.endpoint(source, "spec.autoscaling.sli.source")

        async def one(name: str, q: str) -> float | None:
            try:
                return (await self.send(target, q, self.cfg.timeout_seconds, self.cfg.max_response_bytes)).value
            except DemandError as e:
                if e.reason != "MetricUnavailable" or name in required:
                    raise DemandError(
                        e.reason,
                        f"the SLI query {name} returned no series in Prometheus source {target.label} (no traffic, "
                        "or spec.autoscaling.sli matches no engine series)"
                        if e.reason == "MetricUnavailable"
                        else e.message,
                    ) from None
                return None

        names = list(promql)
        try:
            values = await asyncio.wait_for(
                asyncio.gather(*(one(n, promql[n]) for n in names)), timeout=self.cfg.timeout_seconds
            )
        except TimeoutError:
            raise DemandError("QueryFailed", f"Prometheus source {target.label} gave no usable answer") from None
        return dict(zip(names, values, strict=True))
