#!/usr/bin/env bash
# The main job in one command (`make demo`): a local control plane, infercap's CRDs, the operator, the
# examples, and then `kubectl get mdep` with costs, the node pools and the quota.
#   hack/demo.sh          start (idempotent)
#   hack/demo.sh down     stop the operator and the control plane
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
state=.cache/demo
ns=infercap-demo
mkdir -p "$state"
py=${VENV:-.venv}/bin/python

stop_operator() {
  if [ -f "$state/operator.pid" ] && kill -0 "$(cat "$state/operator.pid")" 2>/dev/null; then
    kill "$(cat "$state/operator.pid")" && sleep 1
  fi
  rm -f "$state/operator.pid"
}

if [ "${1:-}" = "down" ]; then
  if hack/cluster status >/dev/null 2>&1; then
    eval "$(hack/cluster env 2>/dev/null)"
    # Delete the ModelDeployments while the operator still runs, so its finalizer can clean up.
    kubectl delete modeldeployments --all -n "$ns" --wait=true --timeout=60s >/dev/null 2>&1 || true
  fi
  stop_operator
  hack/cluster down
  exit 0
fi

step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }

step "local control plane (etcd, kube-apiserver, kube-controller-manager, kube-scheduler v1.36.3, kwok v0.8.0, Karpenter v1.14.1; first run builds them)"
eval "$(hack/cluster up)"

step "infercap CRDs"
kubectl apply --server-side --force-conflicts -f crds/
kubectl wait --for=condition=Established --timeout=60s crd -l app.kubernetes.io/name=infercap
for n in "$ns" infercap-capi infercap-gke; do
  kubectl get namespace "$n" >/dev/null 2>&1 || kubectl create namespace "$n"
done

step "operator (infercap run, log: $state/operator.log)"
stop_operator
setsid "$py" -m infercap run --config hack/demo/config.yaml --liveness http://127.0.0.1:18080/healthz \
  >"$state/operator.log" 2>&1 < /dev/null &
echo $! > "$state/operator.pid"
for _ in $(seq 1 60); do
  curl -fs http://127.0.0.1:18080/healthz >/dev/null 2>&1 && break
  kill -0 "$(cat "$state/operator.pid")" 2>/dev/null || { tail -20 "$state/operator.log"; exit 1; }
  sleep 0.5
done
echo "operator running (pid $(cat "$state/operator.pid"))"

step "examples"
for f in examples/*.yaml; do
  case "$f" in
    *invalid*) echo "\$ kubectl apply -f $f   (deliberately invalid)"
               kubectl apply -n "$ns" -f "$f" 2>&1 | sed 's/^/  /' || true ;;
    *) kubectl apply -n "$ns" -f "$f" ;;
  esac
done
kubectl wait --for=condition=Ready modeldeployments --all -n "$ns" --timeout=120s >/dev/null
sleep 2  # the operator re-sums the namespace quota a second after the last plan changed

# The examples with spec.serving run model servers: wait until Karpenter's nodes carry them.
for md in $(kubectl get mdep -n "$ns" -o jsonpath='{range .items[?(@.spec.serving)]}{.metadata.name}{" "}{end}'); do
  kubectl wait --for=condition=Serving "mdep/$md" -n "$ns" --timeout=180s >/dev/null
done

step "kubectl get nodes (launched by Karpenter for the serving workloads, simulated by kwok)"
kubectl get nodes -o custom-columns='NAME:.metadata.name,POOL:.metadata.labels.karpenter\.sh/nodepool,INSTANCE-TYPE:.metadata.labels.node\.kubernetes\.io/instance-type,ZONE:.metadata.labels.topology\.kubernetes\.io/zone,GPUS:.status.allocatable.nvidia\.com/gpu,NEURON:.status.allocatable.aws\.amazon\.com/neuron,READY:.status.conditions[?(@.type=="Ready")].status'

step "kubectl get pods -n $ns (the serving workloads)"
kubectl get pods -n "$ns" -o wide

step "kubectl get mdep -n $ns -o wide"
kubectl get mdep -n "$ns" -o wide

step "node pools and their cost annotations"
cols='KIND:.kind,NAME:.metadata.name,OWNER:.metadata.annotations.infercap\.dev/owner,COST/HOUR:.metadata.annotations.infercap\.dev/cost-hourly,COST/MONTH:.metadata.annotations.infercap\.dev/cost-monthly'
kubectl get nodepools.karpenter.sh -o custom-columns="$cols,GPU-LIMIT:.spec.limits"
kubectl get containernodepools.container.cnrm.cloud.google.com -n infercap-gke -o custom-columns="$cols,NODES:.spec.nodeCount,MACHINE:.spec.nodeConfig.machineType"

step "quota of namespace $ns"
kubectl get resourcequota infercap -n "$ns" \
  -o custom-columns='NAME:.metadata.name,HARD:.spec.hard,COST/MONTH:.metadata.annotations.infercap\.dev/cost-monthly'

cat <<TXT

Try it:
  eval "\$(hack/cluster env)"
  kubectl describe mdep llama-70b-chat -n $ns          # plan, explanation, conditions, events
  kubectl patch mdep llama-70b-chat -n $ns --type=merge -p '{"spec":{"traffic":{"requestsPerSecond":120}}}'
  kubectl get mdep -n $ns -w                           # watch the plan and cost move
  make demo-down                                       # stop everything
TXT
