"""The whole path on the local control plane with real Karpenter (kwok provider), kube-scheduler and
kwok: a ModelDeployment with spec.serving becomes a NodePool, Karpenter launches the planned instance
types, the serving pods run on them with the plan's engine flags, and status reports what exists next to
what was planned; traffic moves replicas, nodes and cost both ways; static pools hold nodes before any
pod; an accelerator switch is make-before-break; an explicit list with an accelerator Karpenter cannot
create plans on one it can; a replica across nodes is a LeaderWorkerSet."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from infercap.core.catalog import builtin_catalog
from infercap.reconcile.observe import instance_prices
from tests.e2e.conftest import Cluster, Operator, wait_until
from tests.e2e.test_operator import condition, manifest, mdep

pytestmark = pytest.mark.cluster

SERVING = {"model": {"huggingFace": "meta-llama/Llama-3.1-70B-Instruct"}}
PRICES = instance_prices(builtin_catalog())


def apply(cluster: Cluster, name: str, namespace: str, **spec: Any) -> None:
    cluster.kubectl("apply", "-f", "-", input=manifest(name, namespace, **spec))


def nodes_of(cluster: Cluster, pool: str) -> list[dict[str, Any]]:
    return list(cluster.get_json("nodes", "-l", f"karpenter.sh/nodepool={pool}")["items"])


def serving_pods(cluster: Cluster, name: str, namespace: str) -> list[dict[str, Any]]:
    return list(cluster.get_json("pods", "-n", namespace, "-l", f"infercap.dev/serving={name}")["items"])


def ready_pods(cluster: Cluster, name: str, namespace: str) -> int:
    n = 0
    for pod in serving_pods(cluster, name, namespace):
        conds = {c["type"]: c["status"] for c in pod.get("status", {}).get("conditions", [])}
        n += pod["status"].get("phase") == "Running" and conds.get("Ready") == "True"
    return n


def serving_and_matching(cluster: Cluster, name: str, namespace: str, generation: int) -> dict[str, Any]:
    """Wait until status says the plan's nodes exist and the planned replicas serve."""

    def check() -> dict[str, Any] | None:
        obj = mdep(cluster, name, namespace)
        st = obj.get("status") or {}
        if st.get("observedGeneration") != generation:
            return None
        serving, capacity = condition(obj, "Serving"), condition(obj, "CapacityMatchesPlan")
        if not serving or serving["status"] != "True" or not capacity or capacity["status"] != "True":
            return None
        return obj

    return dict(wait_until(check, 150, 1, what=f"{namespace}/{name} Serving with the planned nodes"))


def check_observed_matches_cluster(cluster: Cluster, obj: dict[str, Any]) -> None:
    st = obj["status"]
    plan, observed = st["plan"], st["observed"]
    pool = next(c["name"] for c in st["children"] if c["kind"] == "NodePool")
    nodes = nodes_of(cluster, pool)
    itype = plan["node"]["instanceTypes"]["aws"]
    assert len(nodes) == plan["nodes"] == observed["nodesReady"] == observed["nodesPlanned"]
    assert {n["metadata"]["labels"]["node.kubernetes.io/instance-type"] for n in nodes} == {itype}
    assert {n["instanceType"] for n in observed["nodes"]} == {itype}
    assert observed["replicasReady"] == observed["replicasDesired"] == plan["replicas"]
    # Observed cost: the nodes' instance types at catalog prices, the same figure as the plan's here.
    expected = sum(PRICES[itype][0] for _ in nodes)
    assert Decimal(observed["cost"]["hourly"]) == expected
    assert Decimal(obj["metadata"]["annotations"]["infercap.dev/cost-observed-hourly"]) == expected
    assert Decimal(st["cost"]["hourly"]) == expected


