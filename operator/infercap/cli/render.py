"""Terminal rendering: aligned tables and key/value blocks, plus YAML/JSON output."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

import yaml

from infercap.core.cost import money_display


def table(headers: Sequence[str], rows: Sequence[Sequence[Any]], right: set[int] | None = None) -> str:
    """A plain aligned table like kubectl's: upper-case headers, two spaces between columns."""
    right = right or set()
    cells = [[str(h).upper() for h in headers]] + [["" if c is None else str(c) for c in r] for r in rows]
    widths = [max(len(row[i]) for row in cells) for i in range(len(headers))]
    lines = []
    for row in cells:
        parts = [c.rjust(w) if i in right else c.ljust(w) for i, (c, w) in enumerate(zip(row, widths, strict=True))]
        lines.append("  ".join(parts).rstrip())
    return "\n".join(lines)


def block(title: str, pairs: Sequence[tuple[str, Any]]) -> str:
    """A titled list of `key: value` lines with aligned values."""
    width = max((len(k) for k, _ in pairs), default=0)
    lines = [title] + [f"  {k + ':':<{width + 1}} {v}" for k, v in pairs]
    return "\n".join(lines)


def dump(data: Any, fmt: str) -> str:
    if fmt == "json":
        return json.dumps(data, indent=2, default=str)
    return yaml.safe_dump(data, sort_keys=False, allow_unicode=True, width=110).rstrip()


def money(value: Any, currency: str = "USD") -> str:
    """1234567.8 -> '$1,234,567.80' (other currencies: '1,234,567.80 EUR'); other text as it is."""
    try:
        return money_display(value, currency)
    except (ArithmeticError, ValueError):
        return str(value)
