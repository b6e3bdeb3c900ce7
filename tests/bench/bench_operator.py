#!/usr/bin/env python3
"""Benchmark of the operator on the local control plane (prints figures, asserts nothing).

- apply-to-Ready latency of one ModelDeployment, 20 times in a row (create, wait for Ready, delete);
- 200 ModelDeployments created at once: latency of each from its create call to Ready;
- the operator's resident memory with 200 ModelDeployments;
- API requests per reconcile, by verb (from the API server's apiserver_request_total and the operator's
  reconcile count): LIST must be 0, reconciles read Kopf's indexes;
- the floor: the same number of writes sent straight to the API server (ConfigMap creates, 16 at a time).

Run: python tests/bench/bench_operator.py [COUNT ...]   (default 200; starts hack/cluster if needed, stops
what it started)
"""

from __future__ import annotations

import asyncio
import os
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
NS = "infercap-bench"
FLOOR_NS = "infercap-bench-floor"  # its own namespace: deleting it is one collection delete, not 27,000 DELETEs
CREATES_IN_FLIGHT = 16  # the benchmark client's concurrent creates (also the floor's writes in flight)


def sh(*args: str, env: dict[str, str] | None = None) -> str:
    return subprocess.run(args, check=True, capture_output=True, text=True, env=env).stdout


def manifest(name: str, rps: float) -> dict[str, Any]:
    return {
        "apiVersion": "infercap.dev/v1alpha1",
        "kind": "ModelDeployment",
        "metadata": {"name": name, "namespace": NS},
        "spec": {
            "model": "llama-3.1-8b",
            "traffic": {"requestsPerSecond": f"{rps:.1f}", "inputTokens": 1000, "outputTokens": 200},
            "accelerators": ["h100", "l40s"],
        },
    }


async def measure(count: int, concurrent: bool) -> tuple[list[float], list[float]]:
    """Seconds from each create call to Ready, and to planned and applied (Planned True and a node pool
    in status.children: what infercap itself does, before Karpenter reports the pool Ready)."""
    from lightkube import AsyncClient, codecs

    from infercap.kube.client import _KINDS

    mdep = _KINDS[("infercap.dev/v1alpha1", "ModelDeployment")]
    client = AsyncClient(field_manager="bench")
    started: dict[str, float] = {}
    done: dict[str, float] = {}
    applied: dict[str, float] = {}

    async def watch() -> None:
        async for _, obj in client.watch(mdep, namespace=NS):
            d = obj.to_dict()
            name = d["metadata"]["name"]
            status = d.get("status") or {}
            conds = {c["type"]: c["status"] for c in status.get("conditions", [])}
            pools = [c for c in status.get("children", []) if c.get("kind") == "NodePool"]
            if conds.get("Planned") == "True" and pools and name in started and name not in applied:
                applied[name] = time.monotonic()
            if conds.get("Ready") == "True" and name in started and name not in done:
                done[name] = time.monotonic()

    watcher = asyncio.create_task(watch())
    await asyncio.sleep(0.5)
    names = [f"bench-{'many' if concurrent else 'one'}-{i}" for i in range(count)]
    first = time.monotonic()
    if concurrent:
        # At most CREATES_IN_FLIGHT creates at a time (kubectl apply -f of a large file sends one at a time;
        # 2,000 unbounded ones waited past httpx's pool timeout). Each latency counts from its own create
        # call, the figure "all Ready" from the first.
        sem = asyncio.Semaphore(CREATES_IN_FLIGHT)

        async def create(i: int, name: str) -> None:
            async with sem:
                started[name] = time.monotonic()
                await client.create(codecs.from_dict(manifest(name, 1 + i % 50)))

        await asyncio.gather(*(create(i, n) for i, n in enumerate(names)))
        print(f"  {count} creates sent in {time.monotonic() - first:.1f} s ({CREATES_IN_FLIGHT} in flight)")
        while len(done) < count:
            await asyncio.sleep(0.1)
    else:
        for i, name in enumerate(names):
            started[name] = time.monotonic()
            await client.create(codecs.from_dict(manifest(name, 1 + i)))
            while name not in done:
                await asyncio.sleep(0.01)
            await client.delete(mdep, name, namespace=NS)
    watcher.cancel()
    await client.close()
    return [done[n] - started[n] for n in names], [applied.get(n, done[n]) - started[n] for n in names]


def apiserver_requests(kubectl: list[str], env: dict[str, str]) -> dict[tuple[str, str], float]:
    """Requests the API server has served, by verb (LIST, WATCH, GET, POST, PATCH, APPLY, DELETE ...) and
    resource (with its subresource: modeldeployments/status)."""
    out: dict[tuple[str, str], float] = {}
    for line in sh(*kubectl, "get", "--raw", "/metrics", env=env).splitlines():
        if line.startswith("apiserver_request_total{"):
            labels, _, value = line.rpartition(" ")

            def label(name: str, text: str = labels) -> str:
                return text.split(f'{name}="', 1)[1].split('"', 1)[0] if f'{name}="' in text else ""

            resource = label("resource") + (f"/{label('subresource')}" if label("subresource") else "")
            key = (label("verb"), resource)
            out[key] = out.get(key, 0.0) + float(value)
    return out


