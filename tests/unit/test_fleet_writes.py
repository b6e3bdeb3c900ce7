"""Fleet speed (issue 9): the writes a reconcile sends. A node pool already as this process applied it is
not applied again (a no-op apply still costs the API server a full request), but a foreign edit, a
removed label or a deleted pool are; the planned and observed cost annotations go in one patch."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any

from tests.unit.fakekube import FakeKube, mdep

from infercap.api.config import OperatorConfig
from infercap.reconcile import reconcile

NOW = "2026-12-01T00:00:00Z"
KEY = ("infercap.dev/v1alpha1", "ModelDeployment", "team", "m")
CFG = OperatorConfig.model_validate(
    {"karpenter": {"nodeClassRef": {"group": "karpenter.kwok.sh", "kind": "KWOKNodeClass", "name": "default"}}}
)
SPEC: dict[str, Any] = {
    "model": "llama-3.1-8b",
    "traffic": {"requestsPerSecond": 5, "inputTokens": 1000, "outputTokens": 200},
    "accelerators": ["l40s"],
}


class CountingKube(FakeKube):
    def __init__(self) -> None:
        super().__init__()
        self.applied_kinds: list[str] = []
        self.read_kinds: list[str] = []
        self.events: list[Any] = []
        kube = self

        class Client:  # what kube.events.Recorder posts Events through
            async def create(self, obj: Any) -> None:
                kube.events.append(obj)

        self.client = Client()

    async def get(self, api_version: str, kind: str, name: str, namespace: str | None = None) -> dict[str, Any] | None:
        self.read_kinds.append(kind)
        return await super().get(api_version, kind, name, namespace)

    async def apply(self, manifest: dict[str, Any]) -> dict[str, Any]:
        self.applied_kinds.append(manifest["kind"])
        return await super().apply(manifest)


def run(kube: CountingKube) -> None:
    kube.calls.clear()
    kube.applied_kinds.clear()
    kube.read_kinds.clear()
    asyncio.run(reconcile(kube, CFG, kube.objects[KEY], NOW))  # type: ignore[arg-type]


def test_first_reconcile_writes_pool_quota_one_annotation_patch_and_status() -> None:
    kube = CountingKube()
    kube.put(mdep("m", "team", SPEC))
    run(kube)
    assert sorted(kube.applied_kinds) == ["NodePool", "ResourceQuota"]
    # patch: one for the cost annotations (planned and observed together), one for status
    assert kube.calls["patch"] == 2
    annotations = kube.objects[KEY]["metadata"]["annotations"]
    assert {"infercap.dev/cost-hourly", "infercap.dev/cost-observed-hourly"} <= set(annotations)


def test_an_unchanged_pool_is_not_applied_again_and_a_changed_one_is() -> None:
    kube = CountingKube()
    kube.put(mdep("m", "team", SPEC))
    run(kube)
    run(kube)
    assert kube.applied_kinds == [] and kube.calls["patch"] == 0, "a second reconcile writes nothing"
    (pool,) = kube.of_kind("NodePool")
    # A foreign spec edit (the API server bumps the generation): applied back.
    edited = {**pool, "spec": {**pool["spec"], "limits": {"nvidia.com/gpu": "9999"}}}
    kube.put(edited)
    run(kube)
    assert kube.applied_kinds == ["NodePool"]
    assert kube.of_kind("NodePool")[0]["spec"]["limits"] == pool["spec"]["limits"]
    # A removed label (metadata edits keep the generation): applied back.
    (pool,) = kube.of_kind("NodePool")
    label = next(iter(pool["metadata"]["labels"]))
    pool["metadata"]["labels"].pop(label)
    run(kube)
    assert kube.applied_kinds == ["NodePool"] and label in kube.of_kind("NodePool")[0]["metadata"]["labels"]
    # A deleted pool: created again.
    kube.objects.pop(next(k for k in kube.objects if k[1] == "NodePool"))
    run(kube)
    assert kube.applied_kinds == ["NodePool"] and len(kube.of_kind("NodePool")) == 1
    # A new plan (more traffic): the new manifest is applied.
    kube.objects[KEY]["spec"] = {**SPEC, "traffic": {**SPEC["traffic"], "requestsPerSecond": 50}}
    run(kube)
    assert "NodePool" in kube.applied_kinds


def test_observing_reads_the_pool_this_reconcile_applied_not_again() -> None:
    kube = CountingKube()
    kube.put(mdep("m", "team", SPEC))
    run(kube)
    assert kube.read_kinds.count("NodePool") == 1, kube.read_kinds  # the ownership check; observing reuses it
    # Karpenter says Ready: the next reconcile sees it through that same single read.
    (pool,) = kube.of_kind("NodePool")
    pool["status"] = {"conditions": [{"type": "Ready", "status": "True"}]}
    run(kube)
    assert kube.read_kinds.count("NodePool") == 1
    ready = next(c for c in kube.objects[KEY]["status"]["conditions"] if c["type"] == "NodePoolsReady")
    assert ready["status"] == "True", ready


def test_the_create_handler_writes_the_cost_annotations_with_kopfs_own_patch() -> None:
    """In a Kopf handler the annotations ride on Kopf's patch (its diffbase write), not a patch of their own;
    elsewhere (drift, quota refresh: no Kopf patch of this object) they are patched as before."""
    import kopf

    from infercap.handlers import Operator

    kube = CountingKube()
    kube.put(mdep("m", "team", SPEC))
    op = Operator(CFG)
    op.kube = kube  # type: ignore[assignment]
    annotations: dict[str, str] = {}  # what the create handler adds to Kopf's patch (handlers.changed)
    body = kopf.Body(kube.objects[KEY])  # type: ignore[arg-type]
    kube.calls.clear()
    asyncio.run(op.run_reconcile(body, logging.getLogger("test"), {}, annotations=annotations))
    assert kube.calls["patch"] == 1, "the status patch only"
    assert len(kube.events) == 1  # Planned
    assert annotations["infercap.dev/cost-hourly"]
    assert "infercap.dev/cost-observed-hourly" in annotations
    assert "infercap.dev/cost-hourly" not in (kube.objects[KEY]["metadata"].get("annotations") or {})
    # Without Kopf's patch (a drift reconcile): its own patch.
    other = CountingKube()
    other.put(mdep("m", "team", SPEC))
    op.kube = other  # type: ignore[assignment]
    asyncio.run(op.run_reconcile(kopf.Body(other.objects[KEY]), logging.getLogger("test"), {}))  # type: ignore[arg-type]
    assert other.calls["patch"] == 2 and other.objects[KEY]["metadata"]["annotations"]["infercap.dev/cost-hourly"]


def test_a_create_that_is_ready_at_once_writes_the_cost_annotations_before_its_ready_status() -> None:
    """Kopf's patch lands after the handler's status write. A GKE pool's nodes are not observed, so its
    first status already says Ready: the annotations then go in a patch of their own, before the status,
    so that whoever sees Ready also sees the cost (CI caught the other order on the TPU example)."""
    import kopf

    from infercap.handlers import Operator

    cfg = OperatorConfig.model_validate(
        {"gke": {"namespace": "infercap-gke", "clusterRef": {"name": "workload"}, "location": "us-central1"}}
    )
    order: list[str] = []

    class OrderedKube(CountingKube):
        async def annotate(self, *args: Any) -> None:
            order.append("annotations")
            await super().annotate(*args)

        async def patch_status(self, *args: Any) -> None:
            order.append("status")
            await super().patch_status(*args)

    kube = OrderedKube()
    spec = {**SPEC, "accelerators": ["tpu-v6e"], "nodePool": {"provider": "gke"}}
    kube.put(mdep("m", "team", spec))
    op = Operator(cfg)
    op.kube = kube  # type: ignore[assignment]
    annotations: dict[str, str] = {}
    asyncio.run(op.run_reconcile(kopf.Body(kube.objects[KEY]), logging.getLogger("test"), {}, annotations=annotations))  # type: ignore[arg-type]
    ready = next(c for c in kube.objects[KEY]["status"]["conditions"] if c["type"] == "Ready")
    assert ready["status"] == "True", ready
    assert order == ["annotations", "status"] and annotations == {}
    assert kube.objects[KEY]["metadata"]["annotations"]["infercap.dev/cost-monthly"]


def test_a_quota_turn_whose_share_the_last_write_holds_builds_no_manifest(monkeypatch: Any) -> None:
    """2,000 ModelDeployments in one namespace: each turn rebuilt the whole quota manifest (2,000 owner
    references) to find it unchanged, a quarter of the operator's CPU. A turn whose share the last written
    quota already holds now returns at once; a changed share, a deletion and a foreign edit still rebuild."""
    from decimal import Decimal

    from infercap.providers.quota import Share
    from infercap.reconcile import World, apply_quota
    from infercap.reconcile import quota as quota_module

    built: list[int] = []
    real = quota_module.resource_quota

    def counting(*args: Any) -> Any:
        built.append(1)
        return real(*args)

    monkeypatch.setattr(quota_module, "resource_quota", counting)
    kube = FakeKube()
    world = World(kube)  # type: ignore[arg-type]
    a, b = (Share(n, f"u{n}", "nvidia.com/gpu", 2, Decimal("1.5"), "USD", 1) for n in "ab")

    def turn(share: Share | None, exclude: str | None = None) -> str:
        verdict, _ = asyncio.run(apply_quota(kube, world, CFG, "team", share, exclude_uid=exclude))  # type: ignore[arg-type]
        return verdict.message

    def hard() -> dict[str, str]:
        return dict(kube.of_kind("ResourceQuota")[0]["spec"]["hard"])

    world.quota_book.note("team", b.uid, b)  # b's reconcile noted its share and waits for a's turn
    turn(a)
    assert hard() == {"requests.nvidia.com/gpu": "4"} and len(built) == 1
    kube.calls.clear()
    assert "requests.nvidia.com/gpu=4" in turn(b), "b's turn finds its share written"
    assert len(built) == 1 and kube.calls["get"] == kube.calls["apply"] == kube.calls["list"] == 0, kube.calls
    turn(Share("b", "ub", "nvidia.com/gpu", 6, Decimal("4.5"), "USD", 3))  # b's plan grew
    assert hard() == {"requests.nvidia.com/gpu": "8"} and len(built) == 2
    turn(None, exclude="ua")  # a deleted
    assert hard() == {"requests.nvidia.com/gpu": "6"} and len(built) == 3
    turn(None, exclude="ua")  # its finalizer again (a retry): already out
    assert len(built) == 3
    kube.objects[next(k for k in kube.objects if k[1] == "ResourceQuota")]["spec"]["hard"] = {"x": "1"}
    world.quota_book.forget("team")  # the watch saw the foreign edit
    turn(Share("b", "ub", "nvidia.com/gpu", 6, Decimal("4.5"), "USD", 3))
    assert hard() == {"requests.nvidia.com/gpu": "6"} and len(built) == 4
    asyncio.run(apply_quota(kube, world, CFG, "team", None))  # type: ignore[arg-type]
    assert len(built) == 5, "the refresh after a burst (no share of its own) sums in full"


def test_admission_sums_the_namespace_only_under_a_per_namespace_ceiling() -> None:
    """Every reconcile summed the chips, nodes and cost of all the namespace's other plans, which only a
    per-namespace ceiling needs (O(namespace) per reconcile: O(N²) for N created at once)."""
    from decimal import Decimal

    from infercap.providers.policy import allowance
    from infercap.providers.quota import Share

    class Shares:
        """The namespace's shares, counting how often they are read."""

        def __init__(self) -> None:
            self.reads = 0
            self.items = [Share(f"m{i}", f"u{i}", "nvidia.com/gpu", 2, Decimal("1"), "USD", 1) for i in range(3)]

        def __iter__(self) -> Any:
            self.reads += 1
            return iter(self.items)

    shares = Shares()
    free = allowance(CFG, "team", "u0", [], shares)
    assert shares.reads == 0 and free.ceilings == []
    capped_cfg = OperatorConfig.model_validate(
        {**CFG.model_dump(by_alias=True), "limits": {"perNamespace": {"maxChips": 10}}}
    )
    (ceiling,) = allowance(capped_cfg, "team", "u0", [], shares).ceilings
    assert shares.reads == 1 and ceiling.chips == 6, ceiling  # 10 less the other two plans' 2 + 2


