"""Observed state from what the API server holds (a fake Kube with label-selected lists): nodes and
not-yet-registered NodeClaims of the pools, their cost at catalog prices, pending pods and why, and the
CapacityMatchesPlan verdicts."""

from __future__ import annotations

import asyncio
from decimal import Decimal
from typing import Any

from infercap.core.catalog import builtin_catalog
from infercap.reconcile.observe import instance_prices, observe

CAT = builtin_catalog()
POOL = "infercap-ns-chat-h100"


def node(name: str, itype: str, ready: bool = True) -> dict[str, Any]:
    return {
        "metadata": {
            "name": name,
            "labels": {
                "karpenter.sh/nodepool": POOL,
                "node.kubernetes.io/instance-type": itype,
                "topology.kubernetes.io/zone": "us-east-1a",
            },
        },
        "status": {"conditions": [{"type": "Ready", "status": "True" if ready else "False"}]},
    }


class FakeKube:
    def __init__(self, objects: dict[str, list[dict[str, Any]]]) -> None:
        self.objects = objects

    async def list(self, api_version: str, kind: str, namespace: str | None = None, labels: Any = None) -> Any:
        items = self.objects.get(kind, [])
        return [
            o for o in items if all((o["metadata"].get("labels") or {}).get(k) == v for k, v in (labels or {}).items())
        ]

    async def get(self, api_version: str, kind: str, name: str, namespace: str | None = None) -> Any:
        return next((o for o in self.objects.get(kind, []) if o["metadata"]["name"] == name), None)


def run(kube: FakeKube, planned: int, itype: str = "p5.48xlarge") -> Any:
    workload = {
        "kind": "Deployment",
        "metadata": {"name": "chat-h100"},
        "spec": {"replicas": 3},
        "status": {"readyReplicas": 2},
    }
    return asyncio.run(
        observe(kube, CAT, [POOL], planned, workload, "ns", {"infercap.dev/serving": "chat"}, itype)  # type: ignore[arg-type]
    )


def test_nodes_claims_cost_and_pending_pods() -> None:
    pending = {
        "metadata": {"name": "chat-h100-x", "labels": {"infercap.dev/serving": "chat"}},
        "status": {
            "phase": "Pending",
            "conditions": [
                {"type": "PodScheduled", "status": "False", "reason": "Unschedulable", "message": "0/2 nodes"}
            ],
        },
    }
    claim = {
        "metadata": {
            "name": "claim-b",
            "labels": {"karpenter.sh/nodepool": POOL, "node.kubernetes.io/instance-type": "p5.48xlarge"},
        },
        "status": {},
    }
    kube = FakeKube(
        {
            "Node": [node("a", "p5.48xlarge")],
            "NodeClaim": [claim, {**claim, "metadata": {**claim["metadata"], "name": "a"}}],  # "a" has registered
            "Pod": [pending],
            "NodePool": [{"metadata": {"name": POOL}, "status": {"conditions": [{"type": "Ready", "status": "True"}]}}],
        }
    )
    seen = run(kube, planned=2)
    o = seen.observed
    assert [n["name"] for n in o["nodes"]] == ["a", "claim-b"]
    assert o["nodesReady"] == 1 and o["replicasDesired"] == 3 and o["replicasReady"] == 2
    price = instance_prices(CAT)["p5.48xlarge"][0]
    assert Decimal(o["cost"]["hourly"]) == 2 * price  # a launched claim is billed too
    assert o["pendingPods"] == [{"name": "chat-h100-x", "reason": "Unschedulable: 0/2 nodes"}]
    assert seen.capacity.status == "False" and seen.capacity.reason == "NodesPending"
    assert seen.pools_ready is not None and seen.pools_ready.status == "True"


def test_capacity_verdicts() -> None:
    two = FakeKube({"Node": [node("a", "p5.48xlarge"), node("b", "p5.48xlarge")]})
    assert run(two, planned=2).capacity.reason == "Matches"
    assert run(two, planned=1).capacity.reason == "MoreThanPlanned"
    assert run(two, planned=2, itype="p5.4xlarge").capacity.reason == "InstanceTypeMismatch"
    # A pool Karpenter has not reported on is not Ready yet: Unknown (pending, no Warning), not False.
    pending = run(two, planned=2).pools_ready
    assert pending is not None and (pending.status, pending.reason) == ("Unknown", "NodePoolPending")
