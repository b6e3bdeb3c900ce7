"""The fault suite (issue 9, item 7): what a reliability and a security engineer would do to the operator on
a shared cluster, each with the invariant it must keep.

- >= 300 generated hostile or malformed manifests: every one the API server accepts ends in a condition
  with a reason, no uncaught exception in the operator's log, /healthz answers in under 1 s throughout, a
  canary listener gets no request, and no object appears outside the namespaces the admin allowed;
- kill -9 during an accelerator change under load: no lost or duplicated node pools, quota = sum of plans;
- drift: a foreign edit, a removed label and a deleted pool are corrected by watch, long before resync;
- a deletion storm: nothing left behind;
- an API-server restart: the operator survives, without tracebacks, and reconciles afterwards.

The module runs its own operator with a 300 s resync (so a fix within seconds proves the watch) and
pauses the session's operator meanwhile.
"""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import threading
import time
import urllib.request
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.e2e.conftest import ROOT, Cluster, Operator, free_port, wait_until
from tests.e2e.test_operator import condition, mdep, node_pools, quota

pytestmark = pytest.mark.cluster

CONFIG = """
defaultProvider: karpenter
resyncSeconds: 300
autoscalePollSeconds: 2
karpenter: {nodeClassRef: {group: karpenter.kwok.sh, kind: KWOKNodeClass, name: default}, consolidateAfter: 10s}
clusterapi: {namespace: infercap-capi, clusterName: workload}
gke: {namespace: infercap-gke, clusterRef: {name: workload}, location: us-central1}
"""
ALLOWED_POOL_NAMESPACES = {"infercap-capi", "infercap-gke"}


@pytest.fixture(scope="module")
def fault_operator(
    cluster: Cluster, operator: Operator, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Operator]:
    operator.stop()  # the session's operator resyncs every 5 s: it would hide what the watches do
    d = tmp_path_factory.mktemp("faults")
    cfg = d / "config.yaml"
    cfg.write_text(CONFIG)
    op = Operator(cluster, cfg, d / "operator.log", free_port(), free_port())
    op.start()
    try:
        yield op
    finally:
        op.stop()
        print(f"\nfault operator log: {op.log}")
        operator.start()
    # Through every fault and its own shutdown (SIGTERM with corrections pending), not one traceback.
    assert tracebacks(op) == 0, f"uncaught exception in {op.log}"


def base(name: str, namespace: str, **spec: Any) -> dict[str, Any]:
    s: dict[str, Any] = {
        "model": "llama-3.1-8b",
        "traffic": {"requestsPerSecond": 10, "inputTokens": 1000, "outputTokens": 200},
        "accelerators": ["h100"],
    }
    s.update(spec)
    return {
        "apiVersion": "infercap.dev/v1alpha1",
        "kind": "ModelDeployment",
        "metadata": {"name": name, "namespace": namespace},
        "spec": s,
    }


def apply_all(cluster: Cluster, docs: list[dict[str, Any]], batch: int = 40) -> None:
    for i in range(0, len(docs), batch):
        cluster.kubectl("apply", "-f", "-", input=yaml.safe_dump_all(docs[i : i + batch]), check=False)


def tracebacks(op: Operator) -> int:
    return op.log.read_text(errors="replace").count("Traceback")


class Canary:
    def __init__(self) -> None:
        self.hits: list[str] = []
        hits = self.hits

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                hits.append(self.path)
                self.send_response(200)
                self.end_headers()
                self.wfile.write(b'{"status":"success","data":{"resultType":"scalar","result":[1,"1e9"]}}')

            def log_message(self, *args: Any) -> None:
                return

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


