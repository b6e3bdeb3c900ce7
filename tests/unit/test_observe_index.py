"""IndexedReader: observing reads nodes, NodeClaims and serving pods from Kopf's indexes, keeps only the
fields it needs, and asks the API server only for what no index holds."""

from __future__ import annotations

import asyncio
from typing import Any

from tests.unit.fakekube import FakeKube

from infercap.reconcile import observe


def node(name: str, pool: str | None, ready: str = "True") -> dict[str, Any]:
    labels = {"node.kubernetes.io/instance-type": "p5.48xlarge"}
    if pool:
        labels[observe.NODEPOOL_LABEL] = pool
    return {
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {"name": name, "labels": labels, "annotations": {"big": "x" * 1000}},
        "status": {
            "conditions": [{"type": "Ready", "status": ready}, {"type": "MemoryPressure", "status": "False"}],
            "images": [{"names": ["a"], "sizeBytes": 1}],
        },
    }


def test_entries_are_keyed_by_pool_and_namespace_and_slim() -> None:
    entry = observe.node_entry(node("n1", "pool-a"))
    assert entry is not None and list(entry) == ["pool-a"]
    slim = entry["pool-a"]
    assert slim["status"]["conditions"] == [{"type": "Ready", "status": "True"}]
    assert "annotations" not in slim["metadata"] and "images" not in slim["status"]
    assert observe.node_entry(node("n2", None)) is None
    pod = {
        "metadata": {"name": "p", "namespace": "team", "labels": {observe.SERVING: "chat"}},
        "status": {"phase": "Pending"},
    }
    assert observe.pod_entry(pod) == {
        "team": {
            "metadata": {"name": "p", "namespace": "team", "labels": {observe.SERVING: "chat"}},
            "status": {"conditions": [], "phase": "Pending"},
        }
    }
    assert observe.pod_entry({"metadata": {"name": "q", "namespace": "team", "labels": {}}}) is None


def test_lists_come_from_the_indexes_filtered_by_labels() -> None:
    kube = FakeKube()
    indexes = {
        observe.NODES_INDEX: {"pool-a": [observe.node_entry(node("n1", "pool-a"))["pool-a"]]},  # type: ignore[index]
        observe.PODS_INDEX: {
            "team": [
                {"metadata": {"name": "p1", "labels": {observe.SERVING: "chat"}}, "status": {}},
                {"metadata": {"name": "p2", "labels": {observe.SERVING: "other"}}, "status": {}},
            ]
        },
    }
    reader = observe.IndexedReader(kube, indexes)  # type: ignore[arg-type]
    nodes = asyncio.run(reader.list("v1", "Node", labels={observe.NODEPOOL_LABEL: "pool-a"}))
    assert [n["metadata"]["name"] for n in nodes] == ["n1"]
    assert asyncio.run(reader.list("v1", "Node", labels={observe.NODEPOOL_LABEL: "pool-b"})) == []
    pods = asyncio.run(reader.list("v1", "Pod", namespace="team", labels={observe.SERVING: "chat"}))
    assert [p["metadata"]["name"] for p in pods] == ["p1"]
    assert kube.calls["list"] == 0
    # No NodeClaim index (Karpenter not enabled, or its CRD absent): the API server answers.
    asyncio.run(reader.list("karpenter.sh/v1", "NodeClaim", labels={observe.NODEPOOL_LABEL: "pool-a"}))
    assert kube.calls["list"] == 1
