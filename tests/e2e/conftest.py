"""Cluster fixtures: a real local control plane (hack/cluster) for the whole session, a fresh
namespace per test, and kubectl.

The cluster is started if it is not running and stopped again at the end of the session if this
session started it. If it cannot start, every cluster test fails with hack/cluster's reason: none is
skipped."""

from __future__ import annotations

import json
import os
import subprocess
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
CLUSTER = ROOT / "hack" / "cluster"


@dataclass
class Cluster:
    kubeconfig: Path
    bindir: Path

    @property
    def env(self) -> dict[str, str]:
        return {**os.environ, "KUBECONFIG": str(self.kubeconfig), "PATH": f"{self.bindir}:{os.environ['PATH']}"}

    def kubectl(self, *args: str, input: str | None = None, check: bool = True) -> subprocess.CompletedProcess[str]:
        proc = subprocess.run(
            [str(self.bindir / "kubectl"), *args],
            input=input,
            capture_output=True,
            text=True,
            env=self.env,
            check=False,
            timeout=120,
        )
        if check and proc.returncode != 0:
            raise AssertionError(f"kubectl {' '.join(args)} failed ({proc.returncode}): {proc.stderr.strip()}")
        return proc

    def get_json(self, *args: str) -> Any:
        return json.loads(self.kubectl("get", *args, "-o", "json").stdout)


def _cluster_cmd(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(CLUSTER), *args], capture_output=True, text=True, check=False, timeout=3600)


@pytest.fixture(scope="session")
def cluster() -> Iterator[Cluster]:
    was_running = _cluster_cmd("status").returncode == 0
    up = _cluster_cmd("up")
    if up.returncode != 0:
        pytest.fail(f"hack/cluster up failed, so no cluster test can run:\n{up.stderr[-4000:]}", pytrace=False)
    env = dict(line.removeprefix("export ").split("=", 1) for line in up.stdout.strip().splitlines())
    bindir = Path(env["PATH"].split(":")[0])
    yield Cluster(Path(env["KUBECONFIG"]), bindir)
    if not was_running:
        _cluster_cmd("down")


@pytest.fixture
def namespace(cluster: Cluster) -> Iterator[str]:
    name = f"t-{uuid.uuid4().hex[:8]}"
    cluster.kubectl("create", "namespace", name)
    yield name
    # ModelDeployments carry the operator's finalizer: delete them while it runs, and strip what is left
    # (the operator may be stopped) so the namespace can go.
    if cluster.kubectl("get", "crd", "modeldeployments.infercap.dev", check=False).returncode == 0:
        cluster.kubectl("delete", "modeldeployments", "--all", "-n", name, "--wait=true", "--timeout=30s", check=False)
        for obj in cluster.kubectl("get", "modeldeployments", "-n", name, "-o", "name", check=False).stdout.split():
            cluster.kubectl(
                "patch", obj, "-n", name, "--type=merge", "-p", '{"metadata":{"finalizers":null}}', check=False
            )
    cluster.kubectl("delete", "namespace", name, "--wait=false", check=False)


# --------------------------------------------------------------------------- the operator


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


# Karpenter runs in the local cluster with its kwok provider: pools reference its KWOKNodeClass, and
# empty nodes go after 10 s so consolidation shows within a test.
# The test Prometheus listens here, so the session operator can name it as a source before it starts
# (tenants cannot name URLs the operator configuration does not allow).
PROMETHEUS_PORT = free_port()
OPERATOR_CONFIG = f"""
defaultProvider: karpenter
resyncSeconds: 5
autoscalePollSeconds: 2
karpenter: {{nodeClassRef: {{group: karpenter.kwok.sh, kind: KWOKNodeClass, name: default}}, consolidateAfter: 10s}}
serving: {{switchCooldownSeconds: 0}}
clusterapi: {{namespace: infercap-capi, clusterName: workload}}
gke: {{namespace: infercap-gke, clusterRef: {{name: workload}}, location: us-central1}}
prometheus: {{sources: {{test: {{url: "http://127.0.0.1:{PROMETHEUS_PORT}"}}}}}}
"""


@dataclass
class Operator:
    cluster: Cluster
    config: Path
    log: Path
    port: int
    metrics_port: int
    extra_args: tuple[str, ...] = ()  # e.g. peering, namespace scope, log format
    kubeconfig: Path | None = None  # another identity than the cluster admin (the chart's ServiceAccount)
    proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        import sys
        import time
        import urllib.request

        logf = self.log.open("ab")
        self.proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "infercap",
                "run",
                "--config",
                str(self.config),
                "--liveness",
                f"http://127.0.0.1:{self.port}/healthz",
                "--metrics-port",
                str(self.metrics_port),
                *self.extra_args,
            ],
            env={**self.cluster.env, **({"KUBECONFIG": str(self.kubeconfig)} if self.kubeconfig else {})},
            stdout=logf,
            stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            assert self.proc.poll() is None, f"the operator exited:\n{self.log.read_text()[-3000:]}"
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/healthz", timeout=1) as r:
                    if r.status == 200:
                        return
            except OSError:
                time.sleep(0.3)
        raise AssertionError(f"the operator did not become live:\n{self.log.read_text()[-3000:]}")

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None


