"""Read-only cluster access for the kubectl plugin: a client for a kubeconfig and context chosen as
kubectl chooses them, and the objects the plugin reads (ModelDeployments and the nodes they own)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx2
from lightkube import ApiError, AsyncClient, ConfigError, KubeConfig
from lightkube.resources.core_v1 import Node

from infercap.api.errors import ReasonedError
from infercap.kube.client import FIELD_MANAGER, Kube, KubeError


class ConnectError(ReasonedError):
    """The kubeconfig, its context or the API server cannot be used."""


@dataclass
class Session:
    kube: Kube
    namespace: str  # the context's namespace, else "default" (kubectl's rule)


def connect(kubeconfig: str | None, context: str | None) -> Session:
    """A client for `context` (default: the current one) of `kubeconfig` (default: $KUBECONFIG, then
    ~/.kube/config, then the in-cluster service account)."""
    try:
        config = KubeConfig.from_file(Path(kubeconfig)) if kubeconfig else KubeConfig.from_env()
        single = config.get(context_name=context)
        if single is None:
            raise ConfigError(f"no context {context!r}")
    except (ConfigError, OSError) as e:
        raise ConnectError("KubeconfigInvalid", f"cannot use kubeconfig {kubeconfig or '(default)'}: {e}") from None
    client = AsyncClient(config=single, field_manager=FIELD_MANAGER, timeout=httpx2.Timeout(15.0))
    return Session(Kube(client), single.namespace or "default")


async def model_deployments(kube: Kube, namespace: str | None) -> list[dict[str, Any]]:
    """ModelDeployments of one namespace, or of all when `namespace` is None."""
    try:
        return await kube.list("infercap.dev/v1alpha1", "ModelDeployment", namespace=namespace)
    except httpx2.HTTPError as e:
        raise ConnectError("ApiUnreachable", f"cannot reach the API server: {e}") from None


async def nodes(kube: Kube, labels: Mapping[str, str] | None = None) -> list[dict[str, Any]]:
    """Nodes, optionally only those with these labels; none when the caller may not list nodes."""
    try:
        return [dict(n.to_dict()) async for n in kube.client.list(Node, labels=dict(labels or {}))]
    except ApiError as e:
        if e.status.code == 403:
            return []
        raise KubeError(e.status.reason or "ApiError", e.status.message or str(e), e.status.code or 0) from None
    except httpx2.HTTPError as e:
        raise ConnectError("ApiUnreachable", f"cannot reach the API server: {e}") from None
