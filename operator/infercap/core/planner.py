"""The planner: for a ModelDeployment spec, the cheapest accelerator, replica size, replica count and
node count that serve the traffic within the SLO, with ranked alternatives and an explanation."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from decimal import Decimal

from infercap.api.catalog import AcceleratorProfileSpec, ModelProfileSpec
from infercap.api.deployment import MAX_REQUESTS_PER_SECOND, ModelDeploymentSpec
from infercap.core.catalog import Catalog
from infercap.core.compute import Workload
from infercap.core.cost import HOURS_PER_MONTH, Cost, plan_cost
from infercap.core.errors import PlanError
from infercap.core.estimate import Estimate, Source, check_workload, evaluate
from infercap.core.limits import Ceiling, allowed_replicas
from infercap.core.shape import GIB, ModelShape
from infercap.core.sizes import Placement, largest_true, place, replicas_for

# Demand one ModelDeployment plans for (the CRD bounds spec.traffic the same way; a metric may say more).
MAX_DEMAND_RPS = MAX_REQUESTS_PER_SECOND
MIN_DEMAND_RPS = 1e-6
# Most replicas of one plan: far above any fleet, and it keeps every count and sum finite and small.
MAX_REPLICAS = 1_000_000

# How far past the smallest replica that fits the planner looks (x2 steps): bigger replicas hold
# more KV cache and batch larger, but pay more communication; beyond 8x they never win.
_SIZE_STEPS = 4


@dataclass(frozen=True)
class Option:
    """One feasible way to serve the traffic."""

    accelerator: AcceleratorProfileSpec
    estimate: Estimate
    placement: Placement
    cost: Cost
    demand_rps: float
    headroom: float

    @property
    def capacity_rps(self) -> float:
        assert self.estimate.performance is not None
        return self.estimate.performance.requests_per_second * self.placement.replicas

    @property
    def utilization(self) -> float:
        return self.demand_rps / self.capacity_rps if self.capacity_rps else 0.0

    @property
    def sort_key(self) -> tuple[Decimal, int, int]:
        return (self.cost.hourly, self.placement.chips, self.placement.chips_per_replica)


@dataclass(frozen=True)
class Rejection:
    """Why an accelerator offered no option."""

    accelerator: str
    reason: str  # PascalCase
    message: str


@dataclass(frozen=True)
class BudgetCheck:
    max_monthly: Decimal
    currency: str
    within: bool
    affordable_replicas: int  # replicas of the chosen option that fit the budget
    capped: Option | None  # the chosen option cut to the budget, when over it

    @property
    def coverage(self) -> float:
        """Share of demand the capped plan serves (1 when within budget)."""
        if self.within or self.capped is None:
            return 1.0
        if self.capped.demand_rps <= 0:
            return 1.0
        return min(1.0, self.capped.capacity_rps * (1 - self.capped.headroom) / self.capped.demand_rps)


@dataclass(frozen=True)
class LimitCheck:
    """The admin ceilings that cut the plan (after the budget): what binds and what is left."""

    binding: list[str]  # scopes of the ceilings that bind
    capped: Option  # the plan cut to the ceilings (0 replicas: nothing may be applied)


@dataclass(frozen=True)
class Plan:
    """The planner's answer."""

    model: ModelProfileSpec
    shape: ModelShape
    workload: Workload
    demand_rps: float
    chosen: Option
    alternatives: list[Option]
    rejections: list[Rejection]
    budget: BudgetCheck | None
    explanation: list[str] = field(default_factory=list)
    limit: LimitCheck | None = None

    @property
    def source(self) -> Source:
        return self.chosen.estimate.source

    @property
    def applied(self) -> Option:
        """What to provision: the chosen option, cut to the budget, then to the admin ceilings."""
        if self.limit is not None:
            return self.limit.capped
        if self.budget is not None and not self.budget.within and self.budget.capped is not None:
            return self.budget.capped
        return self.chosen


# --------------------------------------------------------------------------- planning


