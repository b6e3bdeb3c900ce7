"""The per-namespace ceiling under concurrency (issue 9): many ModelDeployments of one namespace reconciled
at once must not each pass the check against the others' not-yet-written statuses. Controller-level: the
reconciles share one World (one book, as in the operator) and interleave at every await (the planner runs
in a worker thread), so before the fix every one of them planned up to the whole ceiling."""

from __future__ import annotations

import asyncio
from typing import Any

from tests.unit.fakekube import FakeKube, mdep

from infercap.api.config import OperatorConfig
from infercap.reconcile import World, reconcile

NOW = "2026-12-01T00:00:00Z"
SPEC: dict[str, Any] = {
    "model": "llama-3.1-70b",
    "precision": "fp8",
    "traffic": {"requestsPerSecond": 100, "inputTokens": 2000, "outputTokens": 400},
    "accelerators": ["h100"],
}
CEILING_CHIPS = 16
COUNT = 12


class WatchedKube(FakeKube):
    """Records the most chips the namespace's node pools ever held together, after every apply."""

    def __init__(self) -> None:
        super().__init__()
        self.peak = 0

    async def apply(self, manifest: dict[str, Any]) -> dict[str, Any]:
        out = await super().apply(manifest)
        self.peak = max(self.peak, pool_chips(self))
        return out


def pool_chips(kube: FakeKube) -> int:
    return sum(int(next(iter(p["spec"]["limits"].values()))) for p in kube.of_kind("NodePool"))


async def reconcile_all(kube: FakeKube, cfg: OperatorConfig, world: World, names: list[str]) -> None:
    bodies = [kube.objects[("infercap.dev/v1alpha1", "ModelDeployment", "team", n)] for n in names]
    await asyncio.gather(*(reconcile(kube, cfg, b, NOW, world=world) for b in bodies))  # type: ignore[arg-type]


def planned_chips(kube: FakeKube) -> int:
    return sum(int(o["status"]["plan"]["chips"]) for o in kube.of_kind("ModelDeployment"))


def test_many_created_at_once_never_exceed_the_namespace_ceiling() -> None:
    kube = WatchedKube()
    cfg = OperatorConfig.model_validate({"limits": {"perNamespace": {"maxChips": CEILING_CHIPS}}})
    names = [f"m{i}" for i in range(COUNT)]
    for n in names:
        kube.put(mdep(n, "team", SPEC))
    world = World(kube)  # type: ignore[arg-type]
    asyncio.run(reconcile_all(kube, cfg, world, names))
    assert 0 < planned_chips(kube) <= CEILING_CHIPS
    assert kube.peak <= CEILING_CHIPS, f"the namespace's pools held {kube.peak} chips at once"
    quota = kube.of_kind("ResourceQuota")[0]
    assert int(quota["spec"]["hard"]["requests.nvidia.com/gpu"]) <= CEILING_CHIPS
    # Re-reconciled at once again (a resync, a restart with a fresh book): still under the ceiling.
    asyncio.run(reconcile_all(kube, cfg, World(kube), names))  # type: ignore[arg-type]
    assert 0 < planned_chips(kube) <= CEILING_CHIPS
    assert kube.peak <= CEILING_CHIPS


def test_a_deleted_plan_frees_its_room_for_the_others() -> None:
    kube = WatchedKube()
    cfg = OperatorConfig.model_validate({"limits": {"perNamespace": {"maxChips": CEILING_CHIPS}}})
    names = ["a", "b"]
    for n in names:
        kube.put(mdep(n, "team", SPEC))
    world = World(kube)  # type: ignore[arg-type]
    asyncio.run(reconcile_all(kube, cfg, world, names))
    before = {o["metadata"]["name"]: int(o["status"]["plan"]["chips"]) for o in kube.of_kind("ModelDeployment")}
    assert sum(before.values()) <= CEILING_CHIPS
    full = next(n for n, c in before.items() if c > 0)
    other = next(n for n in names if n != full)
    from infercap.reconcile import finalize

    gone = kube.objects.pop(("infercap.dev/v1alpha1", "ModelDeployment", "team", full))
    asyncio.run(finalize(kube, cfg, gone, world))  # type: ignore[arg-type]
    asyncio.run(reconcile_all(kube, cfg, world, [other]))
    after = int(kube.objects[("infercap.dev/v1alpha1", "ModelDeployment", "team", other)]["status"]["plan"]["chips"])
    assert after > before[other], "the room the deleted plan held goes to the other one"
    assert after <= CEILING_CHIPS


def test_plans_far_under_the_ceiling_are_made_once_each(monkeypatch: Any) -> None:
    """The turn costs nothing where the namespace has room: plans are made in parallel, each stands."""
    import infercap.reconcile.planning as rec

    calls = []
    real = rec.plan

    def counted(*args: Any, **kw: Any) -> Any:
        calls.append(1)
        return real(*args, **kw)

    monkeypatch.setattr(rec, "plan", counted)
    kube = WatchedKube()
    cfg = OperatorConfig.model_validate({"limits": {"perNamespace": {"maxChips": 100_000}}})
    names = [f"m{i}" for i in range(COUNT)]
    for n in names:
        kube.put(mdep(n, "team", SPEC))
    asyncio.run(reconcile_all(kube, cfg, World(kube), names))  # type: ignore[arg-type]
    assert len(calls) == COUNT
    assert all(o["status"]["plan"]["chips"] > CEILING_CHIPS for o in kube.of_kind("ModelDeployment"))
