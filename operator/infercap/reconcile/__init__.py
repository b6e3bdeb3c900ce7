"""Level-based reconcile of one ModelDeployment: load, plan, apply, observe, quota, report.

The steps live one per module (load, planning, pools, loop, quota, report) over the working state in
`world.Pass`, ordered by `run.reconcile`. This package only re-exports what the handlers, the CLI and the
tests use; it holds no logic.
"""

from __future__ import annotations

from infercap.reconcile import observe, sli
from infercap.reconcile.load import load_catalog
from infercap.reconcile.pools import NOTHING_AFFORDABLE, capped_to_nothing
from infercap.reconcile.quota import apply_quota
from infercap.reconcile.run import finalize, reconcile
from infercap.reconcile.shares import applied_share, share_from_status
from infercap.reconcile.world import KIND, Autoscale, Pass, Result, World

__all__ = [
    "KIND",
    "NOTHING_AFFORDABLE",
    "Autoscale",
    "Pass",
    "Result",
    "World",
    "applied_share",
    "apply_quota",
    "capped_to_nothing",
    "finalize",
    "load_catalog",
    "observe",
    "reconcile",
    "share_from_status",
    "sli",
]
