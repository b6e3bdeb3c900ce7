"""A fake serving engine for the online-calibration e2e test: exports vLLM's metric names for a number
of replicas, each running `batch` requests at a decode step of `step` seconds, as written in a JSON file
(re-read every 0.1 s):

    python fake_engine.py PORT PARAMS_FILE
    # {"replicas": 4, "dp": 2, "batch": 64, "step": 0.023, "kv": 0.5, "namespace": "team"}

The series have vLLM's shape: per replica (label `pod`) one series per data-parallel rank (label `engine`,
0..dp-1, as vLLM's PrometheusStatLogger labels them, with `model_name`), each rank running batch / dp
requests: vllm:num_requests_running (gauge), vllm:generation_tokens_total (counter, batch / dp / step tokens
per second), vllm:time_per_output_token_seconds (histogram: one observation of `step` per token) and
vllm:gpu_cache_usage_perc. `namespace` and `pod` are what a PodMonitor's scrape attaches to each pod's
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


class Engine(Collector):
    def __init__(self, params_file: Path) -> None:
        self.params_file = params_file
        self.params: dict[str, Any] = {}
        self.tokens: dict[str, float] = {}  # per replica: generated tokens so far
        self.tpot_sum: dict[str, float] = {}
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
            for r in self.ranks():
                self.tokens[r] = self.tokens.get(r, 0.0) + rate * dt
                self.tpot_sum[r] = self.tpot_sum.get(r, 0.0) + rate * dt * step

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
            for r in self.ranks():
                replica, rank = r.split("/")
                values = ["fake", rank, namespace, f"engine-{replica}"]
                running.add_metric(values, self.per_rank_batch())
                kv.add_metric(values, float(self.params.get("kv", 0)))
                count = self.tokens.get(r, 0.0)
                tokens.add_metric(values, count)
                tpot.add_metric(values, [("+Inf", count)], self.tpot_sum.get(r, 0.0))
        yield from (running, kv, tokens, tpot)


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
