"""Events by the conventions: posted as events.k8s.io/v1 by the `infercap` controller (not `kopf`), with
the action they are about and this operator as the reporting instance."""

from __future__ import annotations

from typing import Any

import pytest

from tests.e2e.conftest import Cluster, Operator, wait_until
from tests.e2e.test_operator import manifest

pytestmark = pytest.mark.cluster


def new_events(cluster: Cluster, name: str, namespace: str) -> list[dict[str, Any]]:
    items = cluster.get_json("events.events.k8s.io", "-n", namespace)["items"]
    return [e for e in items if e["regarding"].get("name") == name and e["regarding"].get("kind") == "ModelDeployment"]


def test_events_are_reported_by_infercap_with_an_action(cluster: Cluster, operator: Operator, namespace: str) -> None:
    cluster.kubectl("apply", "-f", "-", input=manifest("evented", namespace))
    planned = wait_until(
        lambda: [e for e in new_events(cluster, "evented", namespace) if e["reason"] == "Planned"],
        timeout=60,
        what="a Planned event",
    )
    (event,) = planned
    assert event["reportingController"] == "infercap"
    assert event["reportingInstance"].startswith("infercap-")
    assert event["action"] == "Plan"
    assert event["type"] == "Normal" and event["note"]
    cluster.kubectl("patch", "mdep", "evented", "-n", namespace, "--type=merge", "-p", '{"spec":{"model":"no-such"}}')
    warning = wait_until(
        lambda: [e for e in new_events(cluster, "evented", namespace) if e["type"] == "Warning"],
        timeout=60,
        what="a Warning event",
    )
    assert warning[0]["action"] == "Plan" and warning[0]["reportingController"] == "infercap"