def plan(
    catalog: Catalog,
    spec: ModelDeploymentSpec,
    *,
    demand_rps: float | None = None,
    min_replicas: int = 1,
    max_replicas: int | None = None,
    ceilings: Sequence[Ceiling] = (),
    headroom: float | None = None,
    step_time_factors: Mapping[str, float] | None = None,
) -> Plan:
    """Plan `spec`. `demand_rps` overrides the spec's traffic (the autoscaler passes observed demand);
    replicas stay within [min_replicas, max_replicas]; the applied plan stays under `ceilings`;
    `headroom` overrides spec.headroom (the autoscaler's demand may already carry its own margin:
    core.autoscale.planning_headroom); `step_time_factors` multiplies the step time of an accelerator
    (by id) by what online calibration observed of this deployment, dividing its replica throughput."""
    model = catalog.model(spec.model)
    work = check_workload(
        model,
        spec.traffic.input_tokens,
        spec.traffic.output_tokens,
        "spec.traffic.inputTokens",
        "spec.traffic.outputTokens",
    )
    demand = spec.traffic.rps if demand_rps is None else demand_rps
    if demand < 0 or not math.isfinite(demand):
        raise PlanError("InvalidTraffic", f"demand must be non-negative, got {demand}", "spec.traffic")
    if demand > MAX_DEMAND_RPS:
        raise PlanError(
            "DemandTooHigh",
            f"demand {demand:.3g} req/s is above the {MAX_DEMAND_RPS:,} req/s one ModelDeployment plans for; "
            f"split the traffic over several ModelDeployments",
            "spec.traffic",
        )
    if demand < MIN_DEMAND_RPS:
        demand = 0.0  # below the resolution of spec.traffic: no demand (min replicas), not a cost per token of 1e30
    ids = spec.accelerators or sorted(catalog.accelerators)
    accs = [catalog.accelerator(a, f"spec.accelerators[{i}]") for i, a in enumerate(ids)]
    shape = catalog.shape(model, spec.precision, spec.kv_cache_precision)
    headroom = float(spec.headroom) if headroom is None else headroom
    stream = spec.slo.output_tokens_per_second_per_stream
    min_stream = float(stream) if stream is not None else None
    ttft_limit = spec.slo.time_to_first_token_ms / 1000 if spec.slo.time_to_first_token_ms else None

    best_per_acc: list[Option] = []
    rejections: list[Rejection] = []
    for acc in accs:
        option, rejection = _best_for(
            catalog,
            model,
            shape,
            acc,
            work,
            demand,
            headroom,
            min_stream,
            ttft_limit,
            min_replicas,
            max_replicas,
            (step_time_factors or {}).get(acc.id, 1.0),
        )
        if option is not None:
            best_per_acc.append(option)
        elif rejection is not None:
            rejections.append(rejection)
    if not best_per_acc:
        raise _no_plan(model, shape, rejections, len(accs))
    best_per_acc.sort(key=lambda o: o.sort_key)
    chosen, alternatives = best_per_acc[0], best_per_acc[1:]
    budget = _budget(spec, chosen, catalog)
    result = Plan(model, shape, work, demand, chosen, alternatives, rejections, budget)
    if ceilings:
        base = result.applied
        pl = base.placement
        n, binding = allowed_replicas(base.accelerator, pl.chips_per_replica, pl.slice, pl.replicas, ceilings)
        if binding:
            result = replace(result, limit=LimitCheck(binding, _at_replicas(base, n)))
    return replace(result, explanation=explain(result))


def _best_for(
    catalog: Catalog,
    model: ModelProfileSpec,
    shape: ModelShape,
    acc: AcceleratorProfileSpec,
    work: Workload,
    demand: float,
    headroom: float,
    min_stream: float | None,
    ttft_limit: float | None,
    min_replicas: int,
    max_replicas: int | None,
    time_factor: float = 1.0,
) -> tuple[Option | None, Rejection | None]:
    sizes = catalog.replica_sizes(acc)
    considered = 0
    last_problem: Rejection | None = None
    best: tuple[tuple[int, int], Estimate, Placement] | None = None
    capacity_per_chip = acc.memory_gib * GIB
    # Node placements buy at least replicas x chips; no size has fewer replicas than this.
    fewest = min(min_replicas, max_replicas) if max_replicas is not None else min_replicas
    for chips, slice_ in sizes:
        if considered == _SIZE_STEPS:
            break  # the sizes after these cannot win (see _SIZE_STEPS): no need to model them
        if best is not None and slice_ is None and best[0][0] <= chips * fewest:
            break  # this size and the larger ones buy at least as many chips as the best: none wins
        if shape.weight_bytes >= chips * capacity_per_chip:
            continue  # cannot hold the weights alone: no need to model it
        est = evaluate(catalog, model, shape, acc, chips, work, min_stream, time_factor)
        if not est.fits:
            continue
        considered += 1
        perf = est.performance
        if perf is None:
            last_problem = Rejection(
                acc.id,
                "SloUnreachable",
                f"{chips} x {acc.id}: even one stream decodes slower than {min_stream:g} tokens/s"
                if min_stream
                else f"{chips} x {acc.id}: no batch fits",
            )
            continue
        if ttft_limit is not None and perf.time_to_first_token_s > ttft_limit:
            last_problem = Rejection(
                acc.id,
                "SloUnreachable",
                f"{chips} x {acc.id}: time to first token {perf.time_to_first_token_s * 1000:.0f} ms "
                f"exceeds {ttft_limit * 1000:.0f} ms",
            )
            continue
        replicas = replicas_for(demand, perf.requests_per_second, headroom, min_replicas, max_replicas)
        if replicas > MAX_REPLICAS:
            last_problem = Rejection(
                acc.id,
                "PlanTooLarge",
                f"{chips} x {acc.id}: {replicas:,} replicas needed, more than the {MAX_REPLICAS:,} infercap plans",
            )
            continue
        placement = place(acc, chips, slice_, replicas)
        # Every size of one accelerator has the same price per chip: compare chips, price the winner.
        key = (placement.chips, chips)
        if best is None or key < best[0]:
            best = (key, est, placement)
    if best is not None:
        return _priced(acc, best[1], best[2], demand, headroom), None
    if considered == 0:
        need = shape.weight_bytes / GIB
        largest = sizes[-1][0]
        return None, Rejection(
            acc.id,
            "ModelDoesNotFit",
            f"{model.id} needs {need:,.0f} GiB of weights plus KV cache; the largest {acc.id} replica "
            f"({largest} chips, {largest * acc.memory_gib:,.0f} GiB) does not hold it",
        )
    return None, last_problem