def test_reconciles_share_one_catalog_while_profiles_and_prices_stay_the_same() -> None:
    """A catalog built anew per reconcile recomputed its caches (replica sizes, shapes, replicas) every
    time: 7 % of the operator's CPU at 2,000. The same profiles and prices now give the same Catalog; a
    changed profile or price gives a new one."""
    from infercap.reconcile import load_catalog

    class Profiles:
        def __init__(self) -> None:
            self.models: list[dict[str, Any]] = []

        async def profiles(self) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
            return self.models, []

    world = Profiles()
    first, _ = asyncio.run(load_catalog(world, CFG))  # type: ignore[arg-type]
    again, _ = asyncio.run(load_catalog(world, CFG))  # type: ignore[arg-type]
    assert again is first
    h100 = first.accelerator("h100", "test")
    assert first.replica_sizes(h100) is again.replica_sizes(h100), "the cache carries over"
    priced = OperatorConfig.model_validate({**CFG.model_dump(by_alias=True), "prices": {"h100": "1.23"}})
    other, _ = asyncio.run(load_catalog(world, priced))  # type: ignore[arg-type]
    assert other is not first and str(other.accelerator("h100", "test").price.per_chip_hour) == "1.23"
    world.models = [
        {
            "apiVersion": "infercap.dev/v1alpha1",
            "kind": "ModelProfile",
            "metadata": {"name": "broken"},
            "spec": {"parameters": "not a number"},
        }
    ]
    broken, problems = asyncio.run(load_catalog(world, CFG))  # type: ignore[arg-type]
    assert broken is not first and problems and "ModelProfile/broken" in problems[0], problems
    problems.clear()  # a caller's edit of its list does not reach the next reconcile's
    assert asyncio.run(load_catalog(world, CFG))[1]  # type: ignore[arg-type]
    # Objects from the API server are known by uid and resourceVersion (no serialisation of every profile
    # per reconcile): the same version, the same Catalog; a write (a new version), a new one.
    world.models[0]["metadata"].update(uid="u1", resourceVersion="7")
    versioned, _ = asyncio.run(load_catalog(world, CFG))  # type: ignore[arg-type]
    assert asyncio.run(load_catalog(world, CFG))[0] is versioned  # type: ignore[arg-type]
    world.models[0]["metadata"]["resourceVersion"] = "8"
    assert asyncio.run(load_catalog(world, CFG))[0] is not versioned  # type: ignore[arg-type]