class Health:
    """Polls /healthz every 0.2 s in a thread and keeps the slowest answer (or a failure)."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.worst = 0.0
        self.failures = 0
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self.run, daemon=True)
        self.thread.start()

    def run(self) -> None:
        while not self.stop.is_set():
            t = time.monotonic()
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/healthz", timeout=2) as r:
                    r.read()
                self.worst = max(self.worst, time.monotonic() - t)
            except OSError:
                self.failures += 1
            time.sleep(0.2)

    def close(self) -> None:
        self.stop.set()
        self.thread.join(timeout=5)


def hostile(namespace: str, canary: str, count: int = 320) -> list[dict[str, Any]]:
    """`count` manifests, each a valid one with one to three hostile or malformed changes (seeded)."""
    rng = random.Random(9)
    numbers: list[Any] = [
        "99999999999999999999999999999999",
        "0.00000000000000000000000000001",
        "1000000",
        "1000000.5",
        "0.000001",
        "0.0000001",
        "-1",
        "0",
        "1e9",
        "NaN",
        "inf",
        "",
        "abc",
        True,
        [],
        {},
        1e300,
        2**63,
    ]
    mutations: list[tuple[str, list[Any]]] = [
        ("traffic.requestsPerSecond", numbers),
        ("traffic.outputTokensPerSecond", numbers),
        ("traffic.inputTokens", [0, -5, 10**12, "x", 1.5, 10_000_000]),
        ("traffic.outputTokens", [0, 10**9, "many"]),
        ("budget", [{"maxMonthlyCost": v} for v in ("0.01", "0", "1e-300", "99999999999", "0.001", "1")]),
        ("slo", [{"outputTokensPerSecondPerStream": v} for v in ("99999999999999999999", "0.0001", "5000")]),
        ("slo", [{"timeToFirstTokenMs": v} for v in (0, 1, 10**9)]),
        ("headroom", ["0.999", "-0.1", "0.94", 5]),
        ("accelerators", [["h100"] * 40, ["nope"], [], ["tpu-v6e"], ["h100", "h100"]]),
        ("model", ["x" * 300, "unknown-model", "llama-3.1-70b", "../etc"]),
        (
            "nodePool",
            [
                {"provider": "clusterapi", "namespace": "kube-system"},
                {"provider": "clusterapi", "clusterName": "other-team"},
                {"provider": "gke", "namespace": "kube-system"},
                {"nodeClass": "other-team"},
                {"provider": "aws"},
                {"clusterName": "x" * 100},
                {"provider": "none"},
            ],
        ),
        (
            "autoscaling",
            [
                {"metric": {"prometheus": {"url": canary, "query": "up"}}},
                {"metric": {"prometheus": {"url": canary.replace("127.0.0.1", "localhost"), "query": "up"}}},
                {"metric": {"prometheus": {"url": "http://169.254.169.254/latest/meta-data", "query": "up"}}},
                {"metric": {"prometheus": {"url": "http://[::1", "query": "up"}}},
                {"metric": {"prometheus": {"url": "https://kubernetes.default.svc", "query": "up"}}},
                {"metric": {"prometheus": {"source": "nope", "query": "up"}}},
                {"metric": {"prometheus": {"url": "file:///etc/passwd", "query": "up"}}},
                {"metric": {"prometheus": {"url": f"{canary}?x=1", "query": "up"}}},
                {"metric": {"prometheus": {"url": canary, "query": "up"}}, "minReplicas": 5, "maxReplicas": 2},
            ],
        ),
        ("foo", [1]),
    ]
    docs = []
    for i in range(count):
        doc = base(f"h-{i}", namespace)
        for _ in range(rng.randint(1, 3)):
            path, values = rng.choice(mutations)
            value = rng.choice(values)
            target = doc["spec"]
            *parents, leaf = path.split(".")
            for p in parents:
                target = target.setdefault(p, {})
            if leaf == "outputTokensPerSecond" and rng.random() < 0.7:
                target.pop("requestsPerSecond", None)
            target[leaf] = value
        docs.append(doc)
    return docs


def test_hostile_manifests_end_in_conditions_without_crash_or_egress(
    cluster: Cluster, fault_operator: Operator, namespace: str
) -> None:
    canary = Canary()
    health = Health(fault_operator.port)
    before = tracebacks(fault_operator)
    try:
        docs = hostile(namespace, canary.url)
        t = time.monotonic()
        apply_all(cluster, docs)
        accepted = [o["metadata"]["name"] for o in cluster.get_json("modeldeployments", "-n", namespace)["items"]]

        def conditioned() -> list[dict[str, Any]] | None:
            items = cluster.get_json("modeldeployments", "-n", namespace)["items"]
            ready = [condition(o, "Ready") for o in items]
            return items if all(c is not None and c["reason"][:1].isupper() for c in ready) else None

        items = wait_until(conditioned, timeout=240, interval=2, what="a Ready condition on every accepted object")
        elapsed = time.monotonic() - t
        reasons: dict[str, int] = {}
        for o in items:
            r = condition(o, "Ready")["reason"]  # type: ignore[index]
            reasons[r] = reasons.get(r, 0) + 1
        print(
            f"\n{len(docs)} hostile manifests: {len(docs) - len(accepted)} refused by the API server, "
            f"{len(accepted)} accepted, all conditioned in {elapsed:.0f} s; Ready reasons {reasons}; "
            f"slowest /healthz {health.worst * 1000:.0f} ms; canary hits {len(canary.hits)}"
        )
        assert len(docs) >= 300 and accepted
        time.sleep(5)  # a few autoscale polls of the canary URLs
        assert canary.hits == [], f"{len(canary.hits)} request(s) reached the canary"
        assert tracebacks(fault_operator) == before, "uncaught exception in the operator log"
        assert health.failures == 0 and health.worst < 1.0, (health.failures, health.worst)
        for kind in ("machinedeployments.cluster.x-k8s.io", "containernodepools.container.cnrm.cloud.google.com"):
            for o in cluster.get_json(kind, "-A")["items"]:
                assert o["metadata"]["namespace"] in ALLOWED_POOL_NAMESPACES, f"{kind} {o['metadata']}"
        assert cluster.get_json("machinedeployments.cluster.x-k8s.io", "-n", "kube-system")["items"] == []
    finally:
        health.close()
        canary.close()


def _children_match(cluster: Cluster, namespace: str, names: list[str], accelerator: str) -> bool:
    total = 0
    for name in names:
        obj = mdep(cluster, name, namespace)
        ready = condition(obj, "Ready")
        if ready is None or ready["status"] != "True" or obj["status"]["plan"]["accelerator"] != accelerator:
            return False
        pools = node_pools(cluster, obj["metadata"]["uid"])
        listed = {c["name"] for c in obj["status"]["children"] if c["kind"] == "NodePool"}
        if {p["metadata"]["name"] for p in pools} != listed or len(pools) != 1:
            return False
        total += obj["status"]["plan"]["chipsPerReplica"] * obj["status"]["plan"]["replicas"]
    q = quota(cluster, namespace)
    return q is not None and sum(int(v) for v in q["spec"]["hard"].values()) == total


def test_kill_9_during_an_accelerator_change_loses_and_duplicates_nothing(
    cluster: Cluster, fault_operator: Operator, namespace: str
) -> None:
    names = [f"k-{i}" for i in range(40)]
    apply_all(cluster, [base(n, namespace) for n in names])
    wait_until(lambda: _children_match(cluster, namespace, names, "h100"), timeout=120, interval=2, what="all on h100")
    apply_all(cluster, [base(n, namespace, accelerators=["h200"]) for n in names])
    time.sleep(0.7)
    assert fault_operator.proc is not None
    fault_operator.proc.send_signal(signal.SIGKILL)
    fault_operator.proc.wait()
    t = time.monotonic()
    fault_operator.start()
    wait_until(
        lambda: _children_match(cluster, namespace, names, "h200"),
        timeout=120,
        interval=2,
        what="every object on h200 with exactly one pool and an exact quota after kill -9",
    )
    print(f"\nafter kill -9 under load: 40 objects consistent {time.monotonic() - t:.1f} s after the restart")


def test_drift_is_corrected_by_watch_long_before_resync(
    cluster: Cluster, fault_operator: Operator, namespace: str
) -> None:
    cluster.kubectl("apply", "-f", "-", input=yaml.safe_dump(base("d", namespace)))
    wait_until(lambda: _children_match(cluster, namespace, ["d"], "h100"), timeout=60, what="Ready")
    uid = mdep(cluster, "d", namespace)["metadata"]["uid"]
    (pool,) = node_pools(cluster, uid)
    name, want = pool["metadata"]["name"], pool["spec"]["limits"]

    def limits() -> dict[str, str] | None:
        proc = cluster.kubectl("get", "nodepools.karpenter.sh", name, "-o", "json", check=False)
        return json.loads(proc.stdout)["spec"]["limits"] if proc.returncode == 0 else None

    t = time.monotonic()
    patch = json.dumps({"spec": {"limits": dict.fromkeys(want, "99999")}})
    cluster.kubectl("patch", "nodepools.karpenter.sh", name, "--type=merge", "-p", patch)
    wait_until(lambda: limits() == want, timeout=20, interval=0.2, what="the foreign edit undone")
    edited = time.monotonic() - t
    t = time.monotonic()
    cluster.kubectl("delete", "nodepools.karpenter.sh", name, "--wait=true")
    wait_until(lambda: limits() == want, timeout=20, interval=0.2, what="the deleted pool recreated")
    deleted = time.monotonic() - t
    hard = quota(cluster, namespace)["spec"]["hard"]  # type: ignore[index]

    def quota_hard() -> dict[str, str] | None:
        q = quota(cluster, namespace)
        return q["spec"]["hard"] if q else None

    t = time.monotonic()
    edit = json.dumps({"spec": {"hard": dict.fromkeys(hard, "99999")}})
    cluster.kubectl("patch", "resourcequota", "infercap", "-n", namespace, "--type=merge", "-p", edit)
    wait_until(lambda: quota_hard() == hard, timeout=20, interval=0.2, what="the quota edit undone")
    cluster.kubectl("delete", "resourcequota", "infercap", "-n", namespace, "--wait=true")
    wait_until(lambda: quota_hard() == hard, timeout=20, interval=0.2, what="the quota recreated")
    quota_fixed = time.monotonic() - t
    print(
        f"\ndrift corrected by watch: foreign pool edit {edited:.1f} s, pool deletion {deleted:.1f} s, quota edit "
        f"and deletion {quota_fixed:.1f} s (resync is 300 s)"
    )


def test_a_rollout_and_a_foreign_scale_of_the_serving_workload_are_followed_by_watch(
    cluster: Cluster, fault_operator: Operator, namespace: str
) -> None:
    """Serving turns True when the pods are ready (kwok, on nodes Karpenter launched), and a foreign scale
    of the Deployment is undone, both by the watch on serving workloads: the resync here is 300 s."""
    serving = {"model": {"huggingFace": "meta-llama/Llama-3.1-8B-Instruct"}}
    cluster.kubectl("apply", "-f", "-", input=yaml.safe_dump(base("sv", namespace, serving=serving)))
    t = time.monotonic()

    def served() -> dict[str, Any] | None:
        obj = mdep(cluster, "sv", namespace)
        c = condition(obj, "Serving")
        return obj if c is not None and c["status"] == "True" else None

    obj = wait_until(served, timeout=120, interval=0.5, what="Serving True (pods ready) long before resync")
    became = time.monotonic() - t
    planned = obj["status"]["plan"]["replicas"]
    (ref,) = [c for c in obj["status"]["children"] if c["kind"] == "Deployment"]

    def replicas() -> int | None:
        proc = cluster.kubectl("get", "deployment", ref["name"], "-n", namespace, "-o", "json", check=False)
        return json.loads(proc.stdout)["spec"]["replicas"] if proc.returncode == 0 else None

    t = time.monotonic()
    cluster.kubectl("scale", "deployment", ref["name"], "-n", namespace, f"--replicas={planned + 3}")
    wait_until(lambda: replicas() == planned, timeout=30, interval=0.2, what="the foreign scale undone")
    undone = time.monotonic() - t
    print(
        f"\nserving workload by watch: Serving True {became:.1f} s after apply, foreign scale undone in {undone:.1f} s"
    )


def test_a_deletion_storm_leaves_nothing(cluster: Cluster, fault_operator: Operator, namespace: str) -> None:
    names = [f"s-{i}" for i in range(40)]
    apply_all(cluster, [base(n, namespace) for n in names])
    wait_until(lambda: _children_match(cluster, namespace, names, "h100"), timeout=120, interval=2, what="all Ready")
    uids = [mdep(cluster, n, namespace)["metadata"]["uid"] for n in names]
    t = time.monotonic()
    cluster.kubectl("delete", "modeldeployments", "--all", "-n", namespace, "--wait=true", "--timeout=120s")
    wait_until(lambda: quota(cluster, namespace) is None, timeout=60, what="the quota removed")
    left = [u for u in uids if node_pools(cluster, u)]
    print(f"\ndeletion storm of 40: everything gone after {time.monotonic() - t:.1f} s")
    assert left == []


def test_an_api_server_restart_is_survived_without_tracebacks(
    cluster: Cluster, fault_operator: Operator, namespace: str
) -> None:
    cluster.kubectl("apply", "-f", "-", input=yaml.safe_dump(base("r", namespace)))
    wait_until(lambda: _children_match(cluster, namespace, ["r"], "h100"), timeout=60, what="Ready")
    before = tracebacks(fault_operator)
    pid_file = Path(os.environ.get("INFERCAP_CLUSTER_DIR", ROOT / ".cache" / "cluster")) / "run" / "kube-apiserver.pid"
    pid = int(pid_file.read_text())
    os.kill(pid, signal.SIGKILL)  # a crash: no graceful shutdown, watches cut mid-stream
    wait_until(
        lambda: not Path(f"/proc/{pid}").exists() or "Z" in Path(f"/proc/{pid}/stat").read_text().split(") ")[1][:1],
        timeout=30,
        what="the API server gone",
    )
    time.sleep(8)  # the operator's watches, timers and status writes hit a dead API server meanwhile
    t = time.monotonic()
    up = subprocess.run([str(ROOT / "hack" / "cluster"), "up"], capture_output=True, text=True, check=False)
    assert up.returncode == 0, up.stderr[-2000:]
    cluster.kubectl("apply", "-f", "-", input=yaml.safe_dump(base("r", namespace, accelerators=["h200"])))
    wait_until(lambda: _children_match(cluster, namespace, ["r"], "h200"), timeout=120, interval=1, what="re-plan")
    print(f"\nAPI server restart: re-planned {time.monotonic() - t:.1f} s after it came back")
    assert fault_operator.proc is not None and fault_operator.proc.poll() is None
    assert tracebacks(fault_operator) == before


def test_ha_the_standby_takes_over_from_a_killed_active_replica(
    cluster: Cluster, fault_operator: Operator, namespace: str, tmp_path: Path
) -> None:
    """Two replicas with Kopf peering (as the chart's ha.enabled runs them): one works, the other stands
    by; kill -9 the active one and the other takes over, with no duplicate node pool."""
    peering = "infercap-faults-ha"
    cluster.kubectl(
        "apply",
        "--server-side",
        "-f",
        "-",
        input=yaml.safe_dump(
            {
                "apiVersion": "apiextensions.k8s.io/v1",
                "kind": "CustomResourceDefinition",
                "metadata": {"name": "clusterkopfpeerings.kopf.dev"},
                "spec": {
                    "group": "kopf.dev",
                    "scope": "Cluster",
                    "names": {
                        "kind": "ClusterKopfPeering",
                        "plural": "clusterkopfpeerings",
                        "singular": "clusterkopfpeering",
                    },
                    "versions": [
                        {
                            "name": "v1",
                            "served": True,
                            "storage": True,
                            "schema": {
                                "openAPIV3Schema": {
                                    "type": "object",
                                    "x-kubernetes-preserve-unknown-fields": True,
                                }
                            },
                        }
                    ],
                },
            }
        ),
    )
    cluster.kubectl("wait", "--for=condition=Established", "--timeout=60s", "crd/clusterkopfpeerings.kopf.dev")
    cluster.kubectl(
        "apply",
        "-f",
        "-",
        input=yaml.safe_dump(
            {"apiVersion": "kopf.dev/v1", "kind": "ClusterKopfPeering", "metadata": {"name": peering}}
        ),
    )
    fault_operator.stop()  # standalone: it would act regardless of peering
    cfg = tmp_path / "config.yaml"
    cfg.write_text(CONFIG)
    replicas = [
        Operator(cluster, cfg, tmp_path / f"replica-{i}.log", free_port(), 0, extra_args=("--peering", peering))
        for i in range(2)
    ]
    try:
        for r in replicas:
            r.start()
        # Until the replicas have seen each other's peering records, both may act on objects left by
        # earlier tests; what counts is who acts on this test's object once they have.
        time.sleep(5)
        offsets = [r.log.stat().st_size for r in replicas]
        cluster.kubectl("apply", "-f", "-", input=yaml.safe_dump(base("ha", namespace)))
        wait_until(lambda: _children_match(cluster, namespace, ["ha"], "h100"), timeout=90, what="Ready under HA")
        logs = [r.log.read_bytes()[o:].decode(errors="replace") for r, o in zip(replicas, offsets, strict=True)]
        active = [i for i, text in enumerate(logs) if "Handler 'build_registry.<locals>.changed' succeeded" in text]
        assert len(active) == 1, f"exactly one replica reconciles, not {active}"
        standby = replicas[1 - active[0]]
        killed = replicas[active[0]]
        assert killed.proc is not None
        killed.proc.send_signal(signal.SIGKILL)
        killed.proc.wait()
        t = time.monotonic()
        cluster.kubectl("apply", "-f", "-", input=yaml.safe_dump(base("ha", namespace, accelerators=["h200"])))
        wait_until(
            lambda: _children_match(cluster, namespace, ["ha"], "h200"), timeout=120, interval=1, what="takeover"
        )
        print(f"\nHA: the standby took over and re-planned {time.monotonic() - t:.1f} s after kill -9 of the active")
        taken = standby.log.read_bytes()[offsets[1 - active[0]] :].decode(errors="replace")
        assert "Handler 'build_registry.<locals>.changed' succeeded" in taken
        uid = mdep(cluster, "ha", namespace)["metadata"]["uid"]
        assert len(node_pools(cluster, uid)) == 1, "no duplicate node pool"
    finally:
        for r in replicas:
            r.stop()
        fault_operator.start()
