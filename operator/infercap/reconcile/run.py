"""One reconcile as a sequence of steps over a `Pass`: load (spec, admission, catalog, calibration, demand), plan,
apply (workload and node pools), observe, quota, report. Each step is a function of its own module with
its own tests; this module only orders them. Finalize is the deletion's counterpart."""

from __future__ import annotations

from typing import Any

from infercap.api.config import OperatorConfig
from infercap.kube.client import Kube
from infercap.reconcile.calibrate import Reader as CalibrationReader
from infercap.reconcile.calibrate import calibrate_step, record_step
from infercap.reconcile.load import load_admission, load_demand, load_spec, load_world_catalog
from infercap.reconcile.loop import apply_step, observe_step
from infercap.reconcile.planning import make_plan
from infercap.reconcile.pools import remove_owned_pools
from infercap.reconcile.quota import apply_quota, quota_step
from infercap.reconcile.report import judge, report
from infercap.reconcile.world import Autoscale, Pass, Result, World


def start(
    kube: Kube, cfg: OperatorConfig, body: dict[str, Any], now: str, autoscale: Autoscale | None, world: World | None
) -> Pass:
    """A pass over `body`: the new status starts as the old one without what this pass recomputes."""
    old = dict(body.get("status") or {})
    new = {k: v for k, v in old.items() if k not in ("conditions", "observedGeneration")}
    return Pass(kube, cfg, body, now, world or World(kube), autoscale, old, new)


async def reconcile(
    kube: Kube,
    cfg: OperatorConfig,
    body: dict[str, Any],
    now: str,
    autoscale: Autoscale | None = None,
    world: World | None = None,
    annotations: dict[str, str] | None = None,
    calibrator: CalibrationReader | None = None,
) -> Result:
    """Bring one ModelDeployment's node pools, quota share and status in line with its spec. Idempotent:
    the same spec and cluster give the same applied objects and status, and an unchanged status is not
    written. A spec that cannot be planned changes nothing already applied. With `annotations`, the object's
    own annotations go there (for Kopf's patch of the handler) instead of a patch of their own."""
    ctx = start(kube, cfg, body, now, autoscale, world)
    ctx.annotations, ctx.calibrator = annotations, calibrator
    load_spec(ctx)
    await load_admission(ctx)
    await load_world_catalog(ctx)
    await calibrate_step(ctx)
    load_demand(ctx)
    await make_plan(ctx)
    if ctx.plan is not None:
        outcome = await apply_step(ctx)
        await observe_step(ctx, outcome)
        await quota_step(ctx)
    record_step(ctx)
    judge(ctx)
    return await report(ctx)


async def finalize(kube: Kube, cfg: OperatorConfig, body: dict[str, Any], world: World | None = None) -> list[str]:
    """On deletion: remove this ModelDeployment's node pools (cluster-scoped or in other namespaces, so
    garbage collection cannot) and shrink the namespace quota. Returns what was deleted."""
    meta = body["metadata"]
    deleted = await remove_owned_pools(kube, cfg, meta["uid"])
    await apply_quota(kube, world or World(kube), cfg, meta["namespace"], None, exclude_uid=meta["uid"])
    return deleted
