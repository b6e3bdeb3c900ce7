"""Planning errors: a PascalCase reason (for status conditions), a message that names the fix, and
the spec field at fault."""

from __future__ import annotations

import difflib
from collections.abc import Iterable

from infercap.api.errors import ReasonedError


class PlanError(ReasonedError):
    """A spec that cannot be planned. `reason` is PascalCase, `field` a dotted spec path."""

    def __init__(self, reason: str, message: str, field: str | None = None) -> None:
        super().__init__(reason, message)
        self.field = field

    def __str__(self) -> str:
        return f"{self.field}: {self.message}" if self.field else self.message


def unknown_id(kind: str, value: str, known: Iterable[str], field: str, reason: str) -> PlanError:
    """An unknown catalog id, with the closest known ids as the fix."""
    ids = sorted(known)
    close = difflib.get_close_matches(value, ids, n=3, cutoff=0.5)
    hint = f"did you mean {', '.join(close)}? " if close else ""
    return PlanError(
        reason,
        f"unknown {kind} {value!r}; {hint}known: {', '.join(ids)} "
        f"(or add one with a {kind.title().replace(' ', '')}Profile)",
        field,
    )