def test_the_api_client_keeps_its_connections_and_queues_for_one() -> None:
    """httpx's defaults kept 20 of 100 connections alive (a TLS handshake per request beyond 20 in flight)
    and failed a request after 30 s waiting for a free one (PoolTimeout: a retried reconcile). Against a
    local API stub that answers slowly: two waves of 150 GETs open 100 connections in all, none fails."""
    from lightkube import KubeConfig

    from infercap.kube.client import TIMEOUT, Kube, api_client

    connections: list[int] = []

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        connections.append(1)
        body = b'{"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c", "namespace": "team"}}'
        with contextlib.suppress(asyncio.IncompleteReadError, ConnectionError):  # the client hung up
            while await reader.readuntil(b"\r\n\r\n"):
                await asyncio.sleep(0.05)
                head = f"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
                writer.write(head.encode() + body)
                await writer.drain()

    async def main() -> None:
        server = await asyncio.start_server(serve, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        config = KubeConfig.from_dict(
            {
                "clusters": [{"name": "stub", "cluster": {"server": f"http://127.0.0.1:{port}"}}],
                "users": [{"name": "u", "user": {}}],
                "contexts": [{"name": "stub", "context": {"cluster": "stub", "user": "u"}}],
                "current-context": "stub",
            }
        ).get()
        kube = Kube(api_client(config))
        for _ in range(2):
            got = await asyncio.gather(*(kube.get("v1", "ConfigMap", "c", "team") for _ in range(150)))
            assert all(g is not None for g in got)
        await kube.close()
        server.close()

    asyncio.run(main())
    assert len(connections) == 100, len(connections)  # httpx's defaults: 100, then 80 more for the second wave
    assert TIMEOUT.pool is None and TIMEOUT.read == 30.0  # queued for a connection, not failed after 30 s