def _no_plan(model: ModelProfileSpec, shape: ModelShape, rejections: list[Rejection], tried: int) -> PlanError:
    reasons = {r.reason for r in rejections}
    detail = "; ".join(r.message for r in rejections[:4])
    if "PlanTooLarge" in reasons:
        return PlanError(
            "PlanTooLarge",
            f"the traffic needs more than {MAX_REPLICAS:,} replicas: {detail}. Lower spec.traffic or split it "
            f"over several ModelDeployments",
            "spec.traffic",
        )
    if reasons == {"ModelDoesNotFit"}:
        return PlanError(
            "ModelDoesNotFit",
            f"{model.id} ({shape.weight_bytes / GIB:,.0f} GiB at {shape.precision}) fits none of the "
            f"{tried} candidate accelerators: {detail}. Add larger accelerators to spec.accelerators or "
            f"use a lower spec.precision",
            "spec.accelerators",
        )
    return PlanError(
        "SloUnreachable",
        f"no candidate meets the SLO: {detail}. Relax spec.slo or add faster accelerators",
        "spec.slo",
    )


def _budget(spec: ModelDeploymentSpec, chosen: Option, catalog: Catalog) -> BudgetCheck | None:
    if spec.budget is None:
        return None
    limit = spec.budget.max_monthly_cost
    if spec.budget.currency != chosen.cost.currency:
        raise PlanError(
            "CurrencyMismatch",
            f"budget is in {spec.budget.currency} but {chosen.accelerator.id} is priced in "
            f"{chosen.cost.currency}; set spec.budget.currency to {chosen.cost.currency}",
            "spec.budget.currency",
        )
    if chosen.cost.monthly <= limit:
        return BudgetCheck(limit, spec.budget.currency, True, chosen.placement.replicas, None)
    # Largest replica count whose nodes fit the budget: nodes (so cost) never fall as replicas grow, so
    # bisect; 0 replicas (nothing applied) when not even one fits.
    acc = chosen.accelerator
    per_chip_month = acc.price.per_chip_hour * HOURS_PER_MONTH
    size, slice_ = chosen.placement.chips_per_replica, chosen.placement.slice

    def fits(replicas: int) -> bool:
        return per_chip_month * place(acc, size, slice_, replicas).chips <= limit

    capped = _at_replicas(chosen, largest_true(fits, chosen.placement.replicas))
    return BudgetCheck(limit, spec.budget.currency, False, capped.placement.replicas, capped)


def _priced(acc: AcceleratorProfileSpec, est: Estimate, placement: Placement, demand: float, headroom: float) -> Option:
    """The option of this estimate and placement, priced at what it serves of the demand."""
    perf = est.performance
    assert perf is not None
    served = min(demand, perf.requests_per_second * placement.replicas)
    work = est.workload
    cost = plan_cost(
        placement.chips, acc.price, served * work.output_tokens, served * work.input_tokens, est.model.api_price
    )
    return Option(acc, est, placement, cost, demand, headroom)


def _at_replicas(option: Option, replicas: int) -> Option:
    """The same option with fewer replicas, repacked and repriced (what it serves of the demand)."""
    acc = option.accelerator
    placement = place(acc, option.placement.chips_per_replica, option.placement.slice, replicas)
    return _priced(acc, option.estimate, placement, option.demand_rps, option.headroom)


# --------------------------------------------------------------------------- explanation