def test_serving_on_nodes_karpenter_launches_then_traffic_up_and_down(
    cluster: Cluster, operator: Operator, namespace: str
) -> None:
    # An 8B model: one chip per replica, on one-GPU instances, so replicas and nodes move together.
    traffic = {"requestsPerSecond": 5, "inputTokens": 1000, "outputTokens": 300}
    apply(cluster, "chat", namespace, model="llama-3.1-8b", traffic=traffic, serving=SERVING)
    low = serving_and_matching(cluster, "chat", namespace, 1)
    check_observed_matches_cluster(cluster, low)
    plan = low["status"]["plan"]
    # The pods run on the pool's nodes with the plan's engine flags and accelerator requests.
    pods = serving_pods(cluster, "chat", namespace)
    assert len(pods) == plan["replicas"]
    pool_nodes = {n["metadata"]["name"] for n in nodes_of(cluster, low["status"]["children"][0]["name"])}
    mem = plan["memory"]
    for pod in pods:
        assert pod["spec"]["nodeName"] in pool_nodes and pod["status"]["phase"] == "Running"
        c = pod["spec"]["containers"][0]
        assert c["resources"]["limits"]["nvidia.com/gpu"] == str(plan["chipsPerReplica"])
        args = c["args"]
        assert args[args.index("--tensor-parallel-size") + 1] == str(plan["parallelism"]["tensor"])
        assert args[args.index("--max-num-seqs") + 1] == str(plan["perReplica"]["batch"])
        # Not the planned mean (1,300 tokens): longer requests must be served too.
        assert int(args[args.index("--max-model-len") + 1]) > 1300
        fraction = float(args[args.index("--gpu-memory-utilization") + 1])
        assert fraction <= (mem["weightsGiB"] + mem["reserveGiB"] + mem["kvCacheGiB"]) / mem["capacityGiB"] + 0.01
    row = cluster.kubectl("get", "mdep", "chat", "-n", namespace, "--no-headers").stdout.split()
    assert row[4:6] == [str(plan["nodes"]), str(plan["nodes"])]  # NODES and NODES-READY

    apply(
        cluster, "chat", namespace, model="llama-3.1-8b", traffic={**traffic, "requestsPerSecond": 30}, serving=SERVING
    )
    high = serving_and_matching(cluster, "chat", namespace, 2)
    check_observed_matches_cluster(cluster, high)
    assert high["status"]["plan"]["replicas"] > plan["replicas"]
    assert high["status"]["plan"]["nodes"] > plan["nodes"]
    assert Decimal(high["status"]["observed"]["cost"]["hourly"]) > Decimal(low["status"]["observed"]["cost"]["hourly"])

    # Back down: replicas drop at once; Karpenter consolidates the emptied nodes (WhenEmpty after 10 s).
    apply(cluster, "chat", namespace, model="llama-3.1-8b", traffic=traffic, serving=SERVING)
    back = serving_and_matching(cluster, "chat", namespace, 3)
    check_observed_matches_cluster(cluster, back)
    assert back["status"]["plan"]["replicas"] == plan["replicas"]
    assert back["status"]["observed"]["cost"] == low["status"]["observed"]["cost"]


def test_static_capacity_makes_the_planned_nodes_before_any_pod(
    cluster: Cluster, operator: Operator, namespace: str
) -> None:
    apply(cluster, "warm", namespace, model="llama-3.1-70b", capacity={"mode": "static"})
    obj = wait_until(
        lambda: (
            (o := mdep(cluster, "warm", namespace))
            and (c := condition(o, "CapacityMatchesPlan"))
            and c["status"] == "True"
            and o
        ),
        120,
        1,
        what="static pool nodes",
    )
    st = obj["status"]
    pool = next(c for c in st["children"] if c["kind"] == "NodePool")
    assert "-static-" in pool["name"]  # readable, then the hash that keeps names apart
    np = cluster.get_json("nodepools.karpenter.sh", pool["name"])
    assert np["spec"]["replicas"] == st["plan"]["nodes"]
    assert len(nodes_of(cluster, pool["name"])) == st["plan"]["nodes"]
    assert cluster.get_json("pods", "-n", namespace)["items"] == []  # no pod asked for them


