"""The `infercap` subcommands: each takes parsed arguments and returns the text to print."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

import yaml

from infercap import config
from infercap.api.config import OperatorConfig
from infercap.api.deployment import Provider
from infercap.api.manifests import ManifestError, Manifests, parse_documents
from infercap.api.types import Precision
from infercap.cli import factors, render
from infercap.core.catalog import Catalog, builtin_catalog
from infercap.core.compare import compare, comparison_dict
from infercap.core.errors import PlanError
from infercap.core.estimate import estimate_replica
from infercap.core.planner import plan
from infercap.core.report import estimate_dict, plan_dict
from infercap.providers import Owner, ProviderError, candidates
from infercap.providers.policy import allowance, reservation
from infercap.providers.quota import Share
from infercap.providers.targets import resolve as resolve_targets


def read_manifests(paths: list[str], policy_paths: list[str] | None = None) -> Manifests:
    """Parse every document of every file (`policy_paths`: CapacityPolicy documents only); the first
    problem raises ManifestError."""
    merged = Manifests()
    for path in [*paths, *(policy_paths or [])]:
        try:
            text = sys.stdin.read() if path == "-" else open(path, encoding="utf-8").read()  # noqa: SIM115
        except OSError as e:
            raise ManifestError(f"cannot read {path}: {e.strerror or e}") from None
        try:
            docs = list(yaml.safe_load_all(text))
        except yaml.YAMLError as e:
            mark = getattr(e, "problem_mark", None)
            where = f" (line {mark.line + 1}, column {mark.column + 1})" if mark is not None else ""
            problem = getattr(e, "problem", None) or str(e).splitlines()[0]
            raise ManifestError(f"{path}: not valid YAML{where}: {problem}") from None
        m = parse_documents(docs, "stdin" if path == "-" else path)
        if path in (policy_paths or []) and path not in paths and (m.deployments or m.models or m.accelerators):
            raise ManifestError(f"--policy {path}: holds documents other than CapacityPolicy; pass those with -f")
        merged.policies += m.policies
        merged.deployments += m.deployments
        merged.models += m.models
        merged.accelerators += m.accelerators
    if not merged.deployments:
        raise ManifestError(f"no ModelDeployment in {', '.join(paths)}")
    return merged


def catalog_for(
    manifests: Manifests | None, prices: list[tuple[str, Any]], cfg: OperatorConfig | None = None
) -> Catalog:
    cat = builtin_catalog()
    if manifests is not None:
        cat = cat.with_overrides(manifests.models, manifests.accelerators)
    if cfg is not None and cfg.prices:  # as the operator prices them; --price still wins
        cat = cat.with_prices(dict(cfg.prices), "operator configuration")
    if prices:
        cat = cat.with_prices(dict(prices), "--price")
    return cat


# --------------------------------------------------------------------------- plan


def cmd_plan(args: argparse.Namespace) -> str:
    manifests = read_manifests(args.filename, args.policy)
    cfg = config.load(Path(args.config) if args.config else None)
    cat = catalog_for(manifests, args.price, cfg)
    measured = _measured(args, manifests)
    factors.check(args.step_time_factor, set(cat.accelerators))
    results = []
    shares: dict[str, list[Share]] = {}  # per namespace: the plans of this run so far, as the operator counts
    for d in manifests.deployments:
        namespace = d.metadata.namespace or "default"
        owner = Owner(d.metadata.name, namespace, f"{namespace}/{d.metadata.name}")
        where = f"ModelDeployment/{d.metadata.name}"
        # The operator's own admission check (ceilings and targets), offline.
        allowed = allowance(cfg, namespace, owner.uid, manifests.policies, shares.get(namespace, []))
        if allowed.refused is not None:
            raise ManifestError(f"{where}: {allowed.refused.message} [{allowed.refused.reason}]")
        spec = d.spec
        provider = args.provider or (spec.node_pool.provider.value if spec.node_pool.provider else None)
        if provider:
            spec = candidates(spec, cat, Provider(provider), cfg)
            try:
                resolve_targets(spec.node_pool, Provider(provider), cfg, allowed.targets)
            except ProviderError as e:
                raise ManifestError(f"{where}: {e.message} [{e.reason}]") from None
        try:
            step = factors.factors_for((namespace, d.metadata.name), measured, args.step_time_factor)
            p = plan(cat, spec, ceilings=allowed.ceilings, step_time_factors=step)
        except PlanError as e:
            raise ManifestError(f"{where}: {e} [{e.reason}]") from None
        share = reservation(owner, p, cfg, spec.serving is not None)
        if share is not None:
            shares.setdefault(namespace, []).append(share)
        results.append((d, p))
    if args.output != "table":
        docs = []
        for d, p in results:
            docs.append({"name": d.metadata.name, "namespace": d.metadata.namespace, **plan_dict(p), **_limits(p)})
        return render.dump(docs[0] if len(docs) == 1 else docs, args.output)
    return "\n\n".join(_plan_table(d.metadata.name, d.metadata.namespace, p) for d, p in results)


def _measured(args: argparse.Namespace, manifests: Manifests) -> dict[tuple[str, str], dict[str, float]]:
    """--calibration-from: the measured corrections, at least one of them for a ModelDeployment of -f."""
    path = getattr(args, "calibration_from", None)
    if not path:
        return {}
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as e:
        raise ManifestError(f"cannot read {path}: {e.strerror or e}") from None
    measured = factors.from_status(text, path)
    planned = {(d.metadata.namespace or "default", d.metadata.name) for d in manifests.deployments}
    if not planned & set(measured):
        found = ", ".join(f"{ns}/{n}" for ns, n in sorted(measured))
        raise ManifestError(
            f"--calibration-from {path}: its calibrated ModelDeployments ({found}) match none of -f by namespace/name"
        )
    return measured


def _limits(p: Any) -> dict[str, Any]:
    """The admin ceilings that cut the plan, if any (the operator's WithinLimits condition, offline)."""
    if p.limit is None:
        return {}
    capped = p.limit.capped.placement
    return {
        "limits": {
            "binding": list(p.limit.binding),
            "neededReplicas": p.chosen.placement.replicas,
            "allowedReplicas": capped.replicas,
            "allowedChips": capped.chips,
            "allowedNodes": capped.nodes,
        }
    }


def _plan_table(name: str, namespace: str | None, p: Any) -> str:
    data = plan_dict(p)
    pl = data["plan"]
    per = pl["perReplica"]
    mem = pl["memory"]
    cost = data["cost"]
    cur = cost["currency"]
    demand = data["demand"]
    par = pl["parallelism"]
    par_text = ", ".join(f"{k} {v}" for k, v in par.items())
    lines = [
        ("model", f"{p.model.id} ({pl['precision']} weights, {pl['kvCachePrecision']} KV cache)"),
        (
            "traffic",
            f"{demand['requestsPerSecond']:g} req/s x ({demand['inputTokens']:,} in / "
            f"{demand['outputTokens']:,} out tokens) = {demand['outputTokensPerSecond']:,.0f} output tok/s",
        ),
        (
            "plan",
            f"{pl['replicas']} replica(s) x {pl['chipsPerReplica']} {pl['accelerator']} ({par_text}) "
            f"on {pl['nodes']} node(s) of {pl['node']['chips']} ({pl['node']['label']}) = {pl['chips']} chips",
        ),
        (
            "per replica",
            f"{per['outputTokensPerSecond']:,.0f} output tok/s, {per['requestsPerSecond']:,.2f} req/s, "
            f"batch {per['batch']} ({per['batchLimit']}), {per['streamTokensPerSecond']:,.1f} tok/s "
            f"per stream, TTFT {per['timeToFirstTokenMs']:,.0f} ms",
        ),
        (
            "memory",
            f"weights {mem['weightsGiB']:,} GiB, KV cache {mem['kvCacheGiB']:,} GiB "
            f"({mem['maxConcurrentRequests']:,} requests) of {mem['capacityGiB']:,} GiB; "
            f"{per['bound']} bound",
        ),
        ("utilization", f"{pl['utilization']:.0%} of planned capacity"),
        (
            "cost",
            f"{render.money(cost['hourly'], cur)}/h  {render.money(cost['monthly'], cur)}/month"
            + (
                f"  {render.money(cost['perMillionOutputTokens'], cur)} per 1M output tokens"
                if "perMillionOutputTokens" in cost
                else ""
            )
            + (f"  (vendor API: {render.money(cost['apiHourly'], cur)}/h)" if "apiHourly" in cost else ""),
        ),
        ("source", pl["source"]),
    ]
    lines += _caps_lines(data, p, cur)
    title = f"ModelDeployment {namespace + '/' if namespace else ''}{name}"
    out = [render.block(title, lines)]
    if data["alternatives"]:
        out.append(_alternatives_table(data["alternatives"]))
    out.append("Why:\n" + "\n".join(f"  - {line}" for line in data["explanation"]))
    return "\n\n".join(out)


def _caps_lines(data: dict[str, Any], p: Any, cur: str) -> list[tuple[str, str]]:
    """The plan table's budget and admin-limit lines, where they apply."""
    lines = []
    if "budget" in data:
        b = data["budget"]
        state = (
            "within"
            if b["withinBudget"]
            else (
                f"OVER: needs {render.money(b['unconstrainedMonthlyCost'], cur)}/month; capped at "
                f"{b['affordableReplicas']} replica(s) = {b['demandCoverage']:.0%} of demand"
            )
        )
        lines.append(("budget", f"{render.money(b['maxMonthlyCost'], cur)}/month, {state}"))
    if p.limit is not None:
        lim = _limits(p)["limits"]
        lines.append(
            (
                "limits",
                f"CAPPED by {'; '.join(lim['binding'])}: {lim['allowedReplicas']} of {lim['neededReplicas']} "
                f"replica(s), {lim['allowedChips']} chips on {lim['allowedNodes']} node(s)",
            )
        )
    return lines


def _alternatives_table(alternatives: list[dict[str, Any]]) -> str:
    rows = [
        (
            a["accelerator"],
            a["chipsPerReplica"],
            a["replicas"],
            a["nodes"],
            a["chips"],
            render.money(a["costMonthly"], a["costCurrency"]),
            render.money(a.get("costPerMillionOutputTokens", ""), a["costCurrency"]),
            a["source"],
        )
        for a in alternatives
    ]
    header = ["alternative", "chips/replica", "replicas", "nodes", "chips", "cost/month", "$/mtok", "source"]
    return render.table(header, rows, right={1, 2, 3, 4, 5, 6})


# --------------------------------------------------------------------------- estimate


def cmd_estimate(args: argparse.Namespace) -> str:
    est = estimate_replica(
        builtin_catalog(),
        model_id=args.model,
        accelerator_id=args.accelerator,
        chips=args.chips,
        precision=Precision(args.precision) if args.precision else None,
        kv_precision=Precision(args.kv_cache_precision) if args.kv_cache_precision else None,
        input_tokens=args.input_tokens,
        output_tokens=args.output_tokens,
        min_stream_tokens_per_second=args.stream_tokens_per_second,
    )
    d = estimate_dict(est)
    if args.output != "table":
        return render.dump(d, args.output)
    mem = d["memory"]
    title = (
        f"{d['model']} on {d['chips']} x {d['accelerator']} ({d['precision']} weights, "
        f"{d['kvCachePrecision']} KV cache), {d['inputTokens']:,} in / {d['outputTokens']:,} out tokens"
    )
    pairs: list[tuple[str, Any]] = [
        ("fits", "yes" if d["fits"] else "NO: weights and one request's KV cache exceed memory"),
        (
            "memory",
            f"weights {mem['weightsGiB']:,} GiB + reserve {mem['reserveGiB']:,} GiB + KV cache "
            f"{mem['kvCacheGiB']:,} GiB of {mem['capacityGiB']:,} GiB ({mem['kvPerRequestMiB']:,} MiB per request)",
        ),
    ]
    if d["fits"] and d["batch"]:
        pairs += [
            (
                "throughput",
                f"{d['outputTokensPerSecond']:,.0f} output tok/s = {d['requestsPerSecond']:,.3f} req/s",
            ),
            ("batch", f"{d['batch']:,} ({d['batchLimit']})"),
            (
                "per stream",
                f"{d['streamTokensPerSecond']:,.1f} tok/s ({d['timePerOutputTokenMs']:,.1f} ms per token)",
            ),
            ("first token", f"{d['timeToFirstTokenMs']:,.0f} ms"),
            ("bound", d["bound"]),
            ("step (ms)", ", ".join(f"{k} {v:g}" for k, v in d["stepMs"].items())),
            ("roofline", f"{d['rooflineOutputTokensPerSecond']:,.0f} tok/s at peak bandwidth, same batch"),
        ]
    elif d["fits"]:
        pairs.append(("throughput", "none: the per-stream speed target is out of reach even at batch 1"))
    pairs.append(("source", d["source"]))
    return render.block(title, pairs)


# --------------------------------------------------------------------------- compare


def cmd_compare(args: argparse.Namespace) -> str:
    cmp = compare(builtin_catalog(), args.model_a, args.model_b)
    d = comparison_dict(cmp)
    if args.output != "table":
        return render.dump(d, args.output)
    a, b = d["models"]
    return "\n\n".join((_compare_published(a, b), _compare_analytic(a, b), _compare_ratios(d)))


def _pub(m: dict[str, Any], key: str) -> str:
    v = (m["published"] or {}).get(key)
    if v is None:
        return "-"
    if isinstance(v, dict) and "low" in v:
        return f"{v['low']:g}" if v["low"] == v["high"] else f"{v['low']:g}-{v['high']:g}"
    return f"{v:,}" if isinstance(v, int | float) else str(v)


def _claims(m: dict[str, Any]) -> str:
    pubd = m["published"] or {}
    return (
        ", ".join(
            f"{c['chips']['high']:g} x {c['accelerator']}" + (f" {c['precision']}" if c.get("precision") else "")
            for c in pubd.get("instance", [])
        )
        or "-"
    )


def _api(m: dict[str, Any]) -> str:
    p = m["apiPrice"]
    return f"${p['inputPerMillion']} in / ${p['outputPerMillion']} out" if p else "-"


def _cheapest(m: dict[str, Any]) -> dict[str, Any]:
    return m["analytic"]["cheapestReplica"] or {}


def _smallest(m: dict[str, Any]) -> str:
    return ", ".join(f"{r['chips']} x {r['accelerator']}" for r in m["analytic"]["smallestReplicas"]) or "-"


def _speed(m: dict[str, Any]) -> str:
    rs = m["analytic"]["smallestReplicas"]
    return ", ".join(f"{r['streamTokensPerSecond']:,.0f} ({r['accelerator']})" for r in rs) or "-"


def _rng(v: dict[str, float] | None) -> str:
    if v is None:
        return "-"
    return f"{v['low']:.2g}x" if v["low"] == v["high"] else f"{v['low']:.2g}-{v['high']:.2g}x"


def _compare_published(a: dict[str, Any], b: dict[str, Any]) -> str:
    rows = [
        ("total parameters (B)", _pub(a, "totalParamsB"), _pub(b, "totalParamsB")),
        ("active parameters (B)", _pub(a, "activeParamsB"), _pub(b, "activeParamsB")),
        ("activation rate (%)", _pub(a, "activationRatePercent"), _pub(b, "activationRatePercent")),
        ("chips per instance", _claims(a), _claims(b)),
        (
            "compute per inference (PFLOPs)",
            _pub(a, "computePerInferencePflops"),
            _pub(b, "computePerInferencePflops"),
        ),
        ("output speed (tok/s)", _pub(a, "outputTokensPerSecond"), _pub(b, "outputTokensPerSecond")),
        ("max context", _pub(a, "maxContextTokens"), _pub(b, "maxContextTokens")),
        ("API price per 1M tokens", _api(a), _api(b)),
    ]
    hardware = "\n".join(f"  {m['model']}: {_pub(m, 'hardware')}" for m in (a, b))
    return (
        "PUBLISHED (as the source states it)\nhardware:\n"
        + hardware
        + "\n"
        + render.table(["figure", a["model"], b["model"]], rows)
    )


def _compare_analytic(a: dict[str, Any], b: dict[str, Any]) -> str:
    aa, ba = a["analytic"], b["analytic"]
    rows = [
        (
            "parameters total / active (B)",
            f"{aa['totalParamsB']:,.0f} / {aa['activeParamsB']:,.0f}",
            f"{ba['totalParamsB']:,.0f} / {ba['activeParamsB']:,.0f}",
        ),
        ("activation rate (%)", f"{aa['activationRatePercent']:.1f}", f"{ba['activationRatePercent']:.1f}"),
        (
            "weights (GiB, native precision)",
            f"{aa['weightsGiB']:,.0f} ({aa['precision']})",
            f"{ba['weightsGiB']:,.0f} ({ba['precision']})",
        ),
        ("TFLOPs per output token", f"{aa['tflopsPerOutputToken']:.2f}", f"{ba['tflopsPerOutputToken']:.2f}"),
        (
            "PFLOPs per 2,000+800-token request",
            f"{aa['pflopsPerReferenceRequest']:.2f}",
            f"{ba['pflopsPerReferenceRequest']:.2f}",
        ),
        ("smallest replica that fits", _smallest(a), _smallest(b)),
        ("batch-1 speed (tok/s)", _speed(a), _speed(b)),
        (
            "cheapest replica",
            f"{_cheapest(a).get('chips', '-')} x {_cheapest(a).get('accelerator', '-')}",
            f"{_cheapest(b).get('chips', '-')} x {_cheapest(b).get('accelerator', '-')}",
        ),
        (
            "replica throughput (tok/s)",
            f"{_cheapest(a).get('outputTokensPerSecond', 0):,.0f}",
            f"{_cheapest(b).get('outputTokensPerSecond', 0):,.0f}",
        ),
        (
            "self-hosted $ per 1M output tokens",
            _cheapest(a).get("costPerMillionOutputTokens", "-"),
            _cheapest(b).get("costPerMillionOutputTokens", "-"),
        ),
    ]
    return "ANALYTIC (infercap's physics on the named hardware)\n" + render.table(
        ["figure", a["model"], b["model"]], rows
    )


def _compare_ratios(d: dict[str, Any]) -> str:
    ratio_rows = [
        (
            r["figure"],
            _rng(r["published"]),
            "-" if r["analytic"] is None else f"{r['analytic']:.2g}x",
            r["publishedNote"],
        )
        for r in d["ratios"]
    ]
    headers = ["figure", "published", "physics", "source says"]
    ratios = f"RATIOS ({d['ratioOf']})\n" + render.table(headers, ratio_rows)
    return ratios + "\n\n" + "WHERE THEY DISAGREE\n" + "\n".join(f"  - {x}" for x in d["disagreements"])


# --------------------------------------------------------------------------- catalog


def cmd_catalog(args: argparse.Namespace) -> str:
    cat = builtin_catalog()
    if args.what == "models":
        models = sorted(cat.models.values(), key=lambda m: m.id)
        if args.output != "table":
            return render.dump(
                [m.model_dump(mode="json", by_alias=True, exclude_none=True) for m in models], args.output
            )
        rows = []
        for m in models:
            moe = m.architecture.moe
            rows.append(
                (
                    m.id,
                    f"{m.total_params_b:,.1f}",
                    f"{m.active_params_b:,.1f}",
                    f"{moe.experts}/{moe.experts_per_token}" if moe else "dense",
                    m.architecture.attention.value + ("+window" if m.architecture.sliding_window else ""),
                    m.native_precision.value
                    + (f"/{m.native_expert_precision.value}" if m.native_expert_precision else ""),
                    f"{m.max_context_tokens:,}",
                    f"${m.api_price.output_per_million}" if m.api_price else "-",
                    "estimated" if m.estimated else "published config",
                )
            )
        return render.table(
            [
                "id",
                "total B",
                "active B",
                "experts/top-k",
                "attention",
                "precision",
                "context",
                "api $/mtok out",
                "architecture",
            ],
            rows,
            right={1, 2, 6},
        )
    accs = sorted(cat.accelerators.values(), key=lambda a: (a.vendor.value, a.id))
    if args.output != "table":
        return render.dump([a.model_dump(mode="json", by_alias=True, exclude_none=True) for a in accs], args.output)
    rows = []
    for a in accs:
        fam = cat.efficiency(a)
        shapes = (
            ", ".join(s.topology for s in a.slice_shapes[:3]) + (", ..." if len(a.slice_shapes) > 3 else "")
            if a.slice_shapes
            else "/".join(str(s.chips) for s in a.node_shapes)
        )
        rows.append(
            (
                a.id,
                a.vendor.value,
                f"{a.memory_gib:g}",
                f"{a.memory_bandwidth_tbps:g}",
                "/".join(f"{a.dense_tflops[p]:,.0f}" if p in a.dense_tflops else "-" for p in Precision),
                shapes,
                a.resource_name,
                f"${a.price.per_chip_hour}",
                "calibrated" if fam.calibrated else "analytic",
            )
        )
    return render.table(
        [
            "id",
            "vendor",
            "GiB",
            "TB/s",
            "TFLOPS bf16/fp8/fp4",
            "chips per node",
            "resource",
            "$/chip-h",
            "efficiency",
        ],
        rows,
        right={2, 3, 4, 7},
    )


# --------------------------------------------------------------------------- run


def cmd_run(args: argparse.Namespace) -> str:
    from pathlib import Path

    from infercap import config, handlers

    cfg = config.load(Path(args.config) if args.config else None)
    handlers.run(
        cfg,
        namespaces=args.namespace,
        peering=args.peering,
        liveness=None if args.liveness == "none" else args.liveness,
        log_format=args.log_format,
        verbose=args.verbose,
        metrics_port=args.metrics_port or None,
    )
    return "infercap operator stopped"


# --------------------------------------------------------------------------- simulate


def cmd_simulate(args: argparse.Namespace) -> str:
    import time
    from pathlib import Path

    from infercap import traces
    from infercap.core.autoscale import PolicyConfig
    from infercap.core.simulate import demand_series, plan_setup, rate_series, simulate

    _check_simulate_args(args)
    try:
        requests = traces.scale_rate(traces.load(Path(args.trace), args.format), args.rate_scale)
    except traces.TraceError as e:
        raise ManifestError(str(e)) from None
    started = time.process_time()
    duration = max(1.0, requests[-1].t)
    mean_in = round(sum(r.input_tokens for r in requests) / len(requests))
    mean_out = max(1, round(sum(r.output_tokens for r in requests) / len(requests)))
    spec = _simulate_spec(args, len(requests) / duration, mean_in, mean_out)
    setup, p = plan_setup(
        builtin_catalog(),
        spec,
        args.provisioning_seconds,
        args.target_attainment,
        args.ttft_ms / 1000,
        args.max_num_seqs,
    )
    cfg = PolicyConfig(
        provisioning_seconds=args.provisioning_seconds,
        scale_down_stabilization_seconds=args.stabilization_seconds,
        target_attainment=args.target_attainment,
        seconds_per_request=setup.seconds_per_request,
        wait_seconds=setup.wait_seconds,
    )
    arrivals = [(r.t, r.input_tokens, r.output_tokens) for r in requests]
    outcomes = simulate(arrivals, setup, cfg, args.measured_sli, args.measured_burstiness)
    summary = _simulate_summary(args, len(requests), duration, (mean_in, mean_out), setup, p.chosen, outcomes)
    summary["cpuSeconds"] = round(time.process_time() - started, 2)
    if args.plot:
        demand = rate_series(demand_series(arrivals), 60)
        _plot(Path(args.plot), demand, outcomes, setup.capacity_per_replica)
        summary["plot"] = args.plot
    if args.output != "table":
        return render.dump(summary, args.output)
    return _simulate_table(args, summary, p.chosen.cost.currency)


def _check_simulate_args(args: argparse.Namespace) -> None:
    if not 0 <= args.headroom < 0.95:
        raise ManifestError(f"--headroom must be in [0, 0.95), got {args.headroom}")
    if not 0.5 <= args.target_attainment < 1:
        raise ManifestError(f"--target-attainment must be in [0.5, 1), got {args.target_attainment}")
    for flag, value in (
        ("--provisioning-seconds", args.provisioning_seconds),
        ("--stabilization-seconds", args.stabilization_seconds),
    ):
        if value < 0:
            raise ManifestError(f"{flag} must not be negative, got {value}")
    if args.max_num_seqs is not None and args.max_num_seqs < 1:
        raise ManifestError(f"--max-num-seqs must be positive, got {args.max_num_seqs}")
    for flag, value in (("--ttft-ms", args.ttft_ms), ("--stream-tokens-per-second", args.stream_tokens_per_second)):
        if value <= 0:
            raise ManifestError(f"{flag} must be positive, got {value}")


def _simulate_spec(args: argparse.Namespace, rps: float, mean_in: int, mean_out: int) -> Any:
    """The ModelDeployment the trace stands for: its mean rate and request shape, the flags' SLO."""
    from infercap.api.deployment import ModelDeploymentSpec

    spec_doc: dict[str, Any] = {
        "model": args.model,
        "traffic": {
            "requestsPerSecond": f"{rps:.6f}",
            "inputTokens": mean_in,
            "outputTokens": mean_out,
        },
        "headroom": str(args.headroom),
        "slo": {"outputTokensPerSecondPerStream": str(args.stream_tokens_per_second)},
    }
    if args.precision:
        spec_doc["precision"] = args.precision
    if args.accelerators:
        spec_doc["accelerators"] = [a.strip() for a in args.accelerators.split(",") if a.strip()]
    return ModelDeploymentSpec.model_validate(spec_doc)


def _simulate_summary(
    args: argparse.Namespace,
    count: int,
    duration: float,
    shape: tuple[int, int],
    setup: Any,
    chosen: Any,
    outcomes: list[Any],
) -> dict[str, Any]:
    """`infercap simulate -o json`: the trace, the replica, the SLO and each policy's outcome."""
    mean_in, mean_out = shape
    oracle = next(o for o in outcomes if o.name == "oracle")
    summary: dict[str, Any] = {
        "trace": {
            "file": args.trace,
            "requests": count,
            "seconds": round(duration),
            "meanRequestsPerSecond": round(count / duration, 3),
            "meanInputTokens": mean_in,
            "meanOutputTokens": mean_out,
            "rateScale": args.rate_scale,
        },
        "replica": {
            "accelerator": chosen.accelerator.id,
            "chips": chosen.placement.chips_per_replica,
            "requestsPerSecond": round(setup.capacity_per_replica, 3),
            "sloBatch": chosen.estimate.performance.batch if chosen.estimate.performance else None,
            "maxNumSeqs": setup.service.max_batch,
            "kvSequences": setup.service.kv_sequences,
            "source": str(chosen.estimate.source),
        },
        "slo": {
            "ttftMs": args.ttft_ms,
            "streamTokensPerSecond": args.stream_tokens_per_second,
            "targetAttainment": args.target_attainment,
        },
        "provisioningSeconds": args.provisioning_seconds,
        "oracleLowerBound": str(oracle.lower_bound),
        "policies": {
            o.name: {
                "cost": str(o.cost),
                "acceleratorHours": round(o.accelerator_hours, 2),
                "sloAttainment": round(o.attainment, 5),
                "ttftP99Seconds": round(o.ttft_p99, 3),
                "scaleEvents": o.scale_events,
                "peakReplicas": o.peak_replicas,
                "meanReplicas": round(o.mean_replicas, 2),
                "costVsOracle": round(float(o.cost / oracle.cost), 3) if oracle.cost else None,
            }
            for o in outcomes
        },
    }
    return summary


def _simulate_table(args: argparse.Namespace, summary: dict[str, Any], currency: str) -> str:
    from decimal import Decimal

    t = summary["trace"]
    rep = summary["replica"]
    head = (
        f"trace {args.trace}: {t['requests']:,} requests over {t['seconds']:,} s "
        f"({t['meanRequestsPerSecond']:g} req/s, {t['meanInputTokens']:,} in / {t['meanOutputTokens']:,} out "
        f"tokens, rate x{args.rate_scale:g})\n"
        f"replica: {rep['chips']} x {rep['accelerator']} = {rep['requestsPerSecond']:g} req/s of the mean request "
        f"at batch {rep['sloBatch']} ({rep['source']}); engine admits {rep['maxNumSeqs']} streams "
        f"(--max-num-seqs; KV cache holds {rep['kvSequences']}); provisioning delay "
        f"{args.provisioning_seconds:g} s\n"
        f"SLO: TTFT <= {args.ttft_ms:g} ms and >= {args.stream_tokens_per_second:g} tokens/s per stream, for "
        f"{args.target_attainment:.1%} of requests; oracle lower bound "
        f"{render.money(Decimal(summary['oracleLowerBound']), currency)}\n"
    )
    rows = [
        (
            name,
            render.money(Decimal(v["cost"]), currency),
            f"{v['acceleratorHours']:,.1f}",
            f"{v['sloAttainment']:.2%}",
            f"{v['ttftP99Seconds']:.2f}",
            v["scaleEvents"],
            v["peakReplicas"],
            f"{v['meanReplicas']:.1f}",
            f"{v['costVsOracle']:.2f}x" if v["costVsOracle"] is not None else "-",
        )
        for name, v in summary["policies"].items()
    ]
    headers = [
        "policy",
        "cost",
        "accel-hours",
        "SLO attainment",
        "TTFT p99 s",
        "scale events",
        "peak replicas",
        "mean replicas",
        "vs oracle",
    ]
    table = render.table(headers, rows, right={1, 2, 3, 4, 5, 6, 7, 8})
    tail = f"\n\nsimulated in {summary['cpuSeconds']:g} CPU s" + (f"; plot: {args.plot}" if args.plot else "")
    return head + "\n" + table + tail


def _plot(path: Any, demand: list[float], outcomes: list[Any], capacity_per_replica: float) -> None:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        raise ManifestError("--plot needs matplotlib: pip install 'infercap[plot]'") from None
    fig, ax = plt.subplots(figsize=(11, 5))
    seconds = range(len(demand))
    for o in outcomes:
        style = {"color": "black", "linestyle": "--", "linewidth": 1.6} if o.name == "oracle" else {"linewidth": 1.0}
        ax.step(seconds, [r * capacity_per_replica for r in o.ready], where="post", label=f"{o.name} capacity", **style)
    ax.plot(seconds, demand, color="grey", linewidth=0.8, label="demand (60 s rate)")
    ax.set_xlabel("seconds")
    ax.set_ylabel("requests/s (mean request)")
    ax.set_title("capacity ready to serve (replicas x SLO capacity) vs demand, and the oracle's schedule")
    ax.legend(loc="upper left", fontsize=8)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


# --------------------------------------------------------------------------- profile


def cmd_profile(args: argparse.Namespace) -> str:
    """`infercap profile import`: the only subcommand so far."""
    from infercap import profiles

    if args.chips < 1 or args.pipeline_parallel < 1 or (args.tensor_parallel or 1) < 1:
        raise ManifestError("--chips, --tensor-parallel and --pipeline-parallel must be at least 1")
    cat = builtin_catalog()
    if args.filename:
        try:
            with open(args.filename, encoding="utf-8") as f:
                docs = list(yaml.safe_load_all(f))
        except (OSError, yaml.YAMLError) as e:
            raise ManifestError(f"cannot read {args.filename}: {getattr(e, 'strerror', None) or e}") from None
        m = parse_documents(docs, args.filename)
        if not m.models:
            raise ManifestError(f"{args.filename}: no ModelProfile in it")
        cat = cat.with_overrides(m.models)
    model = cat.model(args.model, "--model")
    cat.accelerator(args.accelerator, "--accelerator")
    runs = [run for path in args.files for run in profiles.read_runs(path)]
    points = profiles.to_points(
        runs,
        accelerator=args.accelerator,
        chips=args.chips,
        precision=Precision(args.precision) if args.precision else None,
        tensor_parallel=args.tensor_parallel,
        pipeline_parallel=args.pipeline_parallel,
        engine=args.engine,
        engine_version=args.engine_version,
    )
    doc = profiles.profile_document(model, points, args.name)
    return yaml.safe_dump(doc, sort_keys=False).rstrip()