def explain(p: Plan) -> list[str]:
    """Plain sentences behind every number of the chosen option."""
    o = p.chosen
    est = o.estimate
    perf = est.performance
    assert perf is not None
    mem = est.memory
    s = p.shape
    pl = o.placement
    lines = [
        f"Model {p.model.id}: {s.total_params / 1e9:,.1f} B parameters ({s.active_params / 1e9:,.1f} B active"
        f" per token), weights {s.weight_bytes / GIB:,.1f} GiB at {s.precision}"
        + (f" (experts {s.expert_precision})" if s.is_moe and s.expert_precision != s.precision else "")
        + f"; KV cache {s.kv_bytes(p.workload.peak_context) / 2**20:,.1f} MiB per request of "
        f"{p.workload.peak_context:,} tokens at {s.kv_precision}.",
        f"Replica: {pl.chips_per_replica} x {o.accelerator.id} ({mem.capacity / GIB:,.0f} GiB): weights "
        f"{mem.weights / GIB:,.1f} GiB, runtime reserve {mem.reserve / GIB:,.1f} GiB, KV-cache pool "
        f"{mem.kv_pool / GIB:,.1f} GiB = {mem.max_sequences:,} concurrent requests.",
        f"Decode step {perf.step.total * 1000:,.1f} ms at batch {perf.batch:,} (limit: {perf.batch_limit}; "
        f"{perf.step.bound} bound: bandwidth-bound work {perf.step.memory_time * 1000:,.1f} ms, compute-bound work "
        f"{perf.step.compute_time * 1000:,.1f} ms, communication {perf.step.communication * 1000:,.1f} ms)"
        f" -> {perf.stream_tokens_per_second:,.1f} tokens/s per stream, time to first token "
        f"{perf.time_to_first_token_s * 1000:,.0f} ms.",
        f"Replica throughput {perf.output_tokens_per_second:,.0f} output tokens/s = "
        f"{perf.requests_per_second:,.2f} requests/s (source: {est.source}).",
        f"Replicas: demand {p.demand_rps:,.2f} req/s / ({perf.requests_per_second:,.2f} x (1 - headroom "
        f"{o.headroom:g})) -> {pl.replicas} replica(s), planned utilization {o.utilization:.0%}.",
        f"Nodes: {pl.replicas} x {pl.chips_per_replica} chips on {pl.nodes} node(s) of {pl.chips_per_node} "
        f"({pl.node_label}) = {pl.chips} chips.",
        f"Cost: {pl.chips} chips x {o.accelerator.price.per_chip_hour} {o.cost.currency}/chip-hour = "
        f"{o.cost.hourly} {o.cost.currency}/h, {o.cost.monthly} {o.cost.currency}/month"
        + (
            f", {o.cost.per_million_output_tokens} {o.cost.currency} per million output tokens"
            if o.cost.per_million_output_tokens is not None
            else ""
        )
        + (f"; the vendor API would cost {o.cost.api_hourly}/h" if o.cost.api_hourly is not None else "")
        + ".",
    ]
    if est.correction is not None:
        model_rps = perf.requests_per_second * est.correction
        lines.append(
            f"Online calibration: the running replicas' step time on {o.accelerator.id} is {est.correction:.2f}x "
            f"the model's, so replica throughput is {perf.requests_per_second:,.2f} req/s instead of "
            f"{model_rps:,.2f}; the model alone would plan "
            f"{replicas_for(p.demand_rps, model_rps, o.headroom)} replica(s), the correction plans {pl.replicas}."
        )
    if p.alternatives:
        alt = ", ".join(
            f"{a.accelerator.id} {a.placement.chips} chips {a.cost.monthly}/month" for a in p.alternatives[:3]
        )
        lines.append(f"Next best: {alt}.")
    if p.rejections:
        lines.append("Not used: " + "; ".join(f"{r.accelerator} ({r.reason})" for r in p.rejections[:6]) + ".")
    if p.budget is not None and not p.budget.within:
        if p.budget.affordable_replicas == 0:
            lines.append(
                f"Over budget: {o.cost.monthly} > {p.budget.max_monthly} {p.budget.currency}/month, and one "
                f"replica already costs more; nothing is applied."
            )
        else:
            lines.append(
                f"Over budget: {o.cost.monthly} > {p.budget.max_monthly} {p.budget.currency}/month; capped at "
                f"{p.budget.affordable_replicas} replica(s), serving {p.budget.coverage:.0%} of demand."
            )
    if p.limit is not None:
        capped = p.limit.capped.placement
        lines.append(
            f"Admin ceiling: {'; '.join(p.limit.binding)} allows {capped.replicas} replica(s) on {capped.nodes} "
            f"node(s) ({capped.chips} chips)" + ("; nothing is applied." if capped.replicas == 0 else ".")
        )
    return lines
