"""An in-memory stand-in for infercap.kube.Kube, for unit tests of the reconcile: the same calls, objects
kept as dicts, and a count of every call by verb (the LIST-per-reconcile test reads it)."""

from __future__ import annotations

import copy
import itertools
from collections import Counter
from collections.abc import Mapping
from typing import Any

from infercap.kube.applied import AppliedMemo
from infercap.kube.client import KubeError

_uids = itertools.count(1)


def _key(api_version: str, kind: str, name: str, namespace: str | None) -> tuple[str, str, str, str]:
    return api_version, kind, namespace or "", name


class _EventSink:
    """Stands in for the lightkube client's `create`, for the Events the operator posts."""

    def __init__(self) -> None:
        self.events: list[Any] = []

    async def create(self, obj: Any) -> None:
        self.events.append(obj)


class FakeKube:
    """Objects by (apiVersion, kind, namespace, name); `calls` counts get/list/apply/delete/patch."""

    def __init__(self) -> None:
        self.objects: dict[tuple[str, str, str, str], dict[str, Any]] = {}
        self.calls: Counter[str] = Counter()
        self.fail: set[str] = set()  # verbs that raise a transport error
        self.fail_apply: set[str] = set()  # kinds whose apply the API server refuses (422 Invalid)
        self.client = _EventSink()  # what kube.events.Recorder posts Events through
        self.applied = AppliedMemo()

    def _check(self, verb: str) -> None:
        self.calls[verb] += 1
        if verb in self.fail:
            raise KubeError("ServiceUnavailable", "connection refused", 0)

    def put(self, obj: dict[str, Any]) -> dict[str, Any]:
        """Create or replace an object directly (what another client or a test writes)."""
        obj = copy.deepcopy(obj)
        meta = obj.setdefault("metadata", {})
        meta.setdefault("uid", f"uid-{next(_uids)}")
        meta.setdefault("generation", 1)
        key = _key(obj["apiVersion"], obj["kind"], meta["name"], meta.get("namespace"))
        old = self.objects.get(key)
        if (
            old is not None
            and old.get("spec") != obj.get("spec")
            and meta["generation"] == old["metadata"].get("generation")
        ):
            meta["generation"] += 1  # as the API server does on a spec change
        self.objects[key] = obj
        return obj

    async def close(self) -> None:
        return None

    async def get(self, api_version: str, kind: str, name: str, namespace: str | None = None) -> dict[str, Any] | None:
        self._check("get")
        obj = self.objects.get(_key(api_version, kind, name, namespace))
        return copy.deepcopy(obj) if obj is not None else None

    async def list(
        self, api_version: str, kind: str, namespace: str | None = None, labels: Mapping[str, str] | None = None
    ) -> list[dict[str, Any]]:
        self._check("list")
        out = []
        for (av, k, ns, _), obj in self.objects.items():
            if (av, k) != (api_version, kind) or (namespace is not None and ns != namespace):
                continue
            have = obj["metadata"].get("labels") or {}
            if all(have.get(lk) == lv for lk, lv in (labels or {}).items()):
                out.append(copy.deepcopy(obj))
        return out

    async def apply(self, manifest: dict[str, Any]) -> dict[str, Any]:
        self._check("apply")
        if manifest["kind"] in self.fail_apply:
            raise KubeError("Invalid", f"{manifest['kind']} {manifest['metadata']['name']} is invalid", 422)
        meta = manifest["metadata"]
        key = _key(manifest["apiVersion"], manifest["kind"], meta["name"], meta.get("namespace"))
        existing = self.objects.get(key)
        obj = copy.deepcopy(manifest)
        if existing is not None:
            obj["metadata"] = {**existing["metadata"], **obj["metadata"]}
            if "status" in existing:
                obj["status"] = existing["status"]
        return self.put(obj)

    async def apply_if_changed(self, manifest: dict[str, Any], existing: dict[str, Any] | None) -> dict[str, Any]:
        """As Kube.apply_if_changed (the same memo)."""
        if existing is not None and self.applied.unchanged(manifest, existing):
            return existing
        result = await self.apply(manifest)
        self.applied.note(manifest, result)
        return result

    async def delete(self, api_version: str, kind: str, name: str, namespace: str | None = None) -> bool:
        self.applied.forget(api_version, kind, name, namespace)
        self._check("delete")
        return self.objects.pop(_key(api_version, kind, name, namespace), None) is not None

    async def annotate(
        self, api_version: str, kind: str, name: str, namespace: str | None, annotations: dict[str, str | None]
    ) -> None:
        self._check("patch")
        obj = self.objects.get(_key(api_version, kind, name, namespace))
        if obj is None:
            raise KubeError("NotFound", f"{kind} {name} not found", 404)
        have = obj["metadata"].setdefault("annotations", {})
        for k, v in annotations.items():
            if v is None:
                have.pop(k, None)
            else:
                have[k] = v

    async def patch_status(
        self, api_version: str, kind: str, name: str, namespace: str | None, status: dict[str, Any]
    ) -> None:
        self._check("patch")
        obj = self.objects.get(_key(api_version, kind, name, namespace))
        if obj is None:
            raise KubeError("NotFound", f"{kind} {name} not found", 404)
        merge(obj.setdefault("status", {}), status)

    async def set_replicas(self, api_version: str, kind: str, name: str, namespace: str, replicas: int) -> None:
        self._check("patch")
        obj = self.objects.get(_key(api_version, kind, name, namespace))
        if obj is None:
            raise KubeError("NotFound", f"{kind} {name} not found", 404)
        obj.setdefault("spec", {})["replicas"] = replicas

    def of_kind(self, kind: str) -> list[dict[str, Any]]:
        return [o for (_, k, _, _), o in self.objects.items() if k == kind]

    def set_ready(self, kind: str, status: str, reason: str = "", message: str = "") -> None:
        """Give every object of `kind` a Ready condition (what a node-pool controller reports)."""
        for obj in self.of_kind(kind):
            cond = {"type": "Ready", "status": status, "reason": reason, "message": message}
            obj.setdefault("status", {})["conditions"] = [cond]


def mdep(name: str, namespace: str, spec: dict[str, Any]) -> dict[str, Any]:
    return {
        "apiVersion": "infercap.dev/v1alpha1",
        "kind": "ModelDeployment",
        "metadata": {"name": name, "namespace": namespace},
        "spec": spec,
    }


def merge(have: dict[str, Any], patch: dict[str, Any]) -> None:
    """A JSON merge patch (RFC 7386), as the API server applies one: None removes a key, an object merges
    into the object there, anything else replaces."""
    for k, v in patch.items():
        if v is None:
            have.pop(k, None)
        elif isinstance(v, dict) and isinstance(have.get(k), dict):
            merge(have[k], v)
        else:
            have[k] = copy.deepcopy(v)
