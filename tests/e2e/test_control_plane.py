"""Smoke test of the local control plane itself (hack/cluster): the API server validates and stores,
server-side apply works, the controller-manager runs (namespaces disappear, default service accounts
appear), and the third-party CRDs are structural and established."""

from __future__ import annotations

import time

import pytest

from tests.e2e.conftest import Cluster

pytestmark = pytest.mark.cluster

THIRD_PARTY = [
    "nodepools.karpenter.sh",
    "machinedeployments.cluster.x-k8s.io",
    "containernodepools.container.cnrm.cloud.google.com",
]


def test_server_version(cluster: Cluster) -> None:
    out = cluster.kubectl("version", "-o", "json").stdout
    assert '"gitVersion": "v1.36.3"' in out


@pytest.mark.parametrize("crd", THIRD_PARTY)
def test_third_party_crds_are_established_and_structural(cluster: Cluster, crd: str) -> None:
    obj = cluster.get_json("crd", crd)
    conditions = {c["type"]: c["status"] for c in obj["status"]["conditions"]}
    assert conditions.get("Established") == "True"
    assert conditions.get("NonStructuralSchema", "False") == "False"


def test_server_side_apply_round_trip(cluster: Cluster, namespace: str) -> None:
    manifest = f"""
apiVersion: v1
kind: ConfigMap
metadata: {{name: smoke, namespace: {namespace}, labels: {{app: smoke}}}}
data: {{answer: "42"}}
"""
    cluster.kubectl("apply", "--server-side", "--field-manager=smoke-test", "-f", "-", input=manifest)
    cm = cluster.get_json("configmap", "smoke", "-n", namespace, "--show-managed-fields")
    assert cm["data"] == {"answer": "42"}
    managers = {m["manager"] for m in cm["metadata"]["managedFields"]}
    assert "smoke-test" in managers


def test_karpenter_nodepool_schema_is_enforced(cluster: Cluster) -> None:
    bad = """
apiVersion: karpenter.sh/v1
kind: NodePool
metadata: {name: smoke-invalid}
spec:
  template:
    spec:
      nodeClassRef: {group: karpenter.k8s.aws, kind: EC2NodeClass, name: default}
      requirements: [{key: karpenter.sh/capacity-type, operator: Sideways, values: [spot]}]
"""
    proc = cluster.kubectl("apply", "--server-side", "-f", "-", input=bad, check=False)
    assert proc.returncode != 0 and "operator" in proc.stderr


def test_controller_manager_deletes_namespaces(cluster: Cluster) -> None:
    cluster.kubectl("create", "namespace", "smoke-gone")
    # The service-account controller creates the default ServiceAccount.
    deadline = time.monotonic() + 30
    while cluster.kubectl("get", "serviceaccount", "default", "-n", "smoke-gone", check=False).returncode != 0:
        assert time.monotonic() < deadline, "no default ServiceAccount: kube-controller-manager is not working"
        time.sleep(0.5)
    cluster.kubectl("delete", "namespace", "smoke-gone", "--wait=true", "--timeout=60s")
    assert cluster.kubectl("get", "namespace", "smoke-gone", check=False).returncode != 0
