"""Live demand: runs a ModelDeployment's Prometheus query and reads its value."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import httpx2

from infercap.api.deployment import PrometheusMetric
from infercap.api.errors import ReasonedError


class DemandError(ReasonedError):
    """The metric could not be read (QueryFailed, MetricUnavailable)."""


@dataclass(frozen=True)
class Reading:
    value: float
    timestamp: float  # Prometheus evaluation time, Unix seconds


def parse_response(doc: Any) -> Reading:
    """The value of an instant query's answer: a scalar, or the sum of a vector's samples."""
    if not isinstance(doc, dict) or doc.get("status") != "success":
        error = doc.get("error", "unknown error") if isinstance(doc, dict) else "not JSON"
        raise DemandError("QueryFailed", f"Prometheus answered an error: {error}")
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
    except (TypeError, ValueError, KeyError, IndexError) as e:
        raise DemandError("QueryFailed", f"unexpected Prometheus answer: {e}") from None
    if not math.isfinite(value) or value < 0:
        raise DemandError("MetricUnavailable", f"the query returned {value}, not a demand")
    return Reading(value, ts)


async def query(metric: PrometheusMetric, timeout: float = 10.0) -> Reading:
    url = metric.url.rstrip("/") + "/api/v1/query"
    try:
        async with httpx2.AsyncClient(timeout=timeout) as client:
            response = await client.get(url, params={"query": metric.query})
    except httpx2.HTTPError as e:
        raise DemandError("QueryFailed", f"cannot reach Prometheus at {metric.url}: {e}") from None
    try:
        doc = response.json()
    except ValueError:
        raise DemandError(
            "QueryFailed", f"Prometheus at {metric.url} answered HTTP {response.status_code}, not JSON"
        ) from None
    return parse_response(doc)
