"""Trace replay: trace formats, rate scaling, the simulator's accounting, and `infercap simulate` on the
real Azure trace (the oracle reaches the SLO attainment target and no policy that reaches it costs less
than the oracle's lower bound), and the policy on synthetic traces."""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path

import pytest

from infercap import traces
from infercap.cli.main import main
from infercap.core.autoscale import PolicyConfig
from infercap.core.latency import LatencySlo, Observation, ServiceModel
from infercap.core.simulate import (
    Setup,
    _fixed,
    demand_series,
    requests_of,
    simulate,
    static_feasible,
    static_peak,
)
from infercap.demand import DemandError, parse_response
from infercap.traces import poisson

ROOT = Path(__file__).resolve().parents[2]
AZURE = ROOT / "data" / "traces" / "AzureLLMInferenceTrace_code.csv"


def test_formats(tmp_path: Path) -> None:
    azure = traces.parse(
        "TIMESTAMP,ContextTokens,GeneratedTokens\n2023-11-16 18:17:03.9799600,4808,10\n"
        "2023-11-16 18:17:05.4799600,100,0\n",
        "azure",
    )
    assert [(round(r.t, 3), r.input_tokens, r.output_tokens) for r in azure] == [(0.0, 4808, 10), (1.5, 100, 1)]
    moon = traces.parse(
        '{"timestamp": 2000, "input_length": 5, "output_length": 7}\n'
        '{"timestamp": 500, "input_length": 1, "output_length": 2}\n',
        "mooncake",
    )
    assert [(r.t, r.input_tokens) for r in moon] == [(0.0, 1), (1.5, 5)]
    plain = traces.parse("timestamp,input_tokens,output_tokens\n10,100,20\n12.5,200,30\n", "csv")
    assert [r.t for r in plain] == [0.0, 2.5]
    p = tmp_path / "t.jsonl"
    p.write_text('{"timestamp": 0, "input_length": 5, "output_length": 7}\n')
    assert traces.load(p)[0].output_tokens == 7


@pytest.mark.parametrize(
    ("text", "fmt", "needle"),
    [
        ("a,b\n1,2\n", "csv", "missing column"),
        ("TIMESTAMP,ContextTokens,GeneratedTokens\nyesterday,1,1\n", "azure", "line 2"),
        ("{not json}\n", "mooncake", "line 1"),
        ("timestamp,input_tokens,output_tokens\n", "csv", "no requests"),
    ],
)
def test_bad_traces(text: str, fmt: str, needle: str) -> None:
    with pytest.raises(traces.TraceError) as err:
        traces.parse(text, fmt, "t")
    assert needle in str(err.value)


def test_rate_scaling_keeps_count_and_span() -> None:
    base = traces.load(AZURE)
    scaled = traces.scale_rate(base, 3.5, seed=1)
    assert abs(len(scaled) - 3.5 * len(base)) < 0.02 * len(base)
    assert max(r.t for r in scaled) <= base[-1].t + 1


def setup(delay: float = 0, ttft: float = 1.0, tokens: int = 10) -> Setup:
    """Replicas of 10 slots; a stream decodes at 1 / (0.01 + 0.001 b) tokens/s at batch b, and the SLO (50
    tokens/s) holds up to b = 10, the engine's admission cap (as infercap renders it); prefill 0.1 s. A
    request of `tokens` output tokens holds a slot tokens x 0.02 s at b = 10: 10 tokens make 50 req/s a
    replica. It may wait ttft - 0.12 s for a slot (prefill and one step at b = 10)."""
    service = ServiceModel(tuple(0.01 + 0.001 * max(1, b) for b in range(11)), 10, 40)
    hold = tokens * 0.02
    return Setup(
        capacity_per_replica=10 / hold,
        service=service,
        slo=LatencySlo(ttft, 50.0),
        prefill_seconds=lambda _: 0.1,
        chips_for=lambda n: 2 * n,
        price_per_chip_hour=Decimal(3600),
        headroom=0.2,
        seconds_per_request=hold,
        wait_seconds=ttft - 0.12,
        provisioning_seconds=delay,
        sync_seconds=15,
    )


