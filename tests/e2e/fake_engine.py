"""A fake serving engine for the online-calibration e2e test: exports vLLM's metric names for a number
of replicas, each running `batch` requests at a decode step of `step` seconds, as written in a JSON file
(re-read every 0.1 s):

    python fake_engine.py PORT PARAMS_FILE
    # {"replicas": 4, "dp": 2, "batch": 64, "step": 0.023, "kv": 0.5, "namespace": "team",
    #  "rps": 20, "ttft": 0.05, "slow_share": 0.3, "slow_ttft": 3.0}

The series have vLLM's shape: per replica (label `pod`) one series per data-parallel rank (label `engine`,
0..dp-1, as vLLM's PrometheusStatLogger labels them, with `model_name`), each rank running batch / dp
requests: vllm:num_requests_running (gauge), vllm:generation_tokens_total (counter, batch / dp / step tokens
per second), vllm:time_per_output_token_seconds (histogram: one observation of `step` per token) and
vllm:gpu_cache_usage_perc. Requests complete at `rps` (all ranks together), a `slow_share` of them with a
time to first token of `slow_ttft` seconds and the rest `ttft`, each decoding at `step` seconds per token:
vllm:time_to_first_token_seconds and vllm:request_time_per_output_token_seconds, histograms with vLLM's own
bucket bounds (vllm/v1/metrics/loggers.py, copied here rather than imported from infercap, so that the test
checks infercap's copy). `namespace` and `pod` are what a PodMonitor's scrape attaches to each pod's
series; the test's one static target exports them itself. Counters only grow, as a real engine's do.
Served in the classic text format whatever the scraper asks for, so the names keep their colons
(prometheus-client's own server escapes them to underscores when Prometheus negotiates OpenMetrics 1.0).
"""

from __future__ import annotations

import json
import sys
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.registry import Collector

# vLLM's bounds (PrometheusStatLogger): TTFT, and the per-request mean time per output token.
TTFT_BUCKETS = [0.001, 0.005, 0.01, 0.02, 0.04, 0.06, 0.08, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5, 10.0, 20.0]
TTFT_BUCKETS += [40.0, 80.0, 160.0, 640.0, 2560.0]
TPOT_BUCKETS = [0.01, 0.025, 0.05, 0.075, 0.1, 0.15, 0.2, 0.3, 0.4, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5, 10.0, 20.0]
TPOT_BUCKETS += [40.0, 80.0]


class Requests:
    """One rank's completed requests: how many had each TTFT and TPOT (value -> count)."""

    def __init__(self) -> None:
        self.ttft: dict[float, float] = {}
        self.tpot: dict[float, float] = {}

    def add(self, n: float, ttft: float, tpot: float) -> None:
        self.ttft[ttft] = self.ttft.get(ttft, 0.0) + n
        if tpot > 0:
            self.tpot[tpot] = self.tpot.get(tpot, 0.0) + n


def buckets(observed: dict[float, float], bounds: list[float]) -> tuple[list[tuple[str, float]], float]:
    """Cumulative buckets (prometheus-client's spelling of the bounds) and the sum of what was observed."""
    out = [(repr(b), sum(n for v, n in observed.items() if v <= b)) for b in bounds]
    out.append(("+Inf", sum(observed.values())))
    return out, sum(v * n for v, n in observed.items())


class Engine(Collector):
    def __init__(self, params_file: Path) -> None:
        self.params_file = params_file
        self.params: dict[str, Any] = {}
        self.tokens: dict[str, float] = {}  # per replica: generated tokens so far
        self.tpot_sum: dict[str, float] = {}
        self.requests: dict[str, Requests] = {}
        self.lock = threading.Lock()

    def advance(self, dt: float) -> None:
        try:
            params = json.loads(self.params_file.read_text() or "{}")
        except (OSError, ValueError):
            params = {}
        with self.lock:
            self.params = params
            step = float(params.get("step") or 0)
            rate = self.per_rank_batch() / step if step > 0 else 0.0
            ranks = self.ranks()
            done = float(params.get("rps") or 0) * dt / max(1, len(ranks))
            slow = min(1.0, max(0.0, float(params.get("slow_share") or 0)))
            for r in ranks:
                self.tokens[r] = self.tokens.get(r, 0.0) + rate * dt
                self.tpot_sum[r] = self.tpot_sum.get(r, 0.0) + rate * dt * step
                if done > 0:
                    req = self.requests.setdefault(r, Requests())
                    req.add(done * (1 - slow), float(params.get("ttft") or 0.05), step)
                    req.add(done * slow, float(params.get("slow_ttft") or 0.05), step)

    def per_rank_batch(self) -> float:
        return float(self.params.get("batch", 0)) / max(1, int(self.params.get("dp", 1)))

    def ranks(self) -> list[str]:
        """Series keys: replica/rank."""
        n, dp = int(self.params.get("replicas", 0)), max(1, int(self.params.get("dp", 1)))
        return [f"{i}/{k}" for i in range(n) for k in range(dp)]

    def collect(self) -> Iterator[Metric]:
        with self.lock:
            labels = ["model_name", "engine", "namespace", "pod"]
            namespace = str(self.params.get("namespace", ""))
            running = GaugeMetricFamily("vllm:num_requests_running", "Requests running on GPU.", labels=labels)
            kv = GaugeMetricFamily("vllm:gpu_cache_usage_perc", "GPU KV-cache usage.", labels=labels)
            tokens = CounterMetricFamily("vllm:generation_tokens", "Generation tokens processed.", labels=labels)
            tpot = HistogramMetricFamily("vllm:time_per_output_token_seconds", "Time per output token.", labels=labels)
            ttft = HistogramMetricFamily("vllm:time_to_first_token_seconds", "Time to first token.", labels=labels)
            req_tpot = HistogramMetricFamily(
                "vllm:request_time_per_output_token_seconds", "Time per output token per request.", labels=labels
            )
            for r in self.ranks():
                replica, rank = r.split("/")
                values = ["fake", rank, namespace, f"engine-{replica}"]
                running.add_metric(values, self.per_rank_batch())
                kv.add_metric(values, float(self.params.get("kv", 0)))
                count = self.tokens.get(r, 0.0)
                tokens.add_metric(values, count)
                tpot.add_metric(values, [("+Inf", count)], self.tpot_sum.get(r, 0.0))
                req = self.requests.get(r)
                if req is not None:  # no series before the first request, as prometheus-client with labels
                    ttft.add_metric(values, *buckets(req.ttft, TTFT_BUCKETS))
                    req_tpot.add_metric(values, *buckets(req.tpot, TPOT_BUCKETS))
        yield from (running, kv, tokens, tpot, ttft, req_tpot)


def main() -> None:
    port, params_file = int(sys.argv[1]), Path(sys.argv[2])
    registry = CollectorRegistry()
    engine = Engine(params_file)
    registry.register(engine)

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            body = generate_latest(registry)
            self.send_response(200)
            self.send_header("Content-Type", "text/plain; version=0.0.4; charset=utf-8")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: Any) -> None:
            return

    server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    last = time.monotonic()
    while True:
        time.sleep(0.1)
        now = time.monotonic()
        engine.advance(now - last)
        last = now


if __name__ == "__main__":
    main()
