"""Manifests of the serving workload of one ModelDeployment: a Deployment when a replica fits one node,
a LeaderWorkerSet (one group of `nodes per replica` pods) when it spans nodes, a Service on the serving
pods and a PodDisruptionBudget. Pure: the same plan and spec give the same manifests.

The workload is named per accelerator, so a re-plan onto another accelerator brings a new workload up
next to the old one (make-before-break); the Service and the PodDisruptionBudget select every serving
pod of the ModelDeployment, old and new.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from infercap.api.serving import Engine, Serving
from infercap.providers import (
    ACCELERATOR,
    MANAGED_BY,
    MANAGER,
    MODEL_DEPLOYMENT,
    OWNER_UID,
    Owner,
    deployment_label,
    dns_name,
)
from infercap.workloads.engines import TRTLLM_OPTIONS, Command, commands, trtllm_options
from infercap.workloads.plan import ServingPlan

SERVING = "infercap.dev/serving"  # pod label: the ModelDeployment's name
SERVES = "infercap.dev/serves-http"  # "true" on pods that serve HTTP (not LeaderWorkerSet workers)
LWS_API = "leaderworkerset.x-k8s.io/v1"
MODEL_DIR = "/models"
# Host resources per accelerator chip that a serving pod requests (the kwok and cloud GPU instances
# have far more); limits stay unset so a loading engine can use what the node has spare.
CPU_PER_CHIP = 4
MEMORY_GIB_PER_CHIP = 32
SHM_GIB = 16


@dataclass(frozen=True)
class WorkloadRequest:
    """Everything the renderers need for one ModelDeployment."""

    owner: Owner
    serving: Serving
    plan: ServingPlan
    served_model_name: str
    surge: int = 1  # extra replicas a rollout may start (0: replace in place, one at a time)
    annotations: dict[str, str] = field(default_factory=dict)  # cost annotations, like every child


def workload_name(owner: Owner, accelerator: str) -> str:
    return dns_name(owner.name, accelerator)


def owner_reference(owner: Owner, api_version: str) -> dict[str, Any]:
    return {
        "apiVersion": api_version,
        "kind": "ModelDeployment",
        "name": owner.name,
        "uid": owner.uid,
        "controller": True,
        "blockOwnerDeletion": True,
    }


def _meta(req: WorkloadRequest, name: str, owner_api: str) -> dict[str, Any]:
    return {
        "name": name,
        "namespace": req.owner.namespace,
        "labels": {
            MANAGED_BY: MANAGER,
            OWNER_UID: req.owner.uid,
            ACCELERATOR: req.plan.accelerator,
            "app.kubernetes.io/name": req.owner.name,
            "app.kubernetes.io/component": "model-server",
        },
        "annotations": dict(req.annotations),
        "ownerReferences": [owner_reference(req.owner, owner_api)],
    }


def _model_arg(serving: Serving) -> str:
    m = serving.model
    if m.hugging_face:
        return m.hugging_face
    if m.uri:
        return m.uri
    assert m.pvc is not None
    return f"{MODEL_DIR}/{m.pvc.path.strip('/')}".rstrip("/")


def _env(req: WorkloadRequest) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for e in req.serving.env:
        if e.secret_name is not None:
            out.append({"name": e.name, "valueFrom": {"secretKeyRef": {"name": e.secret_name, "key": e.secret_key}}})
        else:
            out.append({"name": e.name, "value": e.value or ""})
    return out


def _probes(req: WorkloadRequest) -> dict[str, Any]:
    """Startup allows the whole model load; readiness gates traffic; liveness restarts a hung engine."""
    get = {"path": "/health", "port": "http"}
    period = 10
    return {
        "startupProbe": {
            "httpGet": get,
            "periodSeconds": period,
            "failureThreshold": max(1, req.serving.model_load_seconds // period),
        },
        "readinessProbe": {"httpGet": get, "periodSeconds": 5, "failureThreshold": 3},
        "livenessProbe": {"httpGet": get, "periodSeconds": 10, "failureThreshold": 6, "timeoutSeconds": 5},
    }


def _pod_spec(req: WorkloadRequest, cmd: Command, serves: bool, config_map: str | None) -> dict[str, Any]:
    sp = req.plan
    chips = sp.chips_per_pod
    container: dict[str, Any] = {
        "name": "engine",
        "image": req.serving.resolved_image,
        "command": cmd.command,
        "args": cmd.args,
        "env": _env(req),
        "ports": [{"name": "http", "containerPort": req.serving.port, "protocol": "TCP"}],
        "resources": {
            "requests": {
                sp.resource_name: str(chips),
                "cpu": str(CPU_PER_CHIP * chips),
                "memory": f"{MEMORY_GIB_PER_CHIP * chips}Gi",
            },
            "limits": {sp.resource_name: str(chips)},
        },
        "volumeMounts": [{"name": "shm", "mountPath": "/dev/shm"}],
    }
    if not container["args"]:
        del container["args"]
    if not container["env"]:
        del container["env"]
    if serves:
        container.update(_probes(req))
    volumes: list[dict[str, Any]] = [{"name": "shm", "emptyDir": {"medium": "Memory", "sizeLimit": f"{SHM_GIB}Gi"}}]
    pvc = req.serving.model.pvc
    if pvc is not None:
        volumes.append({"name": "model", "persistentVolumeClaim": {"claimName": pvc.claim_name, "readOnly": True}})
        container["volumeMounts"].append({"name": "model", "mountPath": MODEL_DIR, "readOnly": True})
    if config_map is not None:
        volumes.append({"name": "engine-config", "configMap": {"name": config_map}})
        container["volumeMounts"].append(
            {"name": "engine-config", "mountPath": TRTLLM_OPTIONS.rsplit("/", 1)[0], "readOnly": True}
        )
    return {
        # The planned pool's nodes only, and its accelerator taint tolerated.
        "nodeSelector": {MODEL_DEPLOYMENT: deployment_label(req.owner), ACCELERATOR: sp.accelerator},
        "tolerations": [{"key": sp.resource_name, "operator": "Exists", "effect": "NoSchedule"}],
        "terminationGracePeriodSeconds": 60,
        "containers": [container],
        "volumes": volumes,
    }


def _pod_labels(req: WorkloadRequest, serves: bool) -> dict[str, str]:
    return {
        SERVING: req.owner.name,
        ACCELERATOR: req.plan.accelerator,
        SERVES: "true" if serves else "false",
        MANAGED_BY: MANAGER,
    }


def config_map(req: WorkloadRequest, owner_api: str) -> dict[str, Any] | None:
    """TensorRT-LLM's extra LLM API options (KV-cache dtype and fraction, attention DP)."""
    if req.serving.engine != Engine.TRTLLM:
        return None
    name = dns_name(workload_name(req.owner, req.plan.accelerator), "engine")
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": _meta(req, name, owner_api),
        "data": {TRTLLM_OPTIONS.rsplit("/", 1)[1]: trtllm_options(req.plan)},
    }


