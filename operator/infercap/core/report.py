"""Plans and estimates as plain dicts (camelCase, JSON-ready): the shape of `infercap plan -o json`
and of a ModelDeployment's status.plan."""

from __future__ import annotations

from typing import Any

from infercap.core.compute import Memory, Performance
from infercap.core.estimate import Estimate
from infercap.core.planner import Option, Plan
from infercap.core.shape import GIB


def _r(x: float, digits: int = 2) -> float:
    return round(x, digits)


def memory_dict(mem: Memory) -> dict[str, Any]:
    return {
        "capacityGiB": _r(mem.capacity / GIB, 1),
        "weightsGiB": _r(mem.weights / GIB, 1),
        "reserveGiB": _r(mem.reserve / GIB, 1),
        "kvCacheGiB": _r(mem.kv_pool / GIB, 1),
        "kvPerRequestMiB": _r(mem.kv_per_sequence / 2**20, 1),
        "maxConcurrentRequests": mem.max_sequences,
    }


def performance_dict(perf: Performance) -> dict[str, Any]:
    step = perf.step
    return {
        "outputTokensPerSecond": _r(perf.output_tokens_per_second, 1),
        "requestsPerSecond": _r(perf.requests_per_second, 3),
        "batch": perf.batch,
        "batchLimit": str(perf.batch_limit),
        "streamTokensPerSecond": _r(perf.stream_tokens_per_second, 1),
        "timePerOutputTokenMs": _r(step.total * 1000, 2),
        "timeToFirstTokenMs": _r(perf.time_to_first_token_s * 1000, 1),
        "bound": str(step.bound),
        "stepMs": {
            "linear": _r(step.linear * 1000, 3),
            "experts": _r(step.experts * 1000, 3),
            "attention": _r(step.attention * 1000, 3),
            "communication": _r(step.communication * 1000, 3),
            "overhead": _r(step.overhead * 1000, 3),
        },
    }


def estimate_dict(est: Estimate) -> dict[str, Any]:
    """`infercap estimate -o json`: what one replica configuration sustains."""
    perf = est.performance
    s = est.shape
    out: dict[str, Any] = {
        "model": est.model.id,
        "accelerator": est.accelerator.id,
        "chips": est.chips,
        "precision": str(s.precision),
        "expertPrecision": str(s.expert_precision) if s.is_moe else None,
        "kvCachePrecision": str(s.kv_precision),
        "inputTokens": est.workload.input_tokens,
        "outputTokens": est.workload.output_tokens,
        "fits": est.fits,
        "source": str(est.source),
        "memory": memory_dict(est.memory),
        "parallelism": parallelism(est),
    }
    if perf is not None:
        out.update(performance_dict(perf))
    else:
        out.update({"outputTokensPerSecond": 0.0, "requestsPerSecond": 0.0, "batch": 0, "bound": None})
    out["rooflineOutputTokensPerSecond"] = _r(roofline_tokens_per_second(est), 1)
    return out


def parallelism(est: Estimate) -> dict[str, int]:
    r = est.replica
    out = {"tensor": r.tp, "pipeline": r.stages}
    if est.shape.is_moe:
        out["expert"] = r.tp
    if r.attention_dp:
        out["attentionTensor"] = r.attention_tp
        out["attentionDataParallel"] = r.attention_groups
    return out


def roofline_tokens_per_second(est: Estimate) -> float:
    """Bandwidth ceiling of decode at the estimate's batch: every chip streaming the weights it must
    read plus the KV cache, at peak bandwidth, with nothing else. No estimate may beat it."""
    perf = est.performance
    if perf is None:
        return 0.0
    step = perf.step
    peak_time = (step.weight_bytes_read + step.kv_bytes_read) / est.replica.peak_bw
    return perf.batch / peak_time if peak_time > 0 else float("inf")


def option_summary(o: Option) -> dict[str, Any]:
    perf = o.estimate.performance
    assert perf is not None
    out: dict[str, Any] = {
        "accelerator": o.accelerator.id,
        "chipsPerReplica": o.placement.chips_per_replica,
        "replicas": o.placement.replicas,
        "nodes": o.placement.nodes,
        "chips": o.placement.chips,
        "replicaOutputTokensPerSecond": _r(perf.output_tokens_per_second, 1),
        "source": str(o.estimate.source),
    }
    out.update({f"cost{k[0].upper()}{k[1:]}": v for k, v in o.cost.to_dict().items()})
    return out


def option_dict(o: Option) -> dict[str, Any]:
    est = o.estimate
    perf = est.performance
    assert perf is not None
    pl = o.placement
    node: dict[str, Any] = {"chips": pl.chips_per_node, "label": pl.node_label}
    if pl.slice is not None:
        node.update({"topology": pl.slice.topology, "machineType": pl.slice.machine_type})
    elif pl.node_shape is not None and pl.node_shape.instance_types:
        node["instanceTypes"] = dict(pl.node_shape.instance_types)
    return {
        "accelerator": o.accelerator.id,
        "chipsPerReplica": pl.chips_per_replica,
        "parallelism": parallelism(est),
        "replicas": pl.replicas,
        "nodes": pl.nodes,
        "chips": pl.chips,
        "node": node,
        "precision": str(est.shape.precision),
        "kvCachePrecision": str(est.shape.kv_precision),
        "perReplica": performance_dict(perf),
        "memory": memory_dict(est.memory),
        "capacityRequestsPerSecond": _r(o.capacity_rps, 3),
        "utilization": _r(o.utilization, 3),
        "source": str(est.source),
    }


def plan_dict(p: Plan) -> dict[str, Any]:
    """The full plan: chosen option, cost, budget, alternatives, rejections, explanation."""
    applied = p.applied
    out: dict[str, Any] = {
        "model": p.model.id,
        "demand": {
            "requestsPerSecond": _r(p.demand_rps, 4),
            "inputTokens": p.workload.input_tokens,
            "outputTokens": p.workload.output_tokens,
            "outputTokensPerSecond": _r(p.demand_rps * p.workload.output_tokens, 1),
        },
        "plan": option_dict(applied),
        "cost": applied.cost.to_dict(),
        "alternatives": [option_summary(a) for a in p.alternatives[:3]],
        "rejected": [{"accelerator": r.accelerator, "reason": r.reason, "message": r.message} for r in p.rejections],
        "explanation": p.explanation,
    }
    if p.budget is not None:
        out["budget"] = {
            "maxMonthlyCost": str(p.budget.max_monthly),
            "currency": p.budget.currency,
            "withinBudget": p.budget.within,
            "unconstrainedMonthlyCost": str(p.chosen.cost.monthly),
            "affordableReplicas": p.budget.affordable_replicas,
            "demandCoverage": _r(p.budget.coverage, 3),
        }
    return out
