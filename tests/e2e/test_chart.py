"""The Helm chart against the real local control plane: lint, render, server-side dry-run, install, and
RBAC that is exactly sufficient (the operator runs as the chart's ServiceAccount) and no wider."""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.e2e.conftest import ROOT, Cluster, Operator, free_port, wait_until
from tests.e2e.test_operator import condition, manifest, mdep

pytestmark = pytest.mark.cluster

CHART = ROOT / "charts" / "infercap"
FULL_VALUES = Path(__file__).with_name("chart-values-full.yaml")
NS = "infercap-system"
RELEASE = "infercap"
SA = f"system:serviceaccount:{NS}:{RELEASE}"


def helm(cluster: Cluster, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run(
        [str(cluster.bindir / "helm"), *args], capture_output=True, text=True, env=cluster.env, check=False, timeout=300
    )
    if check and proc.returncode != 0:
        raise AssertionError(f"helm {' '.join(args)} failed: {proc.stderr.strip()}")
    return proc


def render(cluster: Cluster, *values: Path) -> list[dict[str, Any]]:
    args = ["template", RELEASE, str(CHART), "--namespace", NS, "--include-crds"]
    for v in values:
        args += ["-f", str(v)]
    return [d for d in yaml.safe_load_all(helm(cluster, *args).stdout) if d]


def rules(docs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [r for d in docs if d["kind"] in ("ClusterRole", "Role") for r in d["rules"]]


def test_lint(cluster: Cluster) -> None:
    helm(cluster, "lint", str(CHART), "--strict")
    helm(cluster, "lint", str(CHART), "--strict", "-f", str(FULL_VALUES))


@pytest.mark.parametrize("values", [[], [FULL_VALUES]], ids=["defaults", "ha-servicemonitor-catalog"])
def test_no_wildcards_and_no_secrets_in_rbac(cluster: Cluster, values: list[Path]) -> None:
    found = rules(render(cluster, *values))
    assert found
    for rule in found:
        for field in ("apiGroups", "resources", "verbs", "resourceNames", "nonResourceURLs"):
            assert "*" not in rule.get(field, []), f"wildcard in {field}: {rule}"
        assert "secrets" not in rule.get("resources", [])


@pytest.mark.parametrize("values", [[], [FULL_VALUES]], ids=["defaults", "ha-servicemonitor-catalog"])
def test_rendered_manifests_pass_server_side_dry_run(cluster: Cluster, values: list[Path]) -> None:
    docs = render(cluster, *values)
    crds = [d for d in docs if d["kind"] == "CustomResourceDefinition"]
    rest = [d for d in docs if d["kind"] != "CustomResourceDefinition"]
    kinds = {d["kind"] for d in docs}
    assert {"Deployment", "ServiceAccount", "ClusterRole", "ClusterRoleBinding", "ConfigMap"} <= kinds
    assert {"PodDisruptionBudget", "CustomResourceDefinition"} <= kinds
    if values:
        assert {"ServiceMonitor", "PrometheusRule", "KopfPeering", "ModelProfile", "AcceleratorProfile"} <= kinds
        deployment = next(d for d in docs if d["kind"] == "Deployment")
        assert deployment["spec"]["replicas"] == 2
        assert "--peering=infercap-test" in deployment["spec"]["template"]["spec"]["containers"][0]["args"]
    cluster.kubectl("apply", "--server-side", "--force-conflicts", "-f", "-", input=yaml.safe_dump_all(crds))
    for crd in crds:
        cluster.kubectl("wait", "--for=condition=Established", "--timeout=60s", f"crd/{crd['metadata']['name']}")
    watched = [d["metadata"]["namespace"] for d in rest if d["kind"] == "KopfPeering"]
    for ns in [NS, *watched]:
        if cluster.kubectl("get", "namespace", ns, check=False).returncode != 0:
            cluster.kubectl("create", "namespace", ns)
    cluster.kubectl("apply", "--dry-run=server", "-f", "-", input=yaml.safe_dump_all(rest))


def test_every_production_option_renders(cluster: Cluster, tmp_path: Path) -> None:
    docs = render(cluster, FULL_VALUES)
    by_kind: dict[str, list[dict[str, Any]]] = {}
    for d in docs:
        by_kind.setdefault(d["kind"], []).append(d)
    deployment = by_kind["Deployment"][0]
    pod = deployment["spec"]["template"]
    assert deployment["metadata"]["name"] == "infercap-full", "fullnameOverride names the resources"
    assert pod["metadata"]["labels"]["team"] == "platform"
    assert pod["metadata"]["annotations"]["example.com/scrape"] == "false"
    assert pod["spec"]["priorityClassName"] == "system-cluster-critical"
    (spread,) = pod["spec"]["topologySpreadConstraints"]
    assert spread["topologyKey"] == "topology.kubernetes.io/zone"
    assert spread["labelSelector"]["matchLabels"] == deployment["spec"]["selector"]["matchLabels"]
    readiness = pod["spec"]["containers"][0]["readinessProbe"]
    assert readiness["httpGet"]["path"] == "/healthz" and readiness["periodSeconds"] == 5
    (pdb,) = by_kind["PodDisruptionBudget"]
    assert pdb["spec"]["minAvailable"] == 1
    assert pdb["spec"]["selector"]["matchLabels"] == deployment["spec"]["selector"]["matchLabels"]
    roles = {r["metadata"]["name"]: r for r in by_kind["ClusterRole"]}
    assert roles["infercap-full-edit"]["metadata"]["labels"]["rbac.authorization.k8s.io/aggregate-to-edit"] == "true"
    assert roles["infercap-full-view"]["metadata"]["labels"]["rbac.authorization.k8s.io/aggregate-to-view"] == "true"
    (endpoint,) = by_kind["ServiceMonitor"][0]["spec"]["endpoints"]
    assert endpoint["scheme"] == "https" and endpoint["tlsConfig"]["serverName"] == "infercap-full-metrics"
    assert endpoint["relabelings"][0]["targetLabel"] == "cluster" and endpoint["metricRelabelings"]
    assert endpoint["honorLabels"] is True, "the ModelDeployment's namespace label must survive the scrape"
    alerts = [r["alert"] for g in by_kind["PrometheusRule"][0]["spec"]["groups"] for r in g["rules"]]
    for alert in (
        "InfercapReconcileErrors",
        "InfercapOverBudget",
        "InfercapCapacityBelowPlan",
        "InfercapHighPredictionError",
        "InfercapTest",
    ):
        assert alert in alerts
    infercap_crds = [c for c in by_kind["CustomResourceDefinition"] if c["spec"]["group"] == "infercap.dev"]
    assert len(infercap_crds) == len(INFERCAP_CRDS)
    for crd in infercap_crds:
        assert crd["metadata"]["annotations"]["helm.sh/resource-policy"] == "keep"
        assert crd["metadata"]["annotations"]["example.com/owner"] == "platform"
    no_crds = tmp_path / "no-crds.yaml"
    no_crds.write_text("crds: {install: false}\n")
    docs = render(cluster, no_crds)
    assert not [d for d in docs if d["kind"] == "CustomResourceDefinition"], "crds.install=false renders none"


def test_the_schema_rejects_unknown_values(cluster: Cluster) -> None:
    proc = helm(cluster, "template", RELEASE, str(CHART), "--set", "pdb.enabeld=true", check=False)
    assert proc.returncode != 0 and "enabeld" in proc.stderr


def test_pod_security(cluster: Cluster) -> None:
    deployment = next(d for d in render(cluster) if d["kind"] == "Deployment")
    pod = deployment["spec"]["template"]["spec"]
    container = pod["containers"][0]
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
    sc = container["securityContext"]
    assert sc["readOnlyRootFilesystem"] is True and sc["allowPrivilegeEscalation"] is False
    assert sc["capabilities"] == {"drop": ["ALL"]}
    assert container["resources"]["limits"] and container["resources"]["requests"]
    assert container["livenessProbe"]["httpGet"]["path"] == "/healthz"


@pytest.fixture(scope="module")
def installed(cluster: Cluster, crds_installed: None) -> Iterator[None]:
    helm(
        cluster,
        "upgrade",
        "--install",
        RELEASE,
        str(CHART),
        "--namespace",
        NS,
        "--create-namespace",
        "--set",
        "operator.resyncSeconds=5",
        # The session's CRDs are applied by crds_installed; test_crd_lifecycle has the chart own them.
        "--set",
        "crds.install=false",
        "--force-conflicts",
    )
    yield
    helm(cluster, "uninstall", RELEASE, "--namespace", NS, check=False)


@pytest.mark.parametrize(
    ("verb", "resource", "allowed"),
    [
        ("get", "secrets", False),
        ("list", "secrets", False),
        ("delete", "nodes", False),
        # The serving workload (spec.serving): Deployments, and ConfigMaps for TensorRT-LLM's options.
        ("create", "deployments.apps", True),
        ("patch", "deployments.apps/scale", True),
        ("patch", "configmaps", True),
        ("list", "nodeclaims.karpenter.sh", True),
        ("delete", "nodeclaims.karpenter.sh", False),
        ("delete", "pods", False),
        ("patch", "nodepools.karpenter.sh", True),
        ("delete", "nodepools.karpenter.sh", True),
        ("watch", "modeldeployments.infercap.dev", True),
        ("patch", "modeldeployments.infercap.dev/status", True),
        ("delete", "modeldeployments.infercap.dev", False),
        ("create", "modelprofiles.infercap.dev", False),
        ("patch", "resourcequotas=infercap", True),  # the quota infercap owns, by name
        ("patch", "resourcequotas=team-quota", False),
        ("delete", "resourcequotas=team-quota", False),
        ("update", "modeldeployments.infercap.dev", False),  # infercap only patches
        ("update", "modeldeployments.infercap.dev/status", False),
        ("update", "nodepools.karpenter.sh", False),
        ("list", "capacitypolicies.infercap.dev", True),
        ("patch", "capacitypolicies.infercap.dev", False),
    ],
)
def test_service_account_rights(cluster: Cluster, installed: None, verb: str, resource: str, allowed: bool) -> None:
    sub = None
    if "/" in resource:
        resource, sub = resource.split("/")
    if "=" in resource:  # a named object (rules limited by resourceNames)
        resource = resource.replace("=", "/")
    args = ["auth", "can-i", verb, resource, "--as", SA, "-A"]
    if sub:
        args += ["--subresource", sub]
    out = cluster.kubectl(*args, check=False).stdout.strip()
    assert out == ("yes" if allowed else "no"), f"{SA} can-i {verb} {resource}: {out}"


def test_operator_runs_with_exactly_the_charts_rbac(
    cluster: Cluster, installed: None, namespace: str, tmp_path: Path
) -> None:
    """The operator, run locally but authenticated as the chart's ServiceAccount, reconciles the examples:
    the ClusterRole is sufficient (and the checks above show it is not wider)."""
    token = cluster.kubectl("create", "token", RELEASE, "-n", NS, "--duration=1h").stdout.strip()
    admin = yaml.safe_load(cluster.kubeconfig.read_text())
    sa_config = {
        **admin,
        "users": [{"name": "sa", "user": {"token": token}}],
        "contexts": [{"name": "sa", "context": {"cluster": admin["clusters"][0]["name"], "user": "sa"}}],
        "current-context": "sa",
    }
    kubeconfig = tmp_path / "sa.kubeconfig"
    kubeconfig.write_text(yaml.safe_dump(sa_config))
    config = tmp_path / "config.yaml"
    config.write_text(
        yaml.safe_dump(
            yaml.safe_load(cluster.get_json("configmap", f"{RELEASE}-config", "-n", NS)["data"]["config.yaml"])
            | {
                "resyncSeconds": 5,
                "gke": {"namespace": "infercap-gke", "clusterRef": {"name": "workload"}, "location": "us-central1"},
                # The local cluster's Karpenter runs the kwok provider: its pools reference KWOKNodeClass.
                "karpenter": {
                    "nodeClassRef": {"group": "karpenter.kwok.sh", "kind": "KWOKNodeClass", "name": "default"}
                },
            }
        )
    )
    op = Operator(cluster, config, tmp_path / "operator.log", free_port(), 0, kubeconfig=kubeconfig)
    try:
        op.start()
        examples = [p for p in sorted((ROOT / "examples").glob("*.yaml")) if "invalid" not in p.name]
        for ex in examples:
            cluster.kubectl("apply", "-n", namespace, "-f", str(ex))
        names = [yaml.safe_load(p.read_text())["metadata"]["name"] for p in examples]

        def all_ready() -> bool:
            items = cluster.get_json("modeldeployments", "-n", namespace)["items"]
            ready = {i["metadata"]["name"] for i in items if (condition(i, "Ready") or {}).get("status") == "True"}
            return set(names) <= ready

        wait_until(all_ready, timeout=120, what="every example Ready under the chart's RBAC")
        cluster.kubectl("delete", "modeldeployments", "--all", "-n", namespace, "--wait=true", "--timeout=60s")
        time.sleep(1)
        text = op.log.read_text()
        assert "403" not in text and "Forbidden" not in text, text[-3000:]
    finally:
        op.stop()


def test_kubectl_plugin(cluster: Cluster) -> None:
    """`kubectl infercap ...` finds the kubectl-infercap entry point on PATH."""
    bindir = Path(sys.executable).parent
    env = {**cluster.env, "PATH": f"{bindir}:{cluster.env['PATH']}"}
    proc = subprocess.run(
        [str(cluster.bindir / "kubectl"), "infercap", "compare", "gpt-5.5", "gemini-3.5-flash", "-o", "json"],
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    assert '"disagreements"' in proc.stdout
    proc = subprocess.run(
        [str(cluster.bindir / "kubectl"), "infercap", "plan", "-f", str(ROOT / "examples" / "llama-3.1-70b.yaml")],
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )
    assert proc.returncode == 0 and "ModelDeployment llama-70b-chat" in proc.stdout


def test_ha_peering_namespace_scope_and_json_logs(
    cluster: Cluster, crds_installed: None, namespace: str, tmp_path: Path
) -> None:
    """The operator as the HA chart runs it for one watched namespace: Kopf peering through the chart's
    KopfPeering in that namespace, JSON logs. A ModelDeployment elsewhere is left alone."""
    import json

    values = tmp_path / "values.yaml"
    values.write_text(
        yaml.safe_dump(
            {"ha": {"enabled": True, "peeringName": "infercap-test"}, "replicaCount": 2, "watchNamespaces": [namespace]}
        )
    )
    docs = render(cluster, values)
    crd = next(d for d in docs if d["kind"] == "CustomResourceDefinition" and d["spec"]["group"] == "kopf.dev")
    cluster.kubectl("apply", "--server-side", "-f", "-", input=yaml.safe_dump(crd))
    cluster.kubectl("wait", "--for=condition=Established", "--timeout=60s", f"crd/{crd['metadata']['name']}")
    obj = next(d for d in docs if d["kind"] == "KopfPeering")
    assert obj["metadata"]["namespace"] == namespace
    cluster.kubectl("apply", "--server-side", "-f", "-", input=yaml.safe_dump(obj))
    other = f"{namespace}-other"
    cluster.kubectl("create", "namespace", other)
    config = tmp_path / "config.yaml"
    # The local Karpenter (kwok provider) reports a pool Ready only with its own NodeClass.
    config.write_text(
        "resyncSeconds: 5\nkarpenter: {nodeClassRef: {group: karpenter.kwok.sh, kind: KWOKNodeClass, name: default}}\n"
    )
    peering = ("--peering", obj["metadata"]["name"], "-n", namespace, "--log-format", "json")
    op = Operator(cluster, config, tmp_path / "operator.log", free_port(), 0, extra_args=peering)
    try:
        op.start()
        traffic = {"requestsPerSecond": 3, "inputTokens": 500, "outputTokens": 100}
        for ns in (namespace, other):
            cluster.kubectl("apply", "-f", "-", input=manifest("scoped", ns, traffic=traffic))

        def ready(ns: str) -> bool:
            return (condition(mdep(cluster, "scoped", ns), "Ready") or {}).get("status") == "True"

        wait_until(lambda: ready(namespace), timeout=90, what="Ready in the watched namespace")
        time.sleep(3)
        peer = cluster.get_json("kopfpeering", obj["metadata"]["name"], "-n", namespace)
        assert peer.get("status"), "the operator announced itself in the peering object"
        lines = [line for line in op.log.read_text().splitlines() if line.strip().startswith("{")]
        records = [json.loads(line) for line in lines]
        assert records, "JSON log lines"
        # Cluster-scoped objects (its own NodePools) have no namespace; every namespaced one is the watched one.
        touched = {r["object"]["namespace"] for r in records if "object" in r and r["object"].get("namespace")}
        # (Another operator of the test session may handle the other namespace; this one must not.)
        assert touched == {namespace}, touched
        cluster.kubectl("delete", "modeldeployment", "scoped", "-n", namespace, "--wait=true", "--timeout=60s")
    finally:
        op.stop()
        cluster.kubectl(
            "patch",
            "modeldeployment",
            "scoped",
            "-n",
            other,
            "--type=merge",
            "-p",
            '{"metadata":{"finalizers":null}}',
            check=False,
        )
        cluster.kubectl("delete", "namespace", other, "--wait=false", check=False)


INFERCAP_CRDS = ("modeldeployments", "modelprofiles", "acceleratorprofiles", "capacitypolicies")


def test_crd_lifecycle_install_upgrade_uninstall(cluster: Cluster, crds_installed: None, tmp_path: Path) -> None:
    """The chart owns the CRDs: it adopts the ones already applied, `helm upgrade` applies a CRD change
    (Helm never upgrades a chart's crds/ directory; templated CRDs it does), and uninstalling keeps them."""
    import shutil

    release, ns = "infercap-lifecycle", "infercap-lifecycle"
    names = [f"{c}.infercap.dev" for c in INFERCAP_CRDS]
    # Adoption, as a platform team moving CRDs applied by hand under the chart would do it.
    for crd in names:
        cluster.kubectl("label", "crd", crd, "app.kubernetes.io/managed-by=Helm", "--overwrite")
        cluster.kubectl(
            "annotate",
            "crd",
            crd,
            f"meta.helm.sh/release-name={release}",
            f"meta.helm.sh/release-namespace={ns}",
            "--overwrite",
        )
    changed = tmp_path / "infercap"
    shutil.copytree(CHART, changed)
    crd_file = changed / "files" / "crds" / "infercap.dev_modeldeployments.yaml"
    crd = yaml.safe_load(crd_file.read_text())
    column = {"name": "Lifecycle", "type": "string", "jsonPath": ".metadata.uid", "priority": 1}
    for version in crd["spec"]["versions"]:
        version["additionalPrinterColumns"] = [*version.get("additionalPrinterColumns", []), column]
    crd_file.write_text(yaml.safe_dump(crd, sort_keys=False))

    def columns() -> list[str]:
        got = cluster.get_json("crd", "modeldeployments.infercap.dev")
        return [c["name"] for c in got["spec"]["versions"][0].get("additionalPrinterColumns", [])]

    # Server-side apply takes the fields kubectl applied: --force-conflicts.
    common = ["--namespace", ns, "--set", "metrics.service.enabled=false", "--force-conflicts"]
    try:
        helm(cluster, "upgrade", "--install", release, str(CHART), "--create-namespace", *common)
        owned = cluster.get_json("crd", names[0])["metadata"]
        assert owned["annotations"]["meta.helm.sh/release-name"] == release
        assert owned["annotations"]["helm.sh/resource-policy"] == "keep"
        assert "Lifecycle" not in columns()
        helm(cluster, "upgrade", release, str(changed), *common)
        assert "Lifecycle" in columns(), "helm upgrade applied the CRD change"
        helm(cluster, "upgrade", release, str(CHART), *common)
        assert "Lifecycle" not in columns(), "and the next upgrade takes it back"
        helm(cluster, "uninstall", release, "--namespace", ns)
        for crd in names:
            assert cluster.kubectl("get", "crd", crd, check=False).returncode == 0, f"{crd} kept on uninstall"
        assert cluster.kubectl("get", "deployment", release, "-n", ns, check=False).returncode != 0
    finally:
        helm(cluster, "uninstall", release, "--namespace", ns, check=False)
        for crd in names:
            for key in ("meta.helm.sh/release-name", "meta.helm.sh/release-namespace", "helm.sh/resource-policy"):
                cluster.kubectl("annotate", "crd", crd, f"{key}-", check=False)
        # Back to exactly what the rest of the session applied.
        cluster.kubectl("apply", "--server-side", "--force-conflicts", "-f", str(ROOT / "crds"))
        cluster.kubectl("delete", "namespace", ns, "--wait=false", check=False)


def test_works_as_a_subchart(cluster: Cluster, tmp_path: Path) -> None:
    """A platform chart that depends on infercap: lint, render with `global` and the subchart's values
    under `infercap:`, and a server-side dry-run of what it renders."""
    parent = tmp_path / "platform"
    (parent / "templates").mkdir(parents=True)
    # The parent's own template reads a global value, as platform charts do.
    (parent / "templates" / "cluster.yaml").write_text(
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: platform-cluster\n"
        "data:\n  cluster: {{ .Values.global.clusterName | quote }}\n"
    )
    (parent / "Chart.yaml").write_text(
        yaml.safe_dump(
            {
                "apiVersion": "v2",
                "name": "platform",
                "version": "1.0.0",
                "dependencies": [{"name": "infercap", "version": "0.1.0", "repository": f"file://{CHART}"}],
            }
        )
    )
    (parent / "values.yaml").write_text(
        yaml.safe_dump(
            {
                "global": {"imageRegistry": "registry.example.com", "clusterName": "prod-eu"},
                "infercap": {"fullnameOverride": "platform-infercap", "crds": {"install": False}},
            }
        )
    )
    helm(cluster, "dependency", "build", str(parent))
    helm(cluster, "lint", "--strict", str(parent))
    proc = helm(cluster, "template", "platform", str(parent), "--namespace", NS)
    docs = [d for d in yaml.safe_load_all(proc.stdout) if d]
    deployment = next(d for d in docs if d["kind"] == "Deployment")
    assert deployment["metadata"]["name"] == "platform-infercap"
    assert not [d for d in docs if d["kind"] == "CustomResourceDefinition"]
    if cluster.kubectl("get", "namespace", NS, check=False).returncode != 0:
        cluster.kubectl("create", "namespace", NS)
    cluster.kubectl("apply", "--dry-run=server", "-f", "-", input=yaml.safe_dump_all(docs))
