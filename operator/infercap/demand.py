"""Live demand: runs a ModelDeployment's Prometheus query against an endpoint infercap.egress allowed,
and reads its value.

Errors are uniform: whatever went wrong (no connection, a status code, a body that is not a Prometheus
answer, an error the server reports) the message says only that the source gave no usable answer, so
status never carries a response body and cannot be used to map ports or read internal services. The
detail goes to the operator's log, which only the admin reads."""

from __future__ import annotations

import json
import logging
import math
import ssl
from dataclasses import dataclass, field
from typing import Any

import httpx2

from infercap.api.errors import ReasonedError

log = logging.getLogger("infercap")


@dataclass(frozen=True)
class Endpoint:
    """Where and how to send one query."""

    label: str  # for messages: the source name, or the host; never a response
    url: str  # base URL, possibly with the host replaced by the checked address
    headers: dict[str, str] = field(default_factory=dict)
    verify: ssl.SSLContext | bool = True
    # HTTPS to a checked address: the name sent in the TLS handshake (SNI) and that the server's certificate
    # must be valid for, while the connection goes to the address in `url`.
    tls_name: str | None = None


class DemandError(ReasonedError):
    """The metric could not be read (QueryFailed, MetricUnavailable)."""


@dataclass(frozen=True)
class Reading:
    value: float
    timestamp: float  # Prometheus evaluation time, Unix seconds


def parse_response(doc: Any) -> Reading:
    """The value of an instant query's answer: a scalar, or the sum of a vector's samples."""
    if not isinstance(doc, dict) or doc.get("status") != "success":
        raise DemandError("QueryFailed", "Prometheus answered an error")
    data = doc.get("data") or {}
    kind: Any = data.get("resultType")
    result: Any = data.get("result") or []
    try:
        if kind == "scalar":
            ts, value = float(result[0]), float(result[1])
        elif kind == "vector":
            if not result:
                raise DemandError("MetricUnavailable", "the query returned no series (no traffic reported)")
            ts = max(float(r["value"][0]) for r in result)
            value = sum(float(r["value"][1]) for r in result)
        else:
            raise DemandError("QueryFailed", f"the query must return a scalar or an instant vector, not {kind}")
    except (TypeError, ValueError, KeyError, IndexError):
        raise DemandError("QueryFailed", "the answer is not a Prometheus instant-query result") from None
    if not math.isfinite(value) or value < 0:
        raise DemandError("MetricUnavailable", f"the query returned {value}, not a demand")
    return Reading(value, ts)


async def query(target: Endpoint, promql: str, timeout: float = 5.0, max_bytes: int = 1_048_576) -> Reading:
    """Run an instant query; DemandError with one uniform message on any failure."""
    url = target.url + "/api/v1/query"
    failed = DemandError(
        "QueryFailed", f"Prometheus source {target.label} gave no usable answer (see the operator log)"
    )
    try:
        async with (
            httpx2.AsyncClient(timeout=timeout, verify=target.verify, follow_redirects=False) as client,
            client.stream(
                "GET",
                url,
                params={"query": promql},
                headers=target.headers,
                extensions={"sni_hostname": target.tls_name} if target.tls_name else None,
            ) as response,
        ):
            body = bytearray()
            async for chunk in response.aiter_bytes():
                body += chunk
                if len(body) > max_bytes:
                    log.warning(f"demand query to {target.label}: answer larger than {max_bytes} bytes")
                    raise failed
            status = response.status_code
    except (httpx2.HTTPError, httpx2.InvalidURL, OSError, ValueError) as e:
        log.warning(f"demand query to {target.label} failed: {type(e).__name__}")
        raise failed from None
    if status != 200:
        log.warning(f"demand query to {target.label}: HTTP {status}")
        raise failed
    try:
        doc = json.loads(body)
    except ValueError:
        log.warning(f"demand query to {target.label}: the answer is not JSON")
        raise failed from None
    try:
        return parse_response(doc)
    except DemandError as e:
        if e.reason == "QueryFailed":
            log.warning(f"demand query to {target.label}: {e.message}")
            raise failed from None
        raise
