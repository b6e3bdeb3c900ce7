"""A structural validator for the subset of OpenAPI v3 that CRD schemas use (type, properties, required,
items, additionalProperties, enum, pattern, format date-time, x-kubernetes-preserve-unknown-fields), as
kube-apiserver applies it to a status: unknown fields are pruned there, so here they are errors."""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any

TYPES: dict[str, tuple[type, ...]] = {
    "string": (str,),
    "integer": (int,),
    "number": (int, float),
    "boolean": (bool,),
    "object": (dict,),
    "array": (list,),
}


def problems(value: Any, schema: dict[str, Any], path: str = "status") -> list[str]:
    """Every way `value` breaks `schema`, as `path: why` lines (empty: valid)."""
    out: list[str] = []
    t = schema.get("type")
    if t is not None:
        ok = isinstance(value, TYPES[t]) and not (t in ("integer", "number") and isinstance(value, bool))
        if not ok:
            return [f"{path}: {type(value).__name__} is not {t}"]
    if "enum" in schema and value not in schema["enum"]:
        out.append(f"{path}: {value!r} not in {schema['enum']}")
    if isinstance(value, str):
        if "pattern" in schema and not re.search(schema["pattern"], value):
            out.append(f"{path}: {value!r} does not match {schema['pattern']}")
        if schema.get("format") == "date-time":
            try:
                datetime.fromisoformat(value.replace("Z", "+00:00"))
            except ValueError:
                out.append(f"{path}: {value!r} is not a date-time")
    if isinstance(value, dict):
        props = schema.get("properties") or {}
        for key in schema.get("required") or []:
            if key not in value:
                out.append(f"{path}: {key} is required")
        extra = schema.get("additionalProperties")
        for key, item in value.items():
            if key in props:
                out += problems(item, props[key], f"{path}.{key}")
            elif isinstance(extra, dict):
                out += problems(item, extra, f"{path}.{key}")
            elif not schema.get("x-kubernetes-preserve-unknown-fields"):
                out.append(f"{path}: unknown field {key} (the API server would prune it)")
    if isinstance(value, list) and "items" in schema:
        for i, item in enumerate(value):
            out += problems(item, schema["items"], f"{path}[{i}]")
    return out