@pytest.fixture(scope="session")
def crds_installed(cluster: Cluster) -> None:
    cluster.kubectl("apply", "--server-side", "--force-conflicts", "-f", str(ROOT / "crds"))
    cluster.kubectl(
        "wait", "--for=condition=Established", "--timeout=60s", "crd", "-l", "app.kubernetes.io/name=infercap"
    )
    for ns in ("infercap-capi", "infercap-gke"):
        if cluster.kubectl("get", "namespace", ns, check=False).returncode != 0:
            cluster.kubectl("create", "namespace", ns)


@pytest.fixture(scope="session")
def operator(cluster: Cluster, crds_installed: None, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Operator]:
    d = tmp_path_factory.mktemp("operator")
    cfg = d / "config.yaml"
    cfg.write_text(OPERATOR_CONFIG)
    op = Operator(cluster, cfg, d / "operator.log", free_port(), free_port())
    op.start()
    yield op
    op.stop()
    print(f"\noperator log: {op.log}")


def wait_until(check: Any, timeout: float = 60, interval: float = 0.5, what: str = "condition") -> Any:
    """Poll `check` until it returns something truthy; fail with `what` after `timeout` seconds."""
    import time

    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        last = check()
        if last:
            return last
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}; last: {last!r}")


# --------------------------------------------------------------------------- Prometheus and a load generator


@dataclass
class Prometheus:
    url: str
    rate_file: Path
    loadgen: subprocess.Popen[bytes]
    engine_file: Path | None = None  # the fake serving engine's parameters (tests/e2e/fake_engine.py)

    def set_rate(self, rps: float) -> None:
        self.rate_file.write_text(str(rps))

    def set_engine(self, **params: float | str) -> None:
        """What the fake engine reports: replicas, dp (ranks per replica), batch (running per replica), step
        (seconds), kv, namespace (the label its series carry)."""
        assert self.engine_file is not None
        self.engine_file.write_text(json.dumps(params))

    def stop_loadgen(self) -> None:
        if self.loadgen.poll() is None:
            self.loadgen.terminate()
            self.loadgen.wait(timeout=10)


@pytest.fixture
def prometheus(tmp_path: Path) -> Iterator[Prometheus]:
    """A real Prometheus server (Debian's package, installed by hack/prometheus.sh) scraping a small
    load generator and a fake serving engine (idle until set_engine) every second, all on loopback."""
    import sys
    import time
    import urllib.request

    found = subprocess.run([str(ROOT / "hack" / "prometheus.sh")], capture_output=True, text=True, check=False)
    if found.returncode != 0:
        pytest.fail(f"hack/prometheus.sh could not provide Prometheus:\n{found.stderr[-2000:]}", pytrace=False)
    binary = found.stdout.strip().splitlines()[-1]
    gen_port, engine_port, prom_port = free_port(), free_port(), PROMETHEUS_PORT
    engine_file = tmp_path / "engine.json"
    engine_file.write_text("{}")
    engine = subprocess.Popen(
        [sys.executable, str(Path(__file__).with_name("fake_engine.py")), str(engine_port), str(engine_file)]
    )
    rate_file = tmp_path / "rate"
    rate_file.write_text("0")
    loadgen = subprocess.Popen(
        [sys.executable, str(Path(__file__).with_name("loadgen.py")), str(gen_port), str(rate_file)]
    )
    config = tmp_path / "prometheus.yml"
    config.write_text(
        "global: {scrape_interval: 1s, evaluation_interval: 1s}\n"
        f"scrape_configs:\n  - job_name: loadgen\n    static_configs: [{{targets: ['127.0.0.1:{gen_port}']}}]\n"
        f"  - job_name: engine\n    static_configs: [{{targets: ['127.0.0.1:{engine_port}']}}]\n"
    )
    log = (tmp_path / "prometheus.log").open("wb")
    prom = subprocess.Popen(
        [
            binary,
            f"--config.file={config}",
            f"--storage.tsdb.path={tmp_path / 'data'}",
            f"--web.listen-address=127.0.0.1:{prom_port}",
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{prom_port}"
    deadline = time.monotonic() + 60
    while True:
        try:
            with urllib.request.urlopen(f"{url}/-/ready", timeout=1) as r:
                if r.status == 200:
                    break
        except OSError:
            pass
        assert prom.poll() is None, (tmp_path / "prometheus.log").read_text()[-2000:]
        assert time.monotonic() < deadline, "Prometheus did not become ready"
        time.sleep(0.3)
    try:
        yield Prometheus(url, rate_file, loadgen, engine_file)
    finally:
        loadgen.terminate()
        engine.terminate()
        prom.terminate()
        prom.wait(timeout=30)