def by_verb(requests: dict[tuple[str, str], float]) -> dict[str, float]:
    out: dict[str, float] = {}
    for (verb, _), n in requests.items():
        out[verb] = out.get(verb, 0.0) + n
    return out


def load() -> str:
    return "load average " + " ".join(Path("/proc/loadavg").read_text().split()[:3]) + " on " + str(os.cpu_count())


def reconciles(port: int) -> float:
    """Reconciles the operator finished, of every result (success, problem, retry, error)."""
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as r:
        return sum(
            float(line.rsplit(" ", 1)[1])
            for line in r.read().decode().splitlines()
            if line.startswith("infercap_reconcile_duration_seconds_count")
        )


def cpu_seconds(pid: int) -> float:
    """User plus system CPU time of a process so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def write_floor(writes: int) -> float:
    """Seconds the API server takes for `writes` ConfigMap creates, 16 in flight (the operator's
    concurrency is of that order): the least the same number of operator writes can cost."""
    from lightkube import AsyncClient
    from lightkube.models.meta_v1 import ObjectMeta
    from lightkube.resources.core_v1 import ConfigMap

    client = AsyncClient(field_manager="bench")
    sem = asyncio.Semaphore(CREATES_IN_FLIGHT)

    async def one(i: int) -> None:
        async with sem:
            meta = ObjectMeta(name=f"floor-{i}", namespace=FLOOR_NS, labels={"infercap.dev/bench": "floor"})
            await client.create(ConfigMap(metadata=meta, data={"i": str(i)}))

    t = time.monotonic()
    await asyncio.gather(*(one(i) for i in range(writes)))
    elapsed = time.monotonic() - t
    await client.close()
    return elapsed


WRITE_VERBS = ("POST", "PATCH", "APPLY", "PUT", "DELETE")


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def delete_all(kubectl: list[str], env: dict[str, str], namespace: str, timeout: float) -> None:
    """Delete every ModelDeployment of `namespace` and wait until they are gone (the operator's finalizer
    first; `kubectl delete --wait` sometimes kept waiting after the last one went)."""
    subprocess.run(
        [*kubectl, "delete", "modeldeployments", "--all", "-n", namespace, "--wait=false"],
        check=False,
        env=env,
        capture_output=True,
    )
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        left = sh(*kubectl, "get", "modeldeployments", "-n", namespace, "-o", "name", env=env).split()
        if not left:
            return
        time.sleep(2)


def fresh_namespace(kubectl: list[str], env: dict[str, str], namespace: str) -> None:
    """`namespace`, created anew once a previous run's is gone (its teardown does not wait for it)."""
    phase = subprocess.run(
        [*kubectl, "get", "namespace", namespace, "-o", "jsonpath={.status.phase}"],
        check=False,
        env=env,
        capture_output=True,
        text=True,
    ).stdout
    if phase == "Terminating":
        subprocess.run(
            [*kubectl, "wait", "--for=delete", f"namespace/{namespace}", "--timeout=300s"],
            check=False,
            env=env,
            capture_output=True,
        )
    subprocess.run([*kubectl, "create", "namespace", namespace], check=False, env=env, capture_output=True)


def teardown(
    kubectl: list[str], env: dict[str, str], namespace: str, op: subprocess.Popen[bytes], was_running: bool
) -> None:
    """Delete the benchmark's ModelDeployments while the operator still runs (its finalizer), stop it, drop
    the namespace, and stop the cluster if the benchmark started it."""
    delete_all(kubectl, env, namespace, 300)
    op.terminate()
    op.wait(timeout=30)
    for ns in (namespace, FLOOR_NS):
        subprocess.run([*kubectl, "delete", "namespace", ns, "--wait=false"], check=False, env=env, capture_output=True)
    if not was_running:
        subprocess.run([str(ROOT / "hack/cluster"), "down"], check=False, capture_output=True)


