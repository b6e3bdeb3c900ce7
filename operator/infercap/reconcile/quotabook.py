"""What the operator knows about each namespace quota between API round trips.

Many ModelDeployments of one namespace re-planned at once each change the namespace's quota. They take
turns (a lock per namespace); with this book, a turn writes only when the quota must change: each
reconcile notes its ModelDeployment's newest share (newer than Kopf's index, which waits for the status
write), the turn sums those over the index, and a sum equal to the manifest last applied costs no GET and
no write. A foreign edit or deletion of the quota (seen by the watch) clears the namespace's entry.

The same book makes the per-namespace ceiling atomic: a reconcile admits and plans under the namespace's
admission lock, against the book's shares (the index's, each replaced by a newer one of this process), and
notes its planned share before it lets the next one in. Without that, N ModelDeployments created at once
each passed the check against the others' not yet written statuses and together applied N times the
ceiling.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import defaultdict
from typing import Any

from infercap.providers.quota import Share


class QuotaBook:
    def __init__(self) -> None:
        self.locks: defaultdict[str, asyncio.Lock] = defaultdict(asyncio.Lock)
        self.latest: defaultdict[str, dict[str, Share | None]] = defaultdict(dict)  # None: no share any more
        self.applied: dict[str, dict[str, Any] | None] = {}
        # The shares (by uid) the manifest in `applied` was built from: a turn whose own share is among them
        # needs neither the O(namespace) manifest nor a write (at 2,000 ModelDeployments in one namespace,
        # rebuilding it every turn was a quarter of the operator's CPU).
        self.basis: dict[str, dict[str, Share]] = {}
        # Separate from the quota locks: admitting is CPU only and must not wait for a quota's API round trip.
        self.admission: defaultdict[str, asyncio.Lock] = defaultdict(asyncio.Lock)

    def admitting(self, namespace: str, exclusive: bool) -> contextlib.AbstractAsyncContextManager[Any]:
        """Held from reading the namespace's shares for the ceiling check to noting the new plan's share;
        a namespace without a per-namespace ceiling (`exclusive` False) plans without taking turns."""
        return self.admission[namespace] if exclusive else contextlib.nullcontext()

    def note(self, namespace: str, uid: str, share: Share | None) -> None:
        self.latest[namespace][uid] = share

    def merged(self, namespace: str, indexed: list[Share]) -> list[Share]:
        """The index's shares, each replaced by a newer one this process computed."""
        latest = self.latest.get(namespace, {})
        out = [s for s in indexed if s.uid not in latest]
        out += [s for s in latest.values() if s is not None]
        return out

    def settle(self, namespace: str, manifest: dict[str, Any] | None, shares: list[Share]) -> None:
        """`manifest`, built from `shares`, is what the namespace's quota now is."""
        self.applied[namespace] = manifest
        self.basis[namespace] = {s.uid: s for s in shares}

    def covers(self, namespace: str, uid: str) -> bool:
        """Whether the quota as last settled already holds the share last noted for `uid` (or, noted as
        None, holds none of it): that turn has nothing to write."""
        basis = self.basis.get(namespace)
        latest = self.latest.get(namespace, {})
        return basis is not None and namespace in self.applied and uid in latest and basis.get(uid) == latest[uid]

    def forget(self, namespace: str) -> None:
        """The quota changed outside infercap: read and write it again on the next turn."""
        self.applied.pop(namespace, None)
        self.basis.pop(namespace, None)
