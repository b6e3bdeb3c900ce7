"""The base of infercap's own errors: a PascalCase reason (for status conditions, events and metrics)
and a message that says what is wrong and how to fix it."""

from __future__ import annotations


class ReasonedError(Exception):
    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason
        self.message = message

    def __str__(self) -> str:
        return self.message