def test_accounting_on_a_constant_load() -> None:
    arrivals = poisson(lambda _: 100.0, 1200)
    assert sum(demand_series(arrivals)) == len(arrivals)
    outcomes = {o.name: o for o in simulate(arrivals, setup(), PolicyConfig(provisioning_seconds=0), True)}
    # The infercap row runs what the operator runs (the error budget on the queueing model's estimate);
    # the measured-SLI variant is its own row.
    assert not PolicyConfig().measured_sli and "infercap" in outcomes and "infercap+sli" in outcomes
    static = outcomes["static-peak"]
    # 100 req/s at 80 % of 50 req/s per replica: 3 replicas (a little more for the peak minute), 2 chips each.
    n = static.peak_replicas
    assert 3 <= n <= 4 and static.attainment >= 0.995
    seconds = len(static.requested)
    assert static.accelerator_hours == pytest.approx(2 * n * seconds / 3600)
    assert static.cost == (Decimal(2 * n * seconds)).quantize(Decimal("0.01"))
    assert outcomes["oracle"].attainment >= 0.995
    assert outcomes["oracle"].lower_bound is not None and outcomes["oracle"].lower_bound <= outcomes["oracle"].cost


def test_static_feasible_is_the_fewest_constant_replicas_that_reach_the_target() -> None:
    arrivals = poisson(lambda t: 60.0 if int(t // 120) % 2 else 140.0, 1200, seed=3)
    s = setup()
    requests = requests_of(arrivals, s)
    series = demand_series(arrivals)
    best = static_feasible(requests, series, s)
    n = best.peak_replicas
    assert best.attainment >= s.target_attainment and best.scale_events == 0
    fewer = _fixed("fewer", requests, [n - 1] * len(series), s, [])
    assert fewer.attainment < s.target_attainment
    assert n <= static_peak(requests, series, s).peak_replicas


def test_provisioning_delay_costs_attainment_and_money() -> None:
    # Demand steps from 40 to 200 req/s at 10 minutes; capacity requested then serves 120 s later.
    arrivals = poisson(lambda t: 40.0 if t < 600 else 200.0, 1800, seed=2)
    s = setup(delay=120)
    cfg = PolicyConfig(provisioning_seconds=120, seconds_per_request=0.2, wait_seconds=s.wait_seconds)
    o = {x.name: x for x in simulate(arrivals, s, cfg)}
    assert o["infercap"].attainment < 0.99, "the step is felt until new capacity is ready"
    assert o["oracle"].attainment >= 0.995, "foresight requests it in time"
    assert o["static-peak"].attainment >= 0.995
    for x in o.values():
        if x.attainment >= 0.995:
            assert o["oracle"].lower_bound is not None and o["oracle"].lower_bound <= x.cost, x.name


def test_prometheus_answers() -> None:
    vec = {
        "status": "success",
        "data": {
            "resultType": "vector",
            "result": [
                {"metric": {"pod": "a"}, "value": [1700000000.5, "3.5"]},
                {"metric": {"pod": "b"}, "value": [1700000000.5, "1"]},
            ],
        },
    }
    assert parse_response(vec).value == 4.5
    scalar = {"status": "success", "data": {"resultType": "scalar", "result": [1.0, "7"]}}
    assert parse_response(scalar).value == 7
    for doc, reason in (
        ({"status": "success", "data": {"resultType": "vector", "result": []}}, "MetricUnavailable"),
        ({"status": "error", "error": "parse error"}, "QueryFailed"),
        ({"status": "success", "data": {"resultType": "matrix", "result": []}}, "QueryFailed"),
        ({"status": "success", "data": {"resultType": "scalar", "result": [1, "NaN"]}}, "MetricUnavailable"),
    ):
        with pytest.raises(DemandError) as err:
            parse_response(doc)
        assert err.value.reason == reason


def test_simulate_on_the_azure_trace(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    png = tmp_path / "plot.png"
    code = main(
        [
            "simulate",
            "--trace",
            str(AZURE),
            "--model",
            "llama-3.1-70b",
            "--accelerators",
            "h100,h200",
            "--rate-scale",
            "20",
            "--plot",
            str(png),
            "--measured-burstiness",
            "-o",
            "json",
        ]
    )
    assert code == 0
    d = json.loads(capsys.readouterr().out)
    pol = d["policies"]
    assert set(pol) == {
        "infercap",
        "infercap+z",
        "static-peak",
        "static-feasible",
        "reactive-hpa",
        "keda-prometheus",
        "saturation",
        "oracle",
    }
    for p in pol.values():
        for key in ("cost", "acceleratorHours", "sloAttainment", "ttftP99Seconds", "scaleEvents", "costVsOracle"):
            assert key in p
    print(
        f"\none-hour trace at 20x ({d['trace']['requests']:,} requests): simulated in {d['cpuSeconds']} CPU s; "
        + "; ".join(f"{k} {v['costVsOracle']}x at {v['sloAttainment']:.2%}" for k, v in pol.items())
        + f"; oracle lower bound {d['oracleLowerBound']}"
    )
    assert d["cpuSeconds"] < 30
    target = d["slo"]["targetAttainment"]
    assert pol["oracle"]["sloAttainment"] >= target
    # No schedule that reaches the target costs less than the proven bound.
    for name, p in pol.items():
        if p["sloAttainment"] >= target:
            assert Decimal(d["oracleLowerBound"]) <= Decimal(p["cost"]), name
    # The policy earns more attainment than the scalers that follow demand without a margin.
    for name in ("reactive-hpa", "keda-prometheus", "saturation"):
        assert pol["infercap"]["sloAttainment"] > pol[name]["sloAttainment"], name
    # The policy as the operator runs it reaches the target (minute 10 brings the first rise above
    # anything the five minutes before held: the cold-start forecast covers it), for less than both
    # static yardsticks, static-feasible chosen in hindsight included.
    assert pol["infercap"]["sloAttainment"] >= target
    for name in ("static-peak", "static-feasible"):
        assert Decimal(pol["infercap"]["cost"]) < Decimal(pol[name]["cost"]), name
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_simulate_bad_input(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    for args, needle in (
        (["--trace", "/nope.csv"], "cannot read /nope.csv"),
        (["--trace", str(AZURE), "--rate-scale", "-1"], "--rate-scale must be positive"),
        (["--trace", str(AZURE), "--headroom", "2"], "--headroom"),
        (["--trace", str(AZURE), "--ttft-ms", "0"], "--ttft-ms must be positive"),
        (["--trace", str(AZURE), "--target-attainment", "1"], "--target-attainment"),
        (["--trace", str(AZURE), "--max-num-seqs", "0"], "--max-num-seqs must be positive"),
    ):
        with pytest.raises(SystemExit) as e:
            main(["simulate", "--model", "llama-3.1-8b", *args])
        assert e.value.code == 2
        err = capsys.readouterr().err
        assert needle in err and err.count("\n") == 1


def test_the_replay_admits_what_the_rendered_engine_admits() -> None:
    """The engine infercap renders runs --max-num-seqs = the planned batch (workloads.plan): the replay's
    admission cap is that batch, not the KV cache's ceiling; --max-num-seqs overrides it up to the
    ceiling. A request may queue for the TTFT target less the planned replica's unloaded TTFT."""
    from infercap.api.deployment import ModelDeploymentSpec
    from infercap.cli.commands import builtin_catalog
    from infercap.core.simulate import plan_setup
    from infercap.workloads.plan import serving_plan

    spec = ModelDeploymentSpec.model_validate(
        {
            "model": "llama-3.1-70b",
            "accelerators": ["h100"],
            "traffic": {"requestsPerSecond": "50", "inputTokens": 2048, "outputTokens": 28},
            "slo": {"outputTokensPerSecondPerStream": "20"},
        }
    )
    s, p = plan_setup(builtin_catalog(), spec, 300.0, 0.995, 2.0)
    perf = p.chosen.estimate.performance
    assert perf is not None
    assert s.service.max_batch == perf.batch == serving_plan(p).max_sequences
    assert s.wait_seconds == pytest.approx(2.0 - perf.time_to_first_token_s)
    ceiling, _ = p.chosen.estimate.replica.batch_ceiling(p.chosen.estimate.workload)
    assert ceiling > perf.batch
    assert plan_setup(builtin_catalog(), spec, 300.0, 0.995, 2.0, perf.batch + 7)[0].service.max_batch == perf.batch + 7
    assert plan_setup(builtin_catalog(), spec, 300.0, 0.995, 2.0, 10 * ceiling)[0].service.max_batch == ceiling


SHAPES: dict[str, Callable[[float], float]] = {
    # Not the public trace: a day compressed into 20 minutes, bursts on a base, a steady ramp; requests
    # of 100 tokens (2 s a slot, 5 req/s a replica), so that the fleet runs 3 to 15 replicas.
    "diurnal": lambda t: 40 * (1 + 0.6 * math.sin(2 * math.pi * t / 1200)),
    "bursty": lambda t: 20 * (3 if int(t // 150) % 3 == 1 else 1),
    "ramp": lambda t: 10 + 60 * t / 1200,
}


def test_the_policy_sees_what_the_operator_sees() -> None:
    """The infercap row polls the one-minute rate, which shows no sub-minute bursts: peakedness 1, as in
    the operator. The "infercap+z" variant measures it from the trace's per-second counts."""
    from infercap.core.simulate import infercap_policy

    s = setup(delay=60, ttft=2.0, tokens=100)
    cfg = PolicyConfig(provisioning_seconds=60, seconds_per_request=2.0, wait_seconds=s.wait_seconds)
    clumps = [0.0] * 600
    for t in range(0, 600, 10):
        clumps[t] = 60.0  # 60 requests at once every 10 s: 6 req/s, far burstier than Poisson
    for burstiness in (False, True):
        seen: list[float] = []
        ctl, _ = infercap_policy(clumps, s, cfg, 120, lambda _s, _x, c, _d, z=seen: z.append(c.peakedness), burstiness)
        for t in range(15, 480, 15):
            ctl(t, Observation(0, 0, 0))
        last = seen[-10:]
        assert len(last) == 10 and all(z > 5.0 if burstiness else z == 1.0 for z in last), (burstiness, last)


@pytest.mark.parametrize("shape", sorted(SHAPES))
def test_policy_on_synthetic_traces(shape: str) -> None:
    arrivals = poisson(SHAPES[shape], 1200, seed=5, output_tokens=100)
    s = setup(delay=60, ttft=2.0, tokens=100)
    cfg = PolicyConfig(
        provisioning_seconds=60,
        scale_down_stabilization_seconds=120,
        seconds_per_request=2.0,
        wait_seconds=s.wait_seconds,
    )
    o = {x.name: x for x in simulate(arrivals, s, cfg)}
    oracle = o["oracle"]
    assert oracle.lower_bound is not None
    print(
        f"\n{shape}: "
        + "; ".join(f"{k} {float(v.cost / oracle.cost):.2f}x at {v.attainment:.2%}" for k, v in o.items())
        + f"; bound {float(oracle.lower_bound / oracle.cost):.2f}x"
    )
    assert oracle.attainment >= 0.995
    for x in o.values():
        if x.attainment >= 0.995:
            assert oracle.lower_bound <= x.cost, x.name
    # No demand-following scaler attains more (on the ramp the HPA's 80 % utilization target reaches
    # 100 % as well, at 1 % less cost: a burst now waits in the queue instead of slowing every stream).
    for name in ("reactive-hpa", "keda-prometheus", "saturation"):
        assert o["infercap"].attainment >= o[name].attainment, name
    # On every shape the policy reaches the target. Square bursts every 7.5 minutes are met by holding
    # the burst level through the gaps (the forecast's longer lookback, chosen from the history): about
    # static peak's cost, as any causal policy must pay there. On smooth shapes it costs less than static.
    assert o["infercap"].attainment >= 0.995
    if shape != "bursty":
        assert o["infercap"].cost < o["static-peak"].cost
