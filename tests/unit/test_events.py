"""The Event object infercap posts: events.k8s.io/v1 fields set by the conventions, within the API's limits."""

from __future__ import annotations

import datetime

from infercap.kube.events import FIELD_LIMIT, NOTE_LIMIT, REPORTING_CONTROLLER, event

MDEP = {
    "apiVersion": "infercap.dev/v1alpha1",
    "kind": "ModelDeployment",
    "metadata": {"name": "chat", "namespace": "team-a", "uid": "u-1", "resourceVersion": "42"},
}
NOW = datetime.datetime(2026, 12, 1, 12, 0, 0, 123456, tzinfo=datetime.UTC)


def test_event_regards_the_object_and_names_infercap_and_the_action() -> None:
    e = event(MDEP, "Warning", "UnknownModel", "Plan", "no model 'x'", "infercap-pod-1", NOW).to_dict()
    assert e["reportingController"] == REPORTING_CONTROLLER == "infercap"
    assert e["reportingInstance"] == "infercap-pod-1"
    assert e["action"] == "Plan" and e["reason"] == "UnknownModel" and e["type"] == "Warning"
    assert e["regarding"] == {
        "apiVersion": "infercap.dev/v1alpha1",
        "kind": "ModelDeployment",
        "name": "chat",
        "namespace": "team-a",
        "uid": "u-1",
        "resourceVersion": "42",
    }
    assert e["metadata"] == {"name": f"chat.{int(NOW.timestamp() * 1_000_000):x}", "namespace": "team-a"}
    assert e["eventTime"] == "2026-12-01T12:00:00.123456Z", "a MicroTime"


def test_long_texts_are_cut_to_the_api_limits() -> None:
    e = event(MDEP, "Normal", "R" * 300, "A" * 300, "n" * 5000, "i" * 300, NOW)
    assert e.note is not None and len(e.note) == NOTE_LIMIT and e.note.endswith("...")
    for text in (e.reason, e.action, e.reportingInstance):
        assert text is not None and len(text) == FIELD_LIMIT
