"""What this process last server-side applied, so that a reconcile that would apply the same manifest
again to an object nobody changed since sends nothing.

At 200 ModelDeployments each reconcile re-applied its node pool although nothing changed: a no-op apply
still costs the API server a full request (decode, field-manager merge, admission), a thousand of them in
one burst. An object counts as unchanged when its uid and metadata.generation are those our apply
returned (a spec edit by anyone bumps the generation), its labels and annotations still hold ours (those
do not bump it), and the manifest equals the one applied then. A restart starts empty: one apply each.
"""

from __future__ import annotations

import json
from typing import Any

Key = tuple[str, str, str, str]


def _key(obj: dict[str, Any]) -> Key:
    meta = obj["metadata"]
    return obj["apiVersion"], obj["kind"], meta.get("namespace") or "", meta["name"]


def _canonical(manifest: dict[str, Any]) -> str:
    return json.dumps(manifest, sort_keys=True, separators=(",", ":"), default=str)


class AppliedMemo:
    """Per object: the manifest applied, and the uid and generation the API server answered."""

    def __init__(self) -> None:
        self.entries: dict[Key, tuple[str, str | None, int | None]] = {}

    def unchanged(self, manifest: dict[str, Any], existing: dict[str, Any] | None) -> bool:
        """Whether applying `manifest` to `existing` (as just read) would change nothing."""
        if existing is None:
            return False
        hit = self.entries.get(_key(manifest))
        if hit is None:
            return False
        text, uid, generation = hit
        meta, want = existing.get("metadata") or {}, manifest["metadata"]
        return (
            text == _canonical(manifest)
            and uid is not None
            and meta.get("uid") == uid
            and meta.get("generation") == generation
            and all((meta.get("labels") or {}).get(k) == v for k, v in (want.get("labels") or {}).items())
            and all((meta.get("annotations") or {}).get(k) == v for k, v in (want.get("annotations") or {}).items())
        )

    def note(self, manifest: dict[str, Any], result: dict[str, Any]) -> None:
        """`manifest` was applied and the API server answered `result`."""
        meta = result.get("metadata") or {}
        self.entries[_key(manifest)] = (_canonical(manifest), meta.get("uid"), meta.get("generation"))

    def forget(self, api_version: str, kind: str, name: str, namespace: str | None) -> None:
        self.entries.pop((api_version, kind, namespace or "", name), None)
