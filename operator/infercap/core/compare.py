"""Two models side by side: a public source's figures (`published`) next to infercap's physics
(`analytic`) on the hardware the source names, and every place the two disagree.

Built for the 2026 GPT-5.5 vs Gemini 3.5 Flash comparison (SEED.md) but works for any two models.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from infercap.api.catalog import ModelProfileSpec, Published, PublishedRatio, Range, RatioFigure
from infercap.api.deployment import ModelDeploymentSpec, Traffic
from infercap.api.types import Precision
from infercap.core.catalog import Catalog
from infercap.core.compute import Workload
from infercap.core.errors import PlanError
from infercap.core.estimate import evaluate
from infercap.core.planner import Plan, plan
from infercap.core.shape import GIB, ModelShape, model_shape

# A reference request: 2,000 tokens in, 800 out. 2,800 tokens is what the seed's "compute per
# inference" implies for GPT-5.5 (2.8 PFLOPs at 2 x 500 B FLOPs per token), so both views meet there.
REFERENCE_INPUT = 2000
REFERENCE_OUTPUT = 800
REFERENCE_RPS = Decimal(10)


@dataclass(frozen=True)
class Fit:
    """Smallest replica of a model on one accelerator, and its single-stream speed."""

    accelerator: str
    chips: int
    precision: Precision
    weights_gib: float
    capacity_gib: float
    stream_tokens_per_second: float  # batch 1


@dataclass(frozen=True)
class Claim:
    """A published chips-per-instance claim checked against memory."""

    accelerator: str
    claimed_chips: float
    precision: Precision
    weights_gib: float
    claimed_memory_gib: float
    fits: bool
    chips_needed: int | None


@dataclass
class ModelView:
    model: ModelProfileSpec
    shape: ModelShape
    published: Published | None
    activation_rate: float
    flops_per_token: float  # decode, at the reference context
    flops_per_request: float  # reference request, prefill + decode
    fits: list[Fit]
    claims: list[Claim]
    plan: Plan | None
    plan_error: str | None
    cost_per_million_output: Decimal | None  # at full utilization of the planned replicas
    api_output_price: Decimal | None

    @property
    def best_stream_speed(self) -> float | None:
        return max((f.stream_tokens_per_second for f in self.fits), default=None)


@dataclass
class Comparison:
    a: ModelView
    b: ModelView
    ratios: list[dict[str, Any]] = field(default_factory=list)
    disagreements: list[str] = field(default_factory=list)


def _flops(shape: ModelShape, work: Workload) -> tuple[float, float]:
    """(FLOPs per decoded token at the mean context, FLOPs of one whole request)."""
    per_token = shape.flops_linear + shape.flops_expert
    decode_token = per_token + shape.attended_keys(work.mean_decode_context) * shape.attn_flops_per_key
    prefill = per_token * work.input_tokens + shape.prefill_attended_keys(work.input_tokens) * (
        shape.prefill_attn_flops_per_key
    )
    return decode_token, prefill + decode_token * work.output_tokens


def _min_fit(catalog: Catalog, model: ModelProfileSpec, shape: ModelShape, acc_id: str, work: Workload) -> Fit | None:
    acc = catalog.accelerator(acc_id, "published.accelerators")
    for chips, _slice in catalog.replica_sizes(acc):
        est = evaluate(catalog, model, shape, acc, chips, work, None)
        if est.fits:
            step = est.replica.step(1, work)
            return Fit(
                acc_id,
                chips,
                shape.precision,
                shape.weight_bytes / GIB,
                est.memory.capacity / GIB,
                1 / step.total,
            )
    return None


def _claims(catalog: Catalog, model: ModelProfileSpec, pub: Published | None) -> list[Claim]:
    out = []
    for c in pub.instance if pub else []:
        acc = catalog.accelerator(c.accelerator, "published.instance")
        # Check the claim at its stated precision, else at the most favourable one (FP4).
        precision = c.precision or Precision.FP4
        weights = model_shape(model, precision).weight_bytes / GIB
        needed = math.ceil(weights / acc.memory_gib)
        out.append(
            Claim(
                c.accelerator,
                c.chips.high,
                precision,
                weights,
                c.chips.high * acc.memory_gib,
                weights <= c.chips.high * acc.memory_gib,
                needed,
            )
        )
    return out


def view(catalog: Catalog, model_id: str) -> ModelView:
    model = catalog.model(model_id, "model")
    shape = model_shape(model)
    work = Workload(REFERENCE_INPUT, REFERENCE_OUTPUT)
    pub = model.published
    accs = list(pub.accelerators) if pub and pub.accelerators else []
    per_token, per_request = _flops(shape, work)
    fits = [f for a in accs if (f := _min_fit(catalog, model, shape, a, work)) is not None]
    spec = ModelDeploymentSpec(
        model=model.id,
        traffic=Traffic(
            requests_per_second=REFERENCE_RPS, input_tokens=REFERENCE_INPUT, output_tokens=REFERENCE_OUTPUT
        ),
        accelerators=accs,
    )
    p: Plan | None = None
    err = None
    try:
        p = plan(catalog, spec)
    except PlanError as e:
        err = e.message
    cost_full = None
    if p is not None:
        perf = p.chosen.estimate.performance
        assert perf is not None
        chips = p.chosen.placement.chips_per_replica
        per_chip_hour = p.chosen.accelerator.price.per_chip_hour
        tokens_hour = Decimal(repr(perf.output_tokens_per_second)) * 3600
        cost_full = (per_chip_hour * chips / tokens_hour * 1_000_000).quantize(Decimal("0.0001"))
    return ModelView(
        model=model,
        shape=shape,
        published=pub,
        activation_rate=shape.active_params / shape.total_params,
        flops_per_token=per_token,
        flops_per_request=per_request,
        fits=fits,
        claims=_claims(catalog, model, pub),
        plan=p,
        plan_error=err,
        cost_per_million_output=cost_full,
        api_output_price=model.api_price.output_per_million if model.api_price else None,
    )


def _ratio(x: float | Decimal | None, y: float | Decimal | None) -> float | None:
    if x is None or y is None or float(y) == 0:
        return None
    return float(x) / float(y)


def _published_ratio(a: ModelView, b: ModelView, figure: RatioFigure) -> PublishedRatio | None:
    """The ratio a's source draws against b (or b's against a, inverted), as a / b."""
    for pr in a.published.comparisons if a.published else []:
        if pr.versus == b.model.id and pr.figure == figure:
            return pr
    for pr in b.published.comparisons if b.published else []:
        if pr.versus == a.model.id and pr.figure == figure:
            inv = Range(low=1 / pr.ratio.high, high=1 / pr.ratio.low)
            return PublishedRatio(versus=b.model.id, figure=figure, ratio=inv, note=pr.note)
    return None


def _concurrency_per_chip(v: ModelView) -> float | None:
    if v.plan is None:
        return None
    est = v.plan.chosen.estimate
    return est.memory.max_sequences / est.chips


def compare(catalog: Catalog, a_id: str, b_id: str) -> Comparison:
    """Compare two models; ratios are always a's figure divided by b's."""
    a, b = view(catalog, a_id), view(catalog, b_id)
    cmp = Comparison(a, b)
    analytic: dict[RatioFigure, tuple[float | None, str]] = {
        RatioFigure.COMPUTE_PER_INFERENCE: (
            _ratio(a.flops_per_request, b.flops_per_request),
            f"one {REFERENCE_INPUT:,}-in / {REFERENCE_OUTPUT:,}-out request: 2 x active parameters per token "
            "plus attention",
        ),
        RatioFigure.OUTPUT_SPEED: (
            _ratio(a.best_stream_speed, b.best_stream_speed),
            "batch-1 decode on the smallest replica of the hardware each source names",
        ),
        RatioFigure.CONCURRENCY: (
            _ratio(_concurrency_per_chip(a), _concurrency_per_chip(b)),
            "requests whose KV cache fits, per chip, on each model's cheapest replica",
        ),
        RatioFigure.TOKENS_PER_COMPUTE: (
            _ratio(b.flops_per_token, a.flops_per_token),
            "inverse of FLOPs per generated token",
        ),
        RatioFigure.COST_PER_TOKEN: (
            _ratio(a.cost_per_million_output, b.cost_per_million_output),
            "self-hosted cost per output token on the cheapest named hardware at full load",
        ),
    }
    figures = list(RatioFigure)
    for figure in figures:
        pub = _published_ratio(a, b, figure)
        ana, how = analytic.get(figure, (None, ""))
        if pub is None and ana is None:
            continue
        cmp.ratios.append(
            {
                "figure": str(figure),
                "published": (pub.ratio.low, pub.ratio.high) if pub else None,
                "publishedNote": pub.note if pub else "",
                "analytic": ana,
                "analyticNote": how,
            }
        )
    api = _ratio(a.api_output_price, b.api_output_price)
    if api is not None:
        cmp.ratios.append(
            {
                "figure": "apiOutputPrice",
                "published": (api, api),
                "publishedNote": "list prices",
                "analytic": None,
                "analyticNote": "",
            }
        )
    cmp.disagreements = _disagreements(a) + _disagreements(b) + _ratio_disagreements(cmp)
    return cmp


def _disagreements(v: ModelView) -> list[str]:
    out: list[str] = []
    m = v.model
    pub = v.published
    if pub is None:
        return out
    for c in v.claims:
        if not c.fits:
            out.append(
                f"{m.id}: {c.claimed_chips:g} x {c.accelerator} hold {c.claimed_memory_gib:,.0f} GiB, but "
                f"{v.shape.total_params / 1e12:,.2f} T parameters take {c.weights_gib:,.0f} GiB even at "
                f"{c.precision}; {c.chips_needed} chips is the minimum for the weights alone"
            )
    if pub.activation_rate_percent is not None and pub.total_params_b and pub.active_params_b:
        lo = pub.active_params_b.low / pub.total_params_b.high * 100
        hi = pub.active_params_b.high / pub.total_params_b.low * 100
        stated = pub.activation_rate_percent
        if stated.low > hi + 0.5 or stated.high < lo - 0.5:
            out.append(
                f"{m.id}: stated activation rate {stated.low:g}-{stated.high:g} % contradicts "
                f"{pub.active_params_b.mid:g} B active of {pub.total_params_b.low:g}-{pub.total_params_b.high:g} B "
                f"total = {lo:.0f}-{hi:.0f} %"
            )
    if pub.compute_per_inference_pflops is not None:
        implied = pub.compute_per_inference_pflops.mid * 1e15 / (2 * v.shape.active_params)
        out.append(
            f"{m.id}: 'compute per inference' {pub.compute_per_inference_pflops.mid:g} PFLOPs has no unit; at "
            f"2 x {v.shape.active_params / 1e9:,.0f} B = {2 * v.shape.active_params / 1e12:,.2f} TFLOPs per "
            f"token it is a whole request of about {implied:,.0f} tokens, not one token"
        )
    speed = v.best_stream_speed
    if pub.output_tokens_per_second and speed:
        r = speed / pub.output_tokens_per_second
        if r < 0.67 or r > 1.5:
            best = max(v.fits, key=lambda f: f.stream_tokens_per_second)
            out.append(
                f"{m.id}: published {pub.output_tokens_per_second:g} tokens/s per stream; physics gives "
                f"{speed:,.0f} tokens/s at batch 1 on {best.chips} x {best.accelerator} ({r:.1f}x)"
            )
    if m.estimated:
        out.append(f"{m.id}: architecture not disclosed; infercap's analytic view uses an estimated one")
    return out


def _ratio_disagreements(cmp: Comparison) -> list[str]:
    out = []
    for r in cmp.ratios:
        pub, ana = r["published"], r["analytic"]
        if pub is None or ana is None:
            continue
        lo, hi = pub
        if ana < lo / 1.5 or ana > hi * 1.5:
            shown = f"{lo:.2g}x" if lo == hi else f"{lo:.2g}-{hi:.2g}x"
            out.append(
                f"{r['figure']} ({cmp.a.model.id} / {cmp.b.model.id}): published {shown}, physics "
                f"{ana:.2g}x ({r['analyticNote']})"
            )
    return out


def comparison_dict(cmp: Comparison) -> dict[str, Any]:
    def side(v: ModelView) -> dict[str, Any]:
        pub = v.published
        published: dict[str, Any] | None = None
        if pub is not None:
            published = pub.model_dump(mode="json", by_alias=True, exclude_none=True, exclude={"sources"})
            published["sources"] = pub.sources
        p = v.plan
        analytic: dict[str, Any] = {
            "totalParamsB": round(v.shape.total_params / 1e9, 1),
            "activeParamsB": round(v.shape.active_params / 1e9, 1),
            "activationRatePercent": round(v.activation_rate * 100, 1),
            "precision": str(v.shape.precision),
            "weightsGiB": round(v.shape.weight_bytes / GIB, 1),
            "tflopsPerOutputToken": round(v.flops_per_token / 1e12, 3),
            "pflopsPerReferenceRequest": round(v.flops_per_request / 1e15, 3),
            "referenceRequest": {"inputTokens": REFERENCE_INPUT, "outputTokens": REFERENCE_OUTPUT},
            "smallestReplicas": [
                {
                    "accelerator": f.accelerator,
                    "chips": f.chips,
                    "capacityGiB": round(f.capacity_gib, 1),
                    "streamTokensPerSecond": round(f.stream_tokens_per_second, 1),
                }
                for f in v.fits
            ],
            "instanceClaims": [
                {
                    "accelerator": c.accelerator,
                    "claimedChips": c.claimed_chips,
                    "precision": str(c.precision),
                    "weightsGiB": round(c.weights_gib, 1),
                    "claimedMemoryGiB": round(c.claimed_memory_gib, 1),
                    "fits": c.fits,
                    "chipsNeededForWeights": c.chips_needed,
                }
                for c in v.claims
            ],
            "source": "analytic",
        }
        if p is not None:
            perf = p.chosen.estimate.performance
            assert perf is not None
            analytic["cheapestReplica"] = {
                "accelerator": p.chosen.accelerator.id,
                "chips": p.chosen.placement.chips_per_replica,
                "outputTokensPerSecond": round(perf.output_tokens_per_second, 1),
                "streamTokensPerSecond": round(perf.stream_tokens_per_second, 1),
                "costPerMillionOutputTokens": str(v.cost_per_million_output),
                "source": str(p.source),
            }
        else:
            analytic["cheapestReplica"] = None
            analytic["planError"] = v.plan_error
        return {
            "model": v.model.id,
            "displayName": v.model.display_name,
            "published": published,
            "analytic": analytic,
            "apiPrice": v.model.api_price.model_dump(mode="json", by_alias=True) if v.model.api_price else None,
        }

    return {
        "models": [side(cmp.a), side(cmp.b)],
        "ratioOf": f"{cmp.a.model.id} / {cmp.b.model.id}",
        "ratios": [
            {
                "figure": r["figure"],
                "published": None
                if r["published"] is None
                else {"low": round(r["published"][0], 3), "high": round(r["published"][1], 3)},
                "publishedNote": r["publishedNote"],
                "analytic": None if r["analytic"] is None else round(r["analytic"], 3),
                "analyticNote": r["analyticNote"],
            }
            for r in cmp.ratios
        ],
        "disagreements": cmp.disagreements,
    }