def workload(req: WorkloadRequest, owner_api: str) -> dict[str, Any]:
    """The Deployment or LeaderWorkerSet for this plan."""
    sp = req.plan
    name = workload_name(req.owner, sp.accelerator)
    cm = config_map(req, owner_api)
    cm_name = cm["metadata"]["name"] if cm else None
    cmds = commands(
        req.serving.engine, sp, _model_arg(req.serving), req.served_model_name, req.serving.port, req.serving.args
    )
    # Without surge a rollout replaces one replica at a time: no spare accelerators, one replica less
    # while it runs. With surge it starts the new replica first (the quota allows for it).
    surge = {"maxSurge": req.surge, "maxUnavailable": 0} if req.surge else {"maxSurge": 0, "maxUnavailable": 1}
    if sp.nodes_per_replica == 1:
        labels = _pod_labels(req, serves=True)
        selector = {SERVING: labels[SERVING], ACCELERATOR: labels[ACCELERATOR]}
        return {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": _meta(req, name, owner_api),
            "spec": {
                "replicas": sp.replicas,
                "selector": {"matchLabels": selector},
                "strategy": {"type": "RollingUpdate", "rollingUpdate": surge},
                "template": {"metadata": {"labels": labels}, "spec": _pod_spec(req, cmds["server"], True, cm_name)},
            },
        }
    return {
        "apiVersion": LWS_API,
        "kind": "LeaderWorkerSet",
        "metadata": _meta(req, name, owner_api),
        "spec": {
            "replicas": sp.replicas,
            "startupPolicy": "LeaderCreated",
            "rolloutStrategy": {"type": "RollingUpdate", "rollingUpdateConfiguration": surge},
            "leaderWorkerTemplate": {
                "size": sp.nodes_per_replica,
                # A replica is one engine across its pods: any pod restarting restarts the group.
                "restartPolicy": "RecreateGroupOnPodRestart",
                "leaderTemplate": {
                    "metadata": {"labels": _pod_labels(req, serves=True)},
                    "spec": _pod_spec(req, cmds["leader"], True, cm_name),
                },
                "workerTemplate": {
                    "metadata": {"labels": _pod_labels(req, serves=False)},
                    "spec": _pod_spec(req, cmds["worker"], False, cm_name),
                },
            },
        },
    }


def service(req: WorkloadRequest, owner_api: str) -> dict[str, Any]:
    """One Service per ModelDeployment on every pod that serves HTTP, whatever its accelerator."""
    meta = _meta(req, req.owner.name, owner_api)
    meta["labels"].pop(ACCELERATOR)
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": meta,
        "spec": {
            "selector": {SERVING: req.owner.name, SERVES: "true"},
            "ports": [{"name": "http", "port": req.serving.port, "targetPort": "http", "protocol": "TCP"}],
        },
    }


def disruption_budget(req: WorkloadRequest, owner_api: str) -> dict[str, Any]:
    """Voluntary disruptions (drains, consolidation) take one serving pod at a time."""
    meta = _meta(req, req.owner.name, owner_api)
    meta["labels"].pop(ACCELERATOR)
    return {
        "apiVersion": "policy/v1",
        "kind": "PodDisruptionBudget",
        "metadata": meta,
        "spec": {"maxUnavailable": 1, "selector": {"matchLabels": {SERVING: req.owner.name}}},
    }


def render(req: WorkloadRequest, owner_api: str) -> list[dict[str, Any]]:
    """Every manifest of the serving workload, in apply order."""
    out = [m for m in (config_map(req, owner_api),) if m is not None]
    return [*out, workload(req, owner_api), service(req, owner_api), disruption_budget(req, owner_api)]
