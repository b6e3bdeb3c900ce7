"""Observe what exists for one ModelDeployment: the nodes of its pools (Karpenter NodeClaims and Nodes
labelled with the pool), its serving replicas, pods that wait and why, and what the nodes cost at
catalog prices. Reads are label-selected, so one reconcile reads only its own objects."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Protocol

from infercap.api.conditions import Reason
from infercap.api.status import Observed, ObservedCost, ObservedNode, PendingPod, dump
from infercap.core.catalog import Catalog
from infercap.core.cost import HOURS_PER_MONTH, money
from infercap.reconcile.status import Verdict
from infercap.workloads.render import SERVING

NODEPOOL_LABEL = "karpenter.sh/nodepool"
INSTANCE_TYPE = "node.kubernetes.io/instance-type"
ZONE = "topology.kubernetes.io/zone"


class Reader(Protocol):
    """What observing reads: the API client (kube.Kube), or the operator's IndexedReader."""

    async def get(
        self, api_version: str, kind: str, name: str, namespace: str | None = None
    ) -> dict[str, Any] | None: ...

    async def list(
        self, api_version: str, kind: str, namespace: str | None = None, labels: Mapping[str, str] | None = None
    ) -> list[dict[str, Any]]: ...


# Kopf index ids of what observing reads (handlers register them; IndexedReader serves from them).
NODES_INDEX, NODECLAIMS_INDEX, PODS_INDEX = "nodes_by_pool", "nodeclaims_by_pool", "serving_pods"


def _slim(obj: Mapping[str, Any], *conditions: str) -> dict[str, Any]:
    """The few fields observing reads, so the indexes hold kilobytes, not whole Node and Pod objects."""
    meta = obj.get("metadata") or {}
    status = obj.get("status") or {}
    out: dict[str, Any] = {
        "metadata": {
            "name": meta.get("name"),
            "namespace": meta.get("namespace"),
            "labels": dict(meta.get("labels") or {}),
        },
        "status": {"conditions": [dict(c) for c in status.get("conditions") or [] if c.get("type") in conditions]},
    }
    for key in ("phase", "nodeName"):
        if key in status:
            out["status"][key] = status[key]
    return out


def node_entry(body: Mapping[str, Any]) -> dict[str, dict[str, Any]] | None:
    """Index entry of a Node of a Karpenter pool (key: the pool), or None for other nodes."""
    pool = ((body.get("metadata") or {}).get("labels") or {}).get(NODEPOOL_LABEL)
    return {pool: _slim(body, "Ready")} if pool else None


def nodeclaim_entry(body: Mapping[str, Any]) -> dict[str, dict[str, Any]] | None:
    return node_entry(body)


def pod_entry(body: Mapping[str, Any]) -> dict[str, dict[str, Any]] | None:
    """Index entry of a serving pod (key: its namespace)."""
    meta = body.get("metadata") or {}
    if SERVING not in (meta.get("labels") or {}):
        return None
    return {str(meta.get("namespace")): _slim(body, "PodScheduled")}


class IndexedReader:
    """A Reader that answers the LISTs observing makes (Nodes and NodeClaims of a pool, serving pods of a
    namespace) from Kopf's in-memory indexes, and passes everything else to the API client. A reconcile
    then lists nothing: at 200 ModelDeployments the LISTs, not the writes, would load the API server."""

    def __init__(self, kube: Reader, indexes: Mapping[str, Mapping[str, Any]]) -> None:
        self.kube = kube
        self.indexes = indexes

    async def get(self, api_version: str, kind: str, name: str, namespace: str | None = None) -> dict[str, Any] | None:
        return await self.kube.get(api_version, kind, name, namespace)

    async def list(
        self, api_version: str, kind: str, namespace: str | None = None, labels: Mapping[str, str] | None = None
    ) -> list[dict[str, Any]]:
        labels = dict(labels or {})
        if kind in ("Node", "NodeClaim") and NODEPOOL_LABEL in labels:
            index = self.indexes.get(NODES_INDEX if kind == "Node" else NODECLAIMS_INDEX)
            items = list(index.get(labels[NODEPOOL_LABEL], [])) if index is not None else None
        elif kind == "Pod" and namespace is not None and SERVING in labels:
            index = self.indexes.get(PODS_INDEX)
            items = list(index.get(namespace, [])) if index is not None else None
        else:
            items = None
        if items is None:  # not indexed (e.g. the NodeClaim CRD is absent): ask the API server
            return await self.kube.list(api_version, kind, namespace, labels)
        return [o for o in items if all((o["metadata"]["labels"] or {}).get(k) == v for k, v in labels.items())]


