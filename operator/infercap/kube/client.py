"""A small async facade over lightkube: get, list, server-side apply, delete and status patches of
plain dict manifests, for the kinds infercap reads and writes."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import httpx2
from lightkube import ApiError, AsyncClient, KubeConfig, codecs
from lightkube.config.client_adapter import verify_cluster
from lightkube.config.kubeconfig import SingleConfig
from lightkube.core.resource import NamespacedResource, Resource
from lightkube.generic_resource import create_global_resource, create_namespaced_resource
from lightkube.resources.apps_v1 import Deployment, StatefulSet
from lightkube.resources.autoscaling_v2 import HorizontalPodAutoscaler
from lightkube.resources.core_v1 import ConfigMap, Node, Pod, ResourceQuota, Secret, Service
from lightkube.resources.policy_v1 import PodDisruptionBudget
from lightkube.types import PatchType

from infercap.api.errors import ReasonedError
from infercap.kube.applied import AppliedMemo

FIELD_MANAGER = "infercap"

# The operator's connections to the API server. httpx's defaults keep 20 of its 100 alive, so beyond 20
# requests in flight every request opened and closed a TLS connection (a handshake on both sides); and a
# request waiting over 30 s for a free connection failed with PoolTimeout, which retried the whole
# reconcile (4,388 such failures at 2,000 ModelDeployments created at once). All 100 now stay open, and a
# request waits its turn for one (the API server, not this pool, is what is slow then); connecting,
# reading and writing still time out after 30 s.
POOL_LIMITS = httpx2.Limits(max_connections=100, max_keepalive_connections=100)
TIMEOUT = httpx2.Timeout(30.0, pool=None)

# (apiVersion, kind) -> lightkube resource class. Creating a generic resource also registers it, so
# codecs.from_dict understands manifests of these kinds.
_KINDS: dict[tuple[str, str], type[Resource]] = {
    ("v1", "ResourceQuota"): ResourceQuota,
    ("v1", "Secret"): Secret,  # read only: auth of the configured Prometheus sources
    # The serving workload and what it runs on (infercap.workloads, infercap.reconcile.observe).
    ("apps/v1", "Deployment"): Deployment,
    ("apps/v1", "StatefulSet"): StatefulSet,
    ("v1", "Service"): Service,
    ("v1", "ConfigMap"): ConfigMap,
    ("v1", "Node"): Node,
    ("v1", "Pod"): Pod,
    ("policy/v1", "PodDisruptionBudget"): PodDisruptionBudget,
    ("leaderworkerset.x-k8s.io/v1", "LeaderWorkerSet"): create_namespaced_resource(
        "leaderworkerset.x-k8s.io", "v1", "LeaderWorkerSet", "leaderworkersets"
    ),
    ("karpenter.sh/v1", "NodeClaim"): create_global_resource("karpenter.sh", "v1", "NodeClaim", "nodeclaims"),
    # Other scalers of a spec.scaleTargetRef, which infercap stands aside for.
    ("autoscaling/v2", "HorizontalPodAutoscaler"): HorizontalPodAutoscaler,
    ("keda.sh/v1alpha1", "ScaledObject"): create_namespaced_resource(
        "keda.sh", "v1alpha1", "ScaledObject", "scaledobjects"
    ),
    ("infercap.dev/v1alpha1", "ModelDeployment"): create_namespaced_resource(
        "infercap.dev", "v1alpha1", "ModelDeployment", "modeldeployments"
    ),
    ("infercap.dev/v1alpha1", "ModelProfile"): create_global_resource(
        "infercap.dev", "v1alpha1", "ModelProfile", "modelprofiles"
    ),
    ("infercap.dev/v1alpha1", "AcceleratorProfile"): create_global_resource(
        "infercap.dev", "v1alpha1", "AcceleratorProfile", "acceleratorprofiles"
    ),
    ("infercap.dev/v1alpha1", "CapacityPolicy"): create_global_resource(
        "infercap.dev", "v1alpha1", "CapacityPolicy", "capacitypolicies"
    ),
}


def register_kind(api_version: str, kind: str, plural: str, namespaced: bool) -> None:
    """Make a kind known to the client (node-pool kinds come from the provider registry, so this module
    repeats none of them). Idempotent."""
    if (api_version, kind) in _KINDS:
        return
    group, _, version = api_version.rpartition("/")
    make = create_namespaced_resource if namespaced else create_global_resource
    _KINDS[(api_version, kind)] = make(group, version, kind, plural)


def api_client(config: SingleConfig | None = None) -> AsyncClient:
    """lightkube's client for `config` (default: as lightkube finds it, in-cluster or KUBECONFIG) with
    POOL_LIMITS: lightkube takes no limits, only a transport, so the transport is built here with the TLS
    settings lightkube would give it."""
    config = config or KubeConfig.from_env().get()
    assert config is not None and config.user is not None, "a kubeconfig context with a user"
    verify = verify_cluster(config.cluster, config.user, config.abs_file)
    transport = httpx2.AsyncHTTPTransport(verify=verify, limits=POOL_LIMITS)
    return AsyncClient(config=config, field_manager=FIELD_MANAGER, timeout=TIMEOUT, transport=transport)


class KubeError(ReasonedError):
    """An API call failed; `reason` is the API status reason (PascalCase), `code` the HTTP status."""

    def __init__(self, reason: str, message: str, code: int = 0) -> None:
        super().__init__(reason, message)
        self.code = code


def _res(api_version: str, kind: str) -> Any:
    # Any: lightkube's overloads tell namespaced and global resources apart by type, ours by table.
    try:
        return _KINDS[(api_version, kind)]
    except KeyError:
        raise KubeError("UnknownKind", f"infercap does not manage {kind} ({api_version})") from None


def scale_target(api_version: str, kind: str) -> None:
    """Make a spec.scaleTargetRef kind known: any namespaced kind with a scale subresource, its plural
    taken as the lower-cased kind plus "s" (Deployment, StatefulSet, LeaderWorkerSet, InferenceService)."""
    if (api_version, kind) in _KINDS:
        return
    group, _, version = api_version.rpartition("/")
    _KINDS[(api_version, kind)] = create_namespaced_resource(group, version, kind, kind.lower() + "s")


def _namespaced(res: Any) -> bool:
    return issubclass(res, NamespacedResource)


def _dict(obj: Any) -> dict[str, Any]:
    return dict(obj.to_dict()) if hasattr(obj, "to_dict") else dict(codecs.to_dict(obj))  # type: ignore[attr-defined]


def _error(e: ApiError) -> KubeError:
    status = e.status
    return KubeError(status.reason or "ApiError", status.message or str(e), status.code or 0)


def _transport(e: httpx2.HTTPError) -> KubeError:
    # The API server restarting or unreachable: a KubeError like any other (code 0, retried in seconds by
    # the handlers), not a traceback from deep inside the HTTP client.
    return KubeError("ServiceUnavailable", f"API server unreachable ({type(e).__name__})", 0)


class Kube:
    """Async API access for the operator. One instance per process."""

    def __init__(self, client: AsyncClient | None = None) -> None:
        self.client = client or api_client()
        self.applied = AppliedMemo()

    async def close(self) -> None:
        await self.client.close()

    async def get(self, api_version: str, kind: str, name: str, namespace: str | None = None) -> dict[str, Any] | None:
        try:
            return _dict(await self.client.get(_res(api_version, kind), name, namespace=namespace))
        except ApiError as e:
            if e.status.code == 404:
                return None
            raise _error(e) from None
        except httpx2.TransportError as e:
            raise _transport(e) from None
        except httpx2.HTTPStatusError as e:
            if e.response.status_code == 404:  # the API group is not served (its CRD is not installed)
                return None
            raise KubeError("ApiError", str(e), e.response.status_code) from None

    async def list(
        self, api_version: str, kind: str, namespace: str | None = None, labels: Mapping[str, str] | None = None
    ) -> list[dict[str, Any]]:
        res = _res(api_version, kind)
        kwargs: dict[str, Any] = {"labels": dict(labels)} if labels else {}
        if _namespaced(res):
            kwargs["namespace"] = namespace if namespace is not None else "*"
        try:
            return [_dict(o) async for o in self.client.list(res, **kwargs)]
        except ApiError as e:
            if e.status.code == 404:  # the CRD is not installed
                return []
            raise _error(e) from None
        except httpx2.TransportError as e:
            raise _transport(e) from None
        except httpx2.HTTPStatusError as e:
            if e.response.status_code == 404:  # the whole API group is absent (e.g. no KEDA)
                return []
            raise KubeError("ApiError", str(e), e.response.status_code) from None

    async def apply(self, manifest: dict[str, Any]) -> dict[str, Any]:
        """Server-side apply under infercap's field manager (only the fields in `manifest`)."""
        _res(manifest["apiVersion"], manifest["kind"])
        obj = codecs.from_dict(manifest)
        try:
            return _dict(await self.client.apply(obj, field_manager=FIELD_MANAGER, force=True))
        except ApiError as e:
            raise _error(e) from None
        except httpx2.TransportError as e:
            raise _transport(e) from None

    async def apply_if_changed(self, manifest: dict[str, Any], existing: dict[str, Any] | None) -> dict[str, Any]:
        """Apply `manifest` unless this process applied the same to `existing` and nobody changed it since
        (kube/applied.py). Returns the object as it now is (`existing`, or what the API server answered)."""
        if existing is not None and self.applied.unchanged(manifest, existing):
            return existing
        result = await self.apply(manifest)
        self.applied.note(manifest, result)
        return result

    async def delete(self, api_version: str, kind: str, name: str, namespace: str | None = None) -> bool:
        self.applied.forget(api_version, kind, name, namespace)
        try:
            await self.client.delete(_res(api_version, kind), name, namespace=namespace)
            return True
        except ApiError as e:
            if e.status.code == 404:
                return False
            raise _error(e) from None
        except httpx2.TransportError as e:
            raise _transport(e) from None

    async def annotate(
        self, api_version: str, kind: str, name: str, namespace: str | None, annotations: dict[str, str | None]
    ) -> None:
        """Merge these annotations into the object's metadata (None removes a key)."""
        try:
            await self.client.patch(
                _res(api_version, kind),
                name,
                {"metadata": {"annotations": annotations}},
                namespace=namespace,
                patch_type=PatchType.MERGE,
            )
        except ApiError as e:
            raise _error(e) from None
        except httpx2.TransportError as e:
            raise _transport(e) from None

    async def set_replicas(self, api_version: str, kind: str, name: str, namespace: str, replicas: int) -> None:
        """Set replicas through the scale subresource, nothing else of the object."""
        try:
            await self.client.patch(
                _res(api_version, kind).Scale,
                name,
                {"spec": {"replicas": replicas}},
                namespace=namespace,
                patch_type=PatchType.MERGE,
            )
        except ApiError as e:
            raise _error(e) from None

    async def patch_status(
        self, api_version: str, kind: str, name: str, namespace: str | None, status: dict[str, Any]
    ) -> None:
        """Replace the status subresource (a merge patch of the whole status; None values clear keys)."""
        res = _res(api_version, kind)
        try:
            await self.client.patch(
                res.Status,
                name,
                {"status": status},
                namespace=namespace,
                patch_type=PatchType.MERGE,
            )
        except ApiError as e:
            raise _error(e) from None
        except httpx2.TransportError as e:
            raise _transport(e) from None
