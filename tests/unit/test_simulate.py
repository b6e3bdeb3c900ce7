"""Trace replay: trace formats, rate scaling, the simulator's accounting, and `infercap simulate` on the
real Azure trace (infercap's policy must serve >= 99 % of demand for less than static peak capacity)."""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path

import pytest

from infercap import traces
from infercap.cli.main import main
from infercap.core.autoscale import PolicyConfig
from infercap.core.simulate import Setup, demand_series, simulate
from infercap.demand import DemandError, parse_response

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


def setup(capacity: float = 1.0, delay: float = 0) -> Setup:
    return Setup(
        capacity_per_replica=capacity,
        input_weight=0.0,
        mean_input=1,
        mean_output=1,
        chips_for=lambda n: n,
        price_per_chip_hour=Decimal(3600),
        headroom=0.0,
        provisioning_seconds=delay,
        sync_seconds=15,
    )


def test_accounting_on_a_constant_load() -> None:
    # 2 requests every second for 20 minutes on replicas that serve 1 request/s each.
    arrivals = [(s + k * 0.5, 1, 1) for s in range(1200) for k in range(2)]
    assert demand_series(arrivals, setup()) == [2.0] * 1200
    outcomes = {o.name: o for o in simulate(arrivals, setup(), PolicyConfig(provisioning_seconds=0))}
    static = outcomes["static-peak"]
    assert static.peak_replicas == 2 and static.shortfall_fraction == 0
    # 2 chips at 3,600 per chip-hour for 1,200 s.
    assert static.cost == Decimal("2400.00") and static.accelerator_hours == pytest.approx(2400 / 3600)
    assert outcomes["infercap"].shortfall_fraction == 0 and outcomes["infercap"].scale_events == 0


def test_provisioning_delay_costs_capacity_and_money() -> None:
    # Demand steps from 1 to 4 req/s at 10 minutes; capacity requested then is ready 120 s later.
    arrivals = [(s + k / 4, 1, 1) for s in range(600, 1800) for k in range(4)] + [(float(s), 1, 1) for s in range(600)]
    o = {x.name: x for x in simulate(arrivals, setup(delay=120), PolicyConfig(provisioning_seconds=120))}
    assert 0 < o["infercap"].shortfall_fraction < 0.2, "the step is felt until new capacity is ready"
    assert o["oracle"].shortfall_fraction < o["infercap"].shortfall_fraction, "foresight requests it in time"
    assert o["static-peak"].shortfall_fraction == 0


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
            "-o",
            "json",
        ]
    )
    assert code == 0
    d = json.loads(capsys.readouterr().out)
    pol = d["policies"]
    assert set(pol) == {"infercap", "static-peak", "reactive-hpa", "oracle"}
    for p in pol.values():
        for key in ("cost", "acceleratorHours", "shortfallFraction", "scaleEvents"):
            assert key in p
    print(
        f"\ninfercap vs oracle: {pol['infercap']['costVsOracle']}x cost, "
        f"{1 - pol['infercap']['shortfallFraction']:.2%} served; static {pol['static-peak']['costVsOracle']}x"
    )
    assert pol["infercap"]["shortfallFraction"] <= 0.01
    assert Decimal(pol["infercap"]["cost"]) < Decimal(pol["static-peak"]["cost"])
    assert Decimal(pol["oracle"]["cost"]) <= Decimal(pol["infercap"]["cost"])
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_simulate_bad_input(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    for args, needle in (
        (["--trace", "/nope.csv"], "cannot read /nope.csv"),
        (["--trace", str(AZURE), "--rate-scale", "-1"], "--rate-scale must be positive"),
        (["--trace", str(AZURE), "--headroom", "2"], "--headroom"),
    ):
        with pytest.raises(SystemExit) as e:
            main(["simulate", "--model", "llama-3.1-8b", *args])
        assert e.value.code == 2
        err = capsys.readouterr().err
        assert needle in err and err.count("\n") == 1
