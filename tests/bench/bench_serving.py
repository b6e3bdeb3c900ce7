#!/usr/bin/env python3
"""Benchmark of the whole loop on the local control plane with real Karpenter (prints figures, asserts
nothing): 20 ModelDeployments with spec.serving created at once; for each, the time from its create call
until all its planned serving pods are Running and Ready on nodes Karpenter launched (kwok plays the
kubelet, so model load time is not part of it).

Run: python tests/bench/bench_serving.py   (starts hack/cluster if needed; stops what it started)
"""

from __future__ import annotations

import asyncio
import statistics
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from tests.bench.bench_operator import pct, sh, start, teardown

NS = "infercap-bench-serving"
COUNT = 20
CONFIG = """
resyncSeconds: 5
karpenter: {nodeClassRef: {group: karpenter.kwok.sh, kind: KWOKNodeClass, name: default}, consolidateAfter: 10s}
"""


def manifest(name: str, rps: float) -> dict[str, Any]:
    return {
        "apiVersion": "infercap.dev/v1alpha1",
        "kind": "ModelDeployment",
        "metadata": {"name": name, "namespace": NS},
        "spec": {
            "model": "llama-3.1-8b",
            "traffic": {"requestsPerSecond": f"{rps:.1f}", "inputTokens": 1000, "outputTokens": 200},
            "accelerators": ["h100"],
            "serving": {"model": {"huggingFace": "meta-llama/Llama-3.1-8B-Instruct"}},
        },
    }


async def measure() -> tuple[list[float], float]:
    from lightkube import AsyncClient, codecs
    from lightkube.resources.core_v1 import Pod

    from infercap.kube.client import _KINDS

    mdep = _KINDS[("infercap.dev/v1alpha1", "ModelDeployment")]
    client = AsyncClient(field_manager="bench")
    names = [f"serve-{i}" for i in range(COUNT)]
    started: dict[str, float] = {}
    done: dict[str, float] = {}
    t0 = time.monotonic()

    async def create(i: int, name: str) -> None:
        started[name] = time.monotonic()
        await client.create(codecs.from_dict(manifest(name, 2 + (i % 4) * 5)))

    await asyncio.gather(*(create(i, n) for i, n in enumerate(names)))
    while len(done) < COUNT and time.monotonic() - t0 < 600:
        planned = {}
        async for m in client.list(mdep, namespace=NS):
            d = m.to_dict()
            replicas = ((d.get("status") or {}).get("plan") or {}).get("replicas")
            if replicas:
                planned[d["metadata"]["name"]] = int(replicas)
        running: dict[str, int] = {}
        async for pod in client.list(Pod, namespace=NS):
            owner = (pod.metadata.labels or {}).get("infercap.dev/serving") if pod.metadata else None
            ready = any(c.type == "Ready" and c.status == "True" for c in (pod.status.conditions or []))
            if owner and pod.status and pod.status.phase == "Running" and ready:
                running[owner] = running.get(owner, 0) + 1
        now = time.monotonic()
        for name, want in planned.items():
            if name not in done and running.get(name, 0) >= want:
                done[name] = now
        await asyncio.sleep(0.25)
    await client.close()
    return [done[n] - started[n] for n in names if n in done], time.monotonic() - t0


def main() -> None:
    env, kubectl, op, was_running = start(NS, CONFIG, 18098)
    try:
        latencies, total = asyncio.run(measure())
        nodes = sh(*kubectl, "get", "nodeclaims", "--no-headers", env=env).count("\n")
        print(
            f"{COUNT} ModelDeployments with spec.serving created at once, apply to all serving pods Running "
            f"({len(latencies)} of {COUNT} reached it): median {statistics.median(latencies):.1f} s, "
            f"p95 {pct(latencies, 0.95):.1f} s, all after {total:.1f} s; {nodes} NodeClaims launched"
        )
    finally:
        teardown(kubectl, env, NS, op, was_running)


if __name__ == "__main__":
    main()