def start(
    namespace: str, config: str, port: int, *extra: str
) -> tuple[dict[str, str], list[str], subprocess.Popen[bytes], bool]:
    """The local cluster (started if it is not running), infercap's CRDs, the namespace, and an operator
    with `config` whose liveness answers on `port`. Returns the environment, kubectl, the operator and
    whether the cluster was already running (for teardown)."""
    sys.path.insert(0, str(ROOT / "operator"))
    was_running = (
        subprocess.run([str(ROOT / "hack/cluster"), "status"], check=False, capture_output=True).returncode == 0
    )
    env = dict(os.environ)
    for line in sh(str(ROOT / "hack/cluster"), "up").strip().splitlines():
        k, v = line.removeprefix("export ").split("=", 1)
        env[k] = v.replace("$PATH", os.environ["PATH"])
    os.environ.update(env)
    kubectl = [str(Path(env["PATH"].split(":")[0]) / "kubectl")]
    sh(*kubectl, "apply", "--server-side", "--force-conflicts", "-f", str(ROOT / "crds"), env=env)
    sh(*kubectl, "wait", "--for=condition=Established", "crd", "-l", "app.kubernetes.io/name=infercap", env=env)
    fresh_namespace(kubectl, env, namespace)
    cfg = Path(tempfile.mkdtemp()) / "config.yaml"
    cfg.write_text(config)
    log = open(cfg.parent / "operator.log", "w")  # noqa: SIM115
    liveness = f"http://127.0.0.1:{port}/healthz"
    cmd = [sys.executable, "-m", "infercap", "run", "--config", str(cfg), "--liveness", liveness, *extra]
    op = subprocess.Popen(cmd, env=env, stdout=log, stderr=subprocess.STDOUT)
    for _ in range(100):
        try:
            urllib.request.urlopen(liveness, timeout=1)
            break
        except OSError:
            time.sleep(0.3)
    return env, kubectl, op, was_running


def main() -> None:
    # --many-only: skip the 20 one-at-a-time runs (for repeated fleet runs on a busy machine)
    many_only = "--many-only" in sys.argv
    counts = [int(a) for a in sys.argv[1:] if not a.startswith("--")] or [200]
    metrics_port = 18098
    # NodePoolsReady follows Karpenter's own Ready, which the local (kwok) Karpenter gives its NodeClass.
    config = (
        "resyncSeconds: 300\n"
        "karpenter: {nodeClassRef: {group: karpenter.kwok.sh, kind: KWOKNodeClass, name: default}}\n"
    )
    env, kubectl, op, was_running = start(NS, config, 18099, "--metrics-port", str(metrics_port))
    try:
        if not many_only:
            one, _ = asyncio.run(measure(20, concurrent=False))
            print(
                f"1 ModelDeployment, apply to Ready (20 runs): median {statistics.median(one) * 1e3:.0f} ms, "
                f"p95 {pct(one, 0.95) * 1e3:.0f} ms ({load()})"
            )
        for count in counts:
            before_all, rec0 = apiserver_requests(kubectl, env), reconciles(metrics_port)
            cpu0 = cpu_seconds(op.pid)
            t = time.monotonic()
            many, applied = asyncio.run(measure(count, concurrent=True))
            total = time.monotonic() - t
            time.sleep(3)  # the quota refresh after the last status write
            after_all, rec1 = apiserver_requests(kubectl, env), reconciles(metrics_port)
            cpu = cpu_seconds(op.pid) - cpu0
            before, after = by_verb(before_all), by_verb(after_all)
            proc = Path(f"/proc/{op.pid}/status").read_text().splitlines()
            rss, peak = (next(int(line.split()[1]) for line in proc if line.startswith(f)) for f in ("VmRSS", "VmHWM"))
            print(
                f"{count} ModelDeployments created at once, apply to Ready: median {statistics.median(many):.2f} s, "
                f"p95 {pct(many, 0.95):.2f} s, all Ready after {total:.1f} s; operator RSS {rss / 1024:.0f} MiB "
                f"(peak {peak / 1024:.0f} MiB; {load()})"
            )
            print(
                f"  planned and applied (status has the plan and its node pool, before Karpenter's Ready): "
                f"median {statistics.median(applied):.2f} s, p95 {pct(applied, 0.95):.2f} s"
            )
            n = max(rec1 - rec0, 1)
            delta = {v: after.get(v, 0) - before.get(v, 0) for v in after}
            per = ", ".join(f"{v} {delta[v] / n:.2f}" for v in sorted(delta) if delta[v] > 0 and v != "WATCH")
            print(f"  {n:.0f} reconciles, operator CPU {cpu:.1f} s; API requests per reconcile (all clients): {per}")
            top = sorted(
                ((after_all[k] - before_all.get(k, 0), k) for k in after_all if k[0] != "WATCH"), reverse=True
            )[:12]
            print("  by resource: " + ", ".join(f"{v} {r} {d:.0f}" for d, (v, r) in top if d > 0))
            # The bench's own creates are writes too; the rest are the operator's (with Kopf's) and Karpenter's
            # (its NodePool status patches and events), which the cluster would carry anyway.
            writes = int(sum(delta.get(v, 0) for v in WRITE_VERBS)) - count
            fresh_namespace(kubectl, env, FLOOR_NS)
            floor = asyncio.run(write_floor(max(writes, 1)))
            print(
                f"  this run's {writes} writes (operator, Kopf and Karpenter) sent straight to the API server take "
                f"{floor:.1f} s (the floor; "
                f"{load()})"
            )
            delete_all(kubectl, env, NS, 600)
            subprocess.run(
                [*kubectl, "delete", "namespace", FLOOR_NS, "--wait=false"], check=False, env=env, capture_output=True
            )
    finally:
        teardown(kubectl, env, NS, op, was_running)


if __name__ == "__main__":
    main()
