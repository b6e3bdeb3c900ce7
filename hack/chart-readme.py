#!/usr/bin/env python3
"""Generates charts/infercap/README.md from the `# --` comments in values.yaml (helm-docs style).

hack/chart-readme.py           write the README
hack/chart-readme.py --check   exit 1 if the README is stale
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path
from typing import Any

import yaml

CHART = Path(__file__).resolve().parent.parent / "charts" / "infercap"

HEADER = """# infercap Helm chart

Installs the infercap operator: model-aware inference capacity for Kubernetes. It plans GPU/TPU node
pools, quotas and cost from each `ModelDeployment` (model + traffic) and reconciles them.

```sh
helm install infercap charts/infercap -n infercap-system --create-namespace
kubectl get mdep -A -o wide
```

The chart installs the CRDs (generated from the operator's models into `files/crds/`), a ServiceAccount
with a least-privilege ClusterRole (explicit resources and verbs, no Secrets), aggregated ClusterRoles that
let namespace admins edit and viewers read ModelDeployments, the operator Deployment (non-root, read-only
root file system, no capabilities, RuntimeDefault seccomp, liveness and readiness probes, optional
priority class and topology spread), a PodDisruptionBudget, its configuration, a metrics Service and,
optionally, a ServiceMonitor (relabelings, TLS), a PrometheusRule with alerts, a Grafana dashboard, Kopf
peering for high availability and catalog entries as ModelProfile/AcceleratorProfile objects.

### CRD upgrades

Helm installs files under a chart's `crds/` once and never upgrades them, so infercap's CRDs are
templates (as KEDA does): `helm upgrade` applies CRD changes. They carry `helm.sh/resource-policy: keep`
(`crds.keep`), so `helm uninstall` leaves the CRDs and every ModelDeployment in place. To manage CRDs
yourself (GitOps, `kubectl apply --server-side -f crds/`), set `crds.install=false`. CRDs applied before
the chart managed them are adopted after labelling them for the release:

```sh
for crd in modeldeployments modelprofiles acceleratorprofiles; do
  kubectl label crd $crd.infercap.dev app.kubernetes.io/managed-by=Helm --overwrite
  kubectl annotate crd $crd.infercap.dev --overwrite \\
    meta.helm.sh/release-name=infercap meta.helm.sh/release-namespace=infercap-system
done
```

### As a subchart

The values schema admits `global`, and `nameOverride`/`fullnameOverride` set the resource names: list
infercap under `dependencies` in the parent's Chart.yaml and put its values under `infercap:`.

Delete ModelDeployments before uninstalling: their finalizer needs the operator to clean up node pools.

## Values

Generated from `values.yaml` by `hack/chart-readme.py`.

| Key | Type | Default | Description |
| --- | --- | --- | --- |
"""


def entries(text: str) -> list[tuple[str, str]]:
    """(dotted key, description) for every key with a `# --` comment above it."""
    out: list[tuple[str, str]] = []
    stack: list[tuple[int, str]] = []
    pending: list[str] = []
    for line in text.splitlines():
        stripped = line.strip()
        if stripped.startswith("# --"):
            pending = [stripped[4:].strip()]
            continue
        if stripped.startswith("#") and pending:
            pending.append(stripped[1:].strip())
            continue
        m = re.match(r"^(\s*)([A-Za-z0-9_]+):", line)
        if not m:
            continue
        indent = len(m.group(1))
        while stack and stack[-1][0] >= indent:
            stack.pop()
        stack.append((indent, m.group(2)))
        if pending:
            out.append((".".join(k for _, k in stack), " ".join(pending)))
            pending = []
    return out


def value_at(values: dict[str, Any], key: str) -> Any:
    node: Any = values
    for part in key.split("."):
        node = node[part]
    return node


def render() -> str:
    text = (CHART / "values.yaml").read_text()
    values = yaml.safe_load(text)
    rows = []
    for key, desc in entries(text):
        v = value_at(values, key)
        kind = {dict: "object", list: "list", bool: "bool", int: "int", float: "float", str: "string"}.get(
            type(v), type(v).__name__
        )
        default = json.dumps(v, separators=(",", ":"))
        rows.append(f"| `{key}` | {kind} | `{default}` | {desc.replace('|', '/')} |")
    return HEADER + "\n".join(rows) + "\n"


def main() -> int:
    readme = CHART / "README.md"
    content = render()
    if "--check" in sys.argv:
        if not readme.exists() or readme.read_text() != content:
            print("charts/infercap/README.md is stale: run hack/chart-readme.py", file=sys.stderr)
            return 1
        return 0
    readme.write_text(content)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
