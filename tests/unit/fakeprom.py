"""Fake Prometheus for unit tests, without a network: the operator's demand source answering from a list
(controller-level tests), and the engine-metrics reader over a fake sender (egress tests)."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from infercap import egress
from infercap.api.config import EgressConfig
from infercap.demand import DemandError, Endpoint, Reading
from infercap.egress import Query


def serve_demand(monkeypatch: pytest.MonkeyPatch, *answers: float | None) -> None:
    """Each demand query of the operator answers the next of `answers` (the last one repeats); None:
    the query fails (QueryFailed), as a source that gives no usable answer."""
    from infercap import controller

    left = list(answers)

    async def endpoint(*_: Any) -> Any:
        return type("T", (), {"label": "source main"})()

    async def query(*_: Any) -> Reading:
        value = left.pop(0) if len(left) > 1 else left[0]
        if value is None:
            raise DemandError("QueryFailed", "Prometheus source main gave no usable answer")
        return Reading(value, 0.0)

    monkeypatch.setattr(egress, "endpoint", endpoint)
    monkeypatch.setattr(controller, "query", query)


async def no_secret(namespace: str, name: str) -> dict[str, str] | None:
    """A secret reader for sources without credentials."""
    return None


async def slow(target: Endpoint, q: str, timeout: float, max_bytes: int) -> Reading:
    """A Prometheus that answers after 5 s: longer than any test's timeout."""
    await asyncio.sleep(5)
    return Reading(1.0, 0.0)


def engine_metrics(send: Query, timeout_seconds: float | None = None, namespace: str = "x") -> egress.EngineMetrics:
    """The engine-metrics reader over one named source `prom`, sending with `send`."""
    doc: dict[str, Any] = {"sources": {"prom": {"url": "http://prom:9090"}}}
    if timeout_seconds is not None:
        doc["timeoutSeconds"] = timeout_seconds
    return egress.EngineMetrics(EgressConfig.model_validate(doc), egress.SecretCache(no_secret), namespace, send)