def test_accelerator_switch_is_make_before_break(cluster: Cluster, operator: Operator, namespace: str) -> None:
    traffic = {"requestsPerSecond": 5, "inputTokens": 1000, "outputTokens": 300}
    apply(cluster, "sw", namespace, model="llama-3.1-70b", traffic=traffic, serving=SERVING, accelerators=["h100"])
    first = serving_and_matching(cluster, "sw", namespace, 1)
    old_pool = next(c["name"] for c in first["status"]["children"] if c["kind"] == "NodePool")
    needed = first["status"]["plan"]["replicas"]
    apply(cluster, "sw", namespace, model="llama-3.1-70b", traffic=traffic, serving=SERVING, accelerators=["h200"])

    lowest = needed

    def switched() -> dict[str, Any] | None:
        nonlocal lowest
        lowest = min(lowest, ready_pods(cluster, "sw", namespace))
        obj = mdep(cluster, "sw", namespace)
        gone = cluster.kubectl("get", "nodepools.karpenter.sh", old_pool, check=False).returncode != 0
        serving = condition(obj, "Serving")
        if obj["status"].get("observedGeneration") == 2 and serving and serving["status"] == "True" and gone:
            return obj
        return None

    obj = wait_until(switched, 180, 0.5, what="the switch to h200 and the old pool's removal")
    assert obj["status"]["plan"]["accelerator"] == "h200"
    assert lowest >= needed, f"ready serving pods fell to {lowest} during the switch (needed {needed})"
    deployments = cluster.get_json("deployments", "-n", namespace)["items"]
    assert [d["metadata"]["name"] for d in deployments] == ["sw-h200"]
    assert obj["status"].get("lastSwitchTime")


def test_explicit_list_plans_on_an_accelerator_karpenter_can_create(
    cluster: Cluster, operator: Operator, namespace: str
) -> None:
    apply(cluster, "mixed", namespace, model="llama-3.1-8b", accelerators=["tpu-v6e", "h100"])
    obj = wait_until(
        lambda: (
            (o := mdep(cluster, "mixed", namespace))
            and (c := condition(o, "NodePoolsReady"))
            and c["status"] == "True"
            and o
        ),
        60,
        what="a node pool for the explicit list",
    )
    assert obj["status"]["plan"]["accelerator"] == "h100"
    rejected = {r["accelerator"]: r for r in obj["status"]["rejected"]}
    assert rejected["tpu-v6e"]["reason"] == "ProviderCannotCreate"


def test_a_replica_across_nodes_is_a_leader_worker_set(cluster: Cluster, operator: Operator, namespace: str) -> None:
    apply(
        cluster,
        "big",
        namespace,
        model="llama-3.1-405b",
        precision="bf16",
        traffic={"requestsPerSecond": 1, "inputTokens": 1000, "outputTokens": 300},
        serving={"engine": "sglang", "model": {"huggingFace": "meta-llama/Llama-3.1-405B-Instruct"}},
    )
    obj = wait_until(
        lambda: (o := mdep(cluster, "big", namespace)) and condition(o, "Serving") and o, 60, what="the workload"
    )
    plan = obj["status"]["plan"]
    per_node = plan["node"]["chips"]
    assert plan["chipsPerReplica"] > per_node
    lws = cluster.get_json("leaderworkersets.leaderworkerset.x-k8s.io", f"big-{plan['accelerator']}", "-n", namespace)
    tpl = lws["spec"]["leaderWorkerTemplate"]
    assert lws["spec"]["replicas"] == plan["replicas"]
    assert tpl["size"] == plan["chipsPerReplica"] // per_node
    leader = tpl["leaderTemplate"]["spec"]["containers"][0]
    assert leader["args"][leader["args"].index("--pp-size") + 1] == str(plan["parallelism"]["pipeline"])
    assert leader["resources"]["limits"]["nvidia.com/gpu"] == str(per_node)
    # Its controller does not run here: Serving says the replicas are not ready, not True.
    assert condition(obj, "Serving")["status"] == "False"  # type: ignore[index]


USER_DEPLOYMENT = """
apiVersion: apps/v1
kind: Deployment
metadata: {name: my-server, labels: {team: a}}
spec:
  replicas: 1
  selector: {matchLabels: {app: my-server}}
  template:
    metadata: {labels: {app: my-server}}
    spec:
      containers: [{name: server, image: registry.k8s.io/pause:3.10}]
"""


