"""A tiny load generator for the autoscaling e2e test: serves a Prometheus counter that grows at the
rate written in RATE_FILE (requests per second), like a model server's request counter would.

    python loadgen.py PORT RATE_FILE
"""

from __future__ import annotations

import sys
import threading
import time
from pathlib import Path

from prometheus_client import CollectorRegistry, Counter, start_http_server


def main() -> None:
    port, rate_file = int(sys.argv[1]), Path(sys.argv[2])
    registry = CollectorRegistry()
    requests = Counter("loadgen_requests", "Requests served.", registry=registry)
    start_http_server(port, addr="127.0.0.1", registry=registry)
    stop = threading.Event()
    last = time.monotonic()
    while not stop.wait(0.1):
        now = time.monotonic()
        try:
            rate = float(rate_file.read_text().strip() or 0)
        except (OSError, ValueError):
            rate = 0.0
        requests.inc(rate * (now - last))
        last = now


if __name__ == "__main__":
    main()
