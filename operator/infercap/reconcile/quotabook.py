"""What the operator knows about each namespace quota between API round trips.

Many ModelDeployments of one namespace re-planned at once each change the namespace's quota. They take
turns (a lock per namespace); with this book, a turn writes only when the quota must change: each
reconcile notes its ModelDeployment's newest share (newer than Kopf's index, which waits for the status
write), the turn sums those over the index, and a sum equal to the manifest last applied costs no GET and
no write. A foreign edit or deletion of the quota (seen by the watch) clears the namespace's entry.
"""

from __future__ import annotations

import asyncio
from collections import defaultdict
from typing import Any

from infercap.providers.quota import Share


class QuotaBook:
    def __init__(self) -> None:
        self.locks: defaultdict[str, asyncio.Lock] = defaultdict(asyncio.Lock)
        self.latest: defaultdict[str, dict[str, Share | None]] = defaultdict(dict)  # None: no share any more
        self.applied: dict[str, dict[str, Any] | None] = {}

    def note(self, namespace: str, uid: str, share: Share | None) -> None:
        self.latest[namespace][uid] = share

    def merged(self, namespace: str, indexed: list[Share]) -> list[Share]:
        """The index's shares, each replaced by a newer one this process computed."""
        latest = self.latest.get(namespace, {})
        out = [s for s in indexed if s.uid not in latest]
        out += [s for s in latest.values() if s is not None]
        return out

    def forget(self, namespace: str) -> None:
        """The quota changed outside infercap: read and write it again on the next turn."""
        self.applied.pop(namespace, None)