@dataclass(frozen=True)
class Observation:
    observed: dict[str, Any]
    pools_ready: Verdict | None  # from the pools' own Ready conditions (None: the provider has none)
    capacity: Verdict


def instance_prices(catalog: Catalog) -> dict[str, tuple[Decimal, str]]:
    """Price per node-hour of every instance type the catalog names, with its currency."""
    out: dict[str, tuple[Decimal, str]] = {}
    for acc in catalog.accelerators.values():
        for shape in acc.node_shapes:
            for name in shape.instance_types.values():
                out.setdefault(name, (acc.price.per_chip_hour * shape.chips, acc.price.currency))
    return out


def _condition(obj: dict[str, Any], ctype: str) -> dict[str, Any] | None:
    return next((c for c in (obj.get("status") or {}).get("conditions") or [] if c.get("type") == ctype), None)


async def _pool_verdict(kube: Reader, pools: list[str], pool_kind: tuple[str, str]) -> Verdict:
    """NodePoolsReady from each pool object's own Ready condition (cluster-scoped pools: Karpenter's)."""
    not_ready, pending = [], []
    for name in pools:
        obj = await kube.get(pool_kind[0], pool_kind[1], name)
        cond = _condition(obj or {}, "Ready")
        if cond is None or cond.get("status") == "Unknown":
            # Just applied: Karpenter has not judged it yet. Unknown, not False, so no Warning event.
            pending.append(f"NodePool {name}: no Ready condition yet (is Karpenter running?)")
        elif cond.get("status") != "True":
            not_ready.append(f"NodePool {name}: {cond.get('reason', '')} {cond.get('message', '')}".strip())
    if not_ready:
        return Verdict("False", Reason.NODE_POOL_NOT_READY, "; ".join(not_ready + pending))
    if pending:
        return Verdict("Unknown", Reason.NODE_POOL_PENDING, "; ".join(pending))
    return Verdict("True", Reason.READY, "Karpenter reports " + ", ".join(f"NodePool/{p}" for p in pools) + " Ready")


async def _nodes(
    kube: Reader, pools: list[str], prices: dict[str, tuple[Decimal, str]]
) -> tuple[list[dict[str, Any]], Decimal, str]:
    """The nodes of these pools (and NodeClaims whose node has not registered yet: launched capacity,
    billed too), what they cost per hour at catalog prices, and in which currency."""
    nodes: list[dict[str, Any]] = []
    hourly = Decimal(0)
    currency = "USD"

    def add(name: str, pool: str, labels: dict[str, str], ready: bool) -> None:
        nonlocal hourly, currency
        itype = labels.get(INSTANCE_TYPE, "")
        nodes.append({"name": name, "pool": pool, "instanceType": itype, "zone": labels.get(ZONE, ""), "ready": ready})
        if itype in prices:
            hourly += prices[itype][0]
            currency = prices[itype][1]

    for pool in pools:
        seen = set()
        for node in await kube.list("v1", "Node", labels={NODEPOOL_LABEL: pool}):
            cond = _condition(node, "Ready")
            seen.add(node["metadata"]["name"])
            add(
                node["metadata"]["name"],
                pool,
                node["metadata"].get("labels") or {},
                bool(cond and cond.get("status") == "True"),
            )
        for claim in await kube.list("karpenter.sh/v1", "NodeClaim", labels={NODEPOOL_LABEL: pool}):
            node_name = (claim.get("status") or {}).get("nodeName")
            if node_name in seen or claim["metadata"]["name"] in seen:
                continue
            add(claim["metadata"]["name"], pool, claim["metadata"].get("labels") or {}, False)
    return nodes, hourly, currency


