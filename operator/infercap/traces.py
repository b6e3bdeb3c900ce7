"""Request traces for `infercap simulate`: the Azure LLM inference trace CSV, Mooncake JSONL, and a
plain CSV (timestamp seconds, input tokens, output tokens), as (arrival seconds, input, output)."""

from __future__ import annotations

import csv
import datetime
import io
import json
import random
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

FORMATS = ("azure", "mooncake", "csv")


class TraceError(ValueError):
    """A trace that cannot be read; the message names the file, the line and the fix."""


@dataclass(frozen=True)
class Request:
    t: float  # seconds since the trace's first request
    input_tokens: int
    output_tokens: int


def _azure_time(text: str) -> float:
    # "2023-11-16 18:17:03.9799600": seven fractional digits, more than datetime takes.
    head, _, frac = text.strip().partition(".")
    stamp = datetime.datetime.strptime(head, "%Y-%m-%d %H:%M:%S").replace(tzinfo=datetime.UTC)
    return stamp.timestamp() + (float(f"0.{frac}") if frac else 0.0)


def _rows(text: str, fmt: str, name: str) -> Iterable[tuple[float, int, int]]:
    if fmt == "mooncake":
        for n, line in enumerate(text.splitlines(), start=1):
            if not line.strip():
                continue
            try:
                d = json.loads(line)
                yield float(d["timestamp"]) / 1000.0, int(d["input_length"]), int(d["output_length"])
            except (ValueError, KeyError, TypeError) as e:
                raise TraceError(
                    f"{name}: line {n}: expected JSON with timestamp (ms), input_length, output_length ({e})"
                ) from None
        return
    reader = csv.DictReader(io.StringIO(text))
    cols = (
        ("TIMESTAMP", "ContextTokens", "GeneratedTokens")
        if fmt == "azure"
        else ("timestamp", "input_tokens", "output_tokens")
    )
    missing = [c for c in cols if c not in (reader.fieldnames or [])]
    if missing:
        raise TraceError(
            f"{name}: missing column(s) {', '.join(missing)} for --format {fmt} (expected {','.join(cols)})"
        )
    for n, row in enumerate(reader, start=2):
        try:
            t = _azure_time(row[cols[0]]) if fmt == "azure" else float(row[cols[0]])
            yield t, int(float(row[cols[1]])), int(float(row[cols[2]]))
        except (ValueError, TypeError) as e:
            raise TraceError(f"{name}: line {n}: {e}") from None


def detect(path: Path, head: str) -> str:
    if path.suffix in (".jsonl", ".json"):
        return "mooncake"
    first = head.splitlines()[0] if head else ""
    return "azure" if "ContextTokens" in first else "csv"


def parse(text: str, fmt: str, name: str = "trace") -> list[Request]:
    """Requests sorted by arrival, times relative to the first one; zero-length outputs count as 1."""
    if fmt not in FORMATS:
        raise TraceError(f"unknown trace format {fmt!r}; use one of {', '.join(FORMATS)}")
    rows = sorted(_rows(text, fmt, name))
    if not rows:
        raise TraceError(f"{name}: no requests")
    t0 = rows[0][0]
    return [Request(t - t0, max(1, i), max(1, o)) for t, i, o in rows]


def load(path: Path, fmt: str | None = None) -> list[Request]:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as e:
        raise TraceError(f"cannot read {path}: {e.strerror or e}") from None
    return parse(text, fmt or detect(path, text[:2000]), str(path))


def scale_rate(requests: list[Request], factor: float, jitter_seconds: float = 60.0, seed: int = 0) -> list[Request]:
    """K times the arrival rate with the trace's own shape: each request is replicated K times (and
    once more with the fractional remainder's probability). Each copy of the trace is shifted by its own
    random offset of up to +-jitter_seconds, as K tenants with the same habits would be: the shape over
    minutes stays, while second-level bursts of the copies do not all coincide."""
    if factor <= 0:
        raise TraceError(f"--rate-scale must be positive, got {factor}")
    rng = random.Random(seed)
    whole = int(factor)
    frac = factor - whole
    span = (requests[-1].t if requests else 0.0) + 1.0
    offsets = [0.0] + [rng.uniform(-jitter_seconds, jitter_seconds) for _ in range(whole)]
    out = []
    for r in requests:
        copies = whole + (1 if rng.random() < frac else 0)
        for c in range(copies):
            # Wrap around the trace's end so that the copies neither pile up at the edges nor extend it.
            out.append(Request((r.t + offsets[c]) % span, r.input_tokens, r.output_tokens))
    out.sort(key=lambda r: r.t)
    return out


def poisson(
    rate: Callable[[float], float], seconds: int, seed: int = 0, output_tokens: int = 10, input_tokens: int = 100
) -> list[tuple[float, int, int]]:
    """Synthetic Poisson arrivals (time, input, output tokens) with a time-varying rate in req/s, by
    thinning: for testing policies on shapes no public trace has (diurnal, bursts, ramps)."""
    rng = random.Random(seed)
    top = max(rate(float(s)) for s in range(seconds)) or 1.0
    out: list[tuple[float, int, int]] = []
    t = 0.0
    while True:
        t += rng.expovariate(top)
        if t >= seconds:
            return out
        if rng.random() < rate(t) / top:
            out.append((t, input_tokens, output_tokens))
