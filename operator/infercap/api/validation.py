"""Turns pydantic validation errors into one readable line that names the field and the fix."""

from __future__ import annotations

import re
from collections.abc import Sequence

from pydantic import ValidationError

_HINTS = {
    "extra_forbidden": "unknown field; check the spelling (kubectl explain modeldeployment.spec lists fields)",
    "missing": "required field is missing",
}


def _path(prefix: str, loc: Sequence[int | str]) -> str:
    out = prefix
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        elif part.startswith(("function-", "json-or-python", "lax-or-strict")):
            continue
        else:
            out = f"{out}.{part}" if out else str(part)
    return out


def _message(err: dict[str, object]) -> str:
    kind = str(err.get("type", ""))
    if kind in _HINTS:
        return _HINTS[kind]
    msg = str(err.get("msg", "invalid value"))
    for noise in ("Value error, ", "Assertion failed, "):
        msg = msg.replace(noise, "")
    msg = msg.replace("Input should be", "must be").replace("String should", "must")
    msg = re.sub(r"Decimal\('([^']*)'\)", r"\1", msg)
    if "input" in err and kind not in ("model_type",):
        shown = repr(err["input"])
        if len(shown) <= 40:
            msg += f" (got {shown})"
    return msg


def describe(error: ValidationError, prefix: str = "", limit: int = 3) -> str:
    """`spec.traffic.requestsPerSecond: must be greater than 0 (got -1)`; several errors joined by '; '."""
    parts = []
    seen = set()
    for err in error.errors():
        loc = tuple(p for p in err["loc"] if not (isinstance(p, str) and p.startswith("function-")))
        path = _path(prefix, loc)
        key = (path, err["type"])
        if key in seen:
            continue
        seen.add(key)
        parts.append(f"{path}: {_message(dict(err))}" if path else _message(dict(err)))
    more = f" (and {len(parts) - limit} more)" if len(parts) > limit else ""
    return "; ".join(parts[:limit]) + more