async def _pending_pods(kube: Reader, namespace: str, serving_label: dict[str, str]) -> list[dict[str, Any]]:
    """Serving pods that wait, and why (the scheduler's or Karpenter's words), at most 20."""
    pending = []
    for pod in await kube.list("v1", "Pod", namespace=namespace, labels=serving_label):
        if (pod.get("status") or {}).get("phase") != "Pending":
            continue
        sched = _condition(pod, "PodScheduled")
        why = "waiting to start"
        if sched is not None and sched.get("status") != "True":
            why = f"{sched.get('reason', 'Unschedulable')}: {sched.get('message', '')}".strip()
        pending.append({"name": pod["metadata"]["name"], "reason": why[:512]})
    return sorted(pending, key=lambda p: str(p["name"]))[:20]


def capacity_verdict(nodes: list[dict[str, Any]], planned_nodes: int, instance_type: str | None) -> Verdict:
    """CapacityMatchesPlan: the nodes that exist against the plan."""
    ready_nodes = sum(1 for n in nodes if n["ready"])
    other = sorted({n["instanceType"] for n in nodes if instance_type and n["instanceType"] != instance_type})
    if other:
        return Verdict(
            "False",
            Reason.INSTANCE_TYPE_MISMATCH,
            f"node(s) of {', '.join(other)} exist, the plan needs {instance_type} (Karpenter replaces drifted nodes)",
        )
    if ready_nodes == planned_nodes and len(nodes) == planned_nodes:
        matches = f"{ready_nodes} of {planned_nodes} planned node(s) exist and are Ready"
        return Verdict("True", Reason.MATCHES, matches)
    if len(nodes) > planned_nodes:
        return Verdict(
            "False",
            Reason.MORE_THAN_PLANNED,
            f"{len(nodes)} node(s) exist, {planned_nodes} planned (scale-down pending)",
        )
    return Verdict(
        "False", Reason.NODES_PENDING, f"{ready_nodes} of {planned_nodes} planned node(s) Ready, {len(nodes)} exist"
    )


async def observe(
    kube: Reader,
    catalog: Catalog,
    pools: list[str],
    planned_nodes: int,
    workload: dict[str, Any] | None,
    namespace: str,
    serving_label: dict[str, str] | None,
    instance_type: str | None = None,
    pool_kind: tuple[str, str] = ("karpenter.sh/v1", "NodePool"),
) -> Observation:
    """`pools`: this ModelDeployment's Karpenter NodePool names; `workload`: the applied Deployment or
    LeaderWorkerSet (or the scale target), if any; `serving_label`: selector of its pods."""
    nodes, hourly, currency = await _nodes(kube, pools, instance_prices(catalog))
    # Through the status model (key names live there), only the fields this observation has.
    fields: dict[str, Any] = {
        "nodes": [ObservedNode.model_validate(n) for n in sorted(nodes, key=lambda n: (n["pool"], n["name"]))],
        "nodes_ready": sum(1 for n in nodes if n["ready"]),
        "nodes_planned": planned_nodes,
        "cost": ObservedCost(
            currency=currency, hourly=str(money(hourly)), monthly=str(money(hourly * HOURS_PER_MONTH))
        ),
    }
    if workload is not None:
        st = workload.get("status") or {}
        fields["workload"] = f"{workload['kind']}/{workload['metadata']['name']}"
        fields["replicas_desired"] = int((workload.get("spec") or {}).get("replicas") or 0)
        fields["replicas_ready"] = int(st.get("readyReplicas") or 0)
    if serving_label:
        fields["pending_pods"] = [
            PendingPod.model_validate(p) for p in await _pending_pods(kube, namespace, serving_label)
        ]
    pools_ready = await _pool_verdict(kube, pools, pool_kind) if pools else None
    observed = dump(Observed(**fields))
    return Observation(observed, pools_ready, capacity_verdict(nodes, planned_nodes, instance_type))
