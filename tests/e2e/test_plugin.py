"""`kubectl infercap` behaves like kubectl: --context, --kubeconfig, -n and -A, verbs that read the
cluster (plan vs observed, cost per namespace, one explanation), readable errors, shell completion."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.e2e.conftest import Cluster, Operator, wait_until
from tests.e2e.test_operator import condition, manifest, mdep

pytestmark = pytest.mark.cluster


def plugin(cluster: Cluster, *args: str, kubeconfig: bool = False) -> subprocess.CompletedProcess[str]:
    env = {**cluster.env, "PATH": f"{Path(sys.executable).parent}:{cluster.env['PATH']}"}
    if not kubeconfig:
        env.pop("KUBECONFIG")  # the connection comes from the flags alone
    return subprocess.run(
        [str(cluster.bindir / "kubectl"), "infercap", *args],
        capture_output=True,
        text=True,
        env=env,
        check=False,
        timeout=60,
    )


@pytest.fixture
def two_namespaces(cluster: Cluster, operator: Operator, namespace: str) -> tuple[str, str]:
    other = f"{namespace}-b"
    cluster.kubectl("create", "namespace", other)
    cluster.kubectl("apply", "-f", "-", input=manifest("chat", namespace))
    cluster.kubectl(
        "apply",
        "-f",
        "-",
        input=manifest("batch", other, traffic={"requestsPerSecond": 30, "inputTokens": 500, "outputTokens": 100}),
    )
    for name, ns in (("chat", namespace), ("batch", other)):
        wait_until(
            lambda n=name, s=ns: (condition(mdep(cluster, n, s), "Ready") or {}).get("status") == "True",
            timeout=90,
            what=f"{ns}/{name} Ready",
        )
    yield namespace, other
    cluster.kubectl("delete", "mdep", "--all", "-n", other, "--wait=true", "--timeout=60s", check=False)
    cluster.kubectl("delete", "namespace", other, "--wait=false", check=False)


def context_args(cluster: Cluster) -> list[str]:
    config: dict[str, Any] = yaml.safe_load(cluster.kubeconfig.read_text())
    return ["--kubeconfig", str(cluster.kubeconfig), "--context", config["current-context"]]


def test_get_all_namespaces_prints_plan_vs_observed(cluster: Cluster, two_namespaces: tuple[str, str]) -> None:
    a, b = two_namespaces
    proc = plugin(cluster, "get", "-A", *context_args(cluster))
    assert proc.returncode == 0, proc.stderr
    header, *lines = proc.stdout.splitlines()
    columns = ["NAMESPACE", "NAME", "MODEL", "ACCELERATOR", "REPLICAS", "OBSERVED", "NODES", "OBSERVED"]
    assert header.split() == [*columns, "COST/MONTH"]
    rows = {(line.split()[0], line.split()[1]): line.split() for line in lines}
    for ns, name in ((a, "chat"), (b, "batch")):
        planned = mdep(cluster, name, ns)["status"]["plan"]
        row = rows[(ns, name)]
        assert (
            row[3] == planned["accelerator"] and row[4] == str(planned["replicas"]) and row[6] == str(planned["nodes"])
        )
        assert row[7] == "0", "no node carries this deployment's label on a cluster without node provisioning"
    flags_first = plugin(cluster, *context_args(cluster), "-A", "get")
    assert flags_first.returncode == 0 and flags_first.stdout == proc.stdout, "flags may come before the verb"
    data = json.loads(plugin(cluster, "get", "-A", "-o", "json", *context_args(cluster)).stdout)
    assert {(r["namespace"], r["name"]) for r in data} >= {(a, "chat"), (b, "batch")}


def test_namespace_flag_cost_totals_and_explain(cluster: Cluster, two_namespaces: tuple[str, str]) -> None:
    a, b = two_namespaces
    only_a = plugin(cluster, "get", "-n", a, *context_args(cluster))
    assert only_a.returncode == 0 and "chat" in only_a.stdout and "batch" not in only_a.stdout
    assert not only_a.stdout.startswith("NAMESPACE"), "one namespace: no namespace column, as kubectl"
    totals = json.loads(plugin(cluster, "cost", "-A", "-o", "json", *context_args(cluster)).stdout)
    by_ns = {r["namespace"]: r for r in totals}
    for ns, name in ((a, "chat"), (b, "batch")):
        status = mdep(cluster, name, ns)["status"]
        assert by_ns[ns]["costMonthly"] == f"{float(status['cost']['monthly']):.2f}"
        assert by_ns[ns]["chips"] == status["plan"]["chips"] and by_ns[ns]["deployments"] == 1
    explained = plugin(cluster, "explain", "chat", "-n", a, *context_args(cluster))
    assert explained.returncode == 0, explained.stderr
    assert "Why:" in explained.stdout and "Replica throughput" in explained.stdout and "Ready" in explained.stdout
    # KUBECONFIG alone, as kubectl would use it.
    assert "chat" in plugin(cluster, "get", "-n", a, kubeconfig=True).stdout


def test_errors_are_one_line_and_exit_2(cluster: Cluster) -> None:
    proc = plugin(cluster, "get", "-A", "--kubeconfig", str(cluster.kubeconfig), "--context", "no-such-context")
    assert proc.returncode == 2
    assert proc.stderr.count("\n") == 1 and "no-such-context" in proc.stderr and "Traceback" not in proc.stderr
    proc = plugin(cluster, "explain", "missing", "-n", "default", *context_args(cluster))
    assert proc.returncode == 2 and "not found" in proc.stderr


def test_completion_scripts() -> None:
    from infercap.cli.plugin import completion

    bash = completion("bash")
    proc = subprocess.run(["bash", "-n"], input=bash, capture_output=True, text=True, check=False)
    assert proc.returncode == 0, proc.stderr
    assert "complete -F _kubectl_infercap kubectl-infercap" in bash and "explain" in bash
    assert completion("zsh").startswith("#compdef kubectl-infercap")
