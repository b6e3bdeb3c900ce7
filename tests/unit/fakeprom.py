"""A fake demand source for controller-level tests: the operator's Prometheus endpoint and demand query
answer from a list, without a network."""

from __future__ import annotations

from typing import Any

import pytest

from infercap.demand import DemandError, Reading


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

    monkeypatch.setattr(controller.egress, "endpoint", endpoint)
    monkeypatch.setattr(controller, "query", query)