def test_scale_target_ref_sets_only_replicas_and_stands_aside_for_an_hpa(
    cluster: Cluster, operator: Operator, namespace: str
) -> None:
    cluster.kubectl("apply", "-n", namespace, "-f", "-", input=USER_DEPLOYMENT)
    before = cluster.get_json("deployment", "my-server", "-n", namespace)
    target = {"apiVersion": "apps/v1", "kind": "Deployment", "name": "my-server"}
    traffic = {"requestsPerSecond": 30, "inputTokens": 1000, "outputTokens": 300}
    apply(cluster, "ext", namespace, model="llama-3.1-8b", traffic=traffic, scaleTargetRef=target)
    obj = wait_until(
        lambda: (o := mdep(cluster, "ext", namespace)) and (o.get("status") or {}).get("plan") and o, 60, what="a plan"
    )
    want = obj["status"]["plan"]["replicas"]
    assert want > 1
    after = wait_until(
        lambda: (d := cluster.get_json("deployment", "my-server", "-n", namespace))["spec"]["replicas"] == want and d,
        60,
        what="the target scaled to the plan",
    )
    # Nothing else about the user's Deployment changed, and infercap owns only the replicas.
    assert after["spec"]["template"] == before["spec"]["template"]
    assert after["metadata"]["labels"] == before["metadata"]["labels"]
    assert "ownerReferences" not in after["metadata"]
    assert cluster.get_json("deployments", "-n", namespace)["items"][0]["metadata"]["name"] == "my-server"
    assert condition(mdep(cluster, "ext", namespace), "ScaledByOthers")["status"] == "False"  # type: ignore[index]

    cluster.kubectl("autoscale", "deployment", "my-server", "-n", namespace, "--min=1", "--max=3", "--cpu-percent=80")
    wait_until(
        lambda: (c := condition(mdep(cluster, "ext", namespace), "ScaledByOthers")) and c["status"] == "True",
        60,
        what="the HPA detected",
    )
    apply(
        cluster,
        "ext",
        namespace,
        model="llama-3.1-8b",
        traffic={**traffic, "requestsPerSecond": 5},
        scaleTargetRef=target,
    )
    wait_until(lambda: mdep(cluster, "ext", namespace)["status"].get("observedGeneration") == 2, 60, what="the re-plan")
    # The HPA's target is left alone: infercap does not fight it.
    assert cluster.get_json("deployment", "my-server", "-n", namespace)["spec"]["replicas"] == want


def test_paused_freezes_the_workload(cluster: Cluster, operator: Operator, namespace: str) -> None:
    import time

    traffic = {"requestsPerSecond": 5, "inputTokens": 1000, "outputTokens": 300}
    apply(cluster, "frozen", namespace, model="llama-3.1-8b", traffic=traffic, serving=SERVING)
    first = serving_and_matching(cluster, "frozen", namespace, 1)
    replicas = first["status"]["plan"]["replicas"]
    cluster.kubectl("annotate", "mdep", "frozen", "-n", namespace, "infercap.dev/paused=true")
    apply(
        cluster,
        "frozen",
        namespace,
        model="llama-3.1-8b",
        traffic={**traffic, "requestsPerSecond": 30},
        serving=SERVING,
    )
    wait_until(
        lambda: (c := condition(mdep(cluster, "frozen", namespace), "NodePoolsReady")) and c["reason"] == "Paused",
        60,
        what="NodePoolsReady=Paused",
    )
    time.sleep(6)  # a resync (5 s) later, still frozen
    dep = cluster.get_json("deployment", f"frozen-{first['status']['plan']['accelerator']}", "-n", namespace)
    assert dep["spec"]["replicas"] == replicas
    cluster.kubectl("annotate", "mdep", "frozen", "-n", namespace, "infercap.dev/paused-")
    wait_until(
        lambda: cluster.get_json("deployment", dep["metadata"]["name"], "-n", namespace)["spec"]["replicas"] > replicas,
        60,
        what="the workload to follow the plan again",
    )
