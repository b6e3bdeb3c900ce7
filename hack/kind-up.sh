#!/usr/bin/env bash
# For people with Docker: a kind cluster with the same third-party CRDs hack/cluster installs.
# (These development machines have no Docker engine; hack/cluster runs the control plane without it.)
#   hack/kind-up.sh [cluster-name]       then: kubectl apply --server-side -f crds/ && infercap run
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
name=${1:-infercap}
command -v kind >/dev/null || { echo "kind is not installed: https://kind.sigs.k8s.io/docs/user/quick-start/" >&2; exit 1; }
command -v kubectl >/dev/null || { echo "kubectl is not installed" >&2; exit 1; }
if ! kind get clusters 2>/dev/null | grep -qx "$name"; then
  kind create cluster --name "$name" --image kindest/node:v1.36.3
fi
ctx="kind-$name"
# Karpenter's CRDs, printed from the Go packages that embed them (needs Go), plus the upstream Cluster API,
# Config Connector, LeaderWorkerSet and Prometheus-operator CRDs in hack/crds/ (pinned in hack/crds/SOURCES).
karpenter=$(mktemp)
trap 'rm -f "$karpenter"' EXIT
(cd "$here/crds-bin" && GOFLAGS=-mod=readonly go run .) > "$karpenter"
kubectl --context "$ctx" apply --server-side -f "$karpenter" -f "$here/crds/"
kubectl --context "$ctx" wait --for=condition=Established --timeout=60s \
  crd/nodepools.karpenter.sh crd/machinedeployments.cluster.x-k8s.io \
  crd/containernodepools.container.cnrm.cloud.google.com crd/leaderworkersets.leaderworkerset.x-k8s.io \
  crd/servicemonitors.monitoring.coreos.com crd/prometheusrules.monitoring.coreos.com
echo "kind cluster $name is ready: kubectl --context $ctx get crd"
