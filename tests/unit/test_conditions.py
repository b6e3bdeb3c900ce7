"""Condition and event constants, and the one helper that fits messages into the API's limits."""

from __future__ import annotations

import datetime
import re

from hypothesis import given
from hypothesis import strategies as st

from infercap.api.conditions import (
    CONDITION_MESSAGE_LIMIT,
    CONDITION_TYPES,
    EVENT_NOTE_LIMIT,
    Action,
    Cond,
    Reason,
    truncate,
)
from infercap.kube.events import event
from infercap.reconcile.status import Verdict, merge_conditions

PASCAL = re.compile(r"^[A-Z][A-Za-z0-9]*$")


def _values(ns: type) -> list[str]:
    return [v for k, v in vars(ns).items() if k.isupper()]


def test_every_constant_is_pascal_case_and_unique() -> None:
    for ns in (Cond, Reason, Action):
        values = _values(ns)
        assert all(PASCAL.match(v) for v in values), ns
        assert len(values) == len(set(values)), ns
    assert list(CONDITION_TYPES) == _values(Cond)


def test_short_text_is_unchanged() -> None:
    assert truncate("fits", 4) == "fits"
    assert truncate("", 0) == ""


def test_long_text_is_cut_to_the_byte_limit_and_marked() -> None:
    out = truncate("x" * 40_000, CONDITION_MESSAGE_LIMIT)
    assert len(out.encode()) == CONDITION_MESSAGE_LIMIT
    assert out.endswith("...")


def test_a_multibyte_character_is_never_split() -> None:
    # 1024 bytes of euro signs (3 bytes each) do not fit a 1024-byte note with its mark.
    out = truncate("€" * 400, EVENT_NOTE_LIMIT)
    assert len(out.encode()) <= EVENT_NOTE_LIMIT
    assert out == "€" * ((EVENT_NOTE_LIMIT - 3) // 3) + "..."


@given(st.text(max_size=300), st.integers(min_value=0, max_value=200))
def test_truncate_never_exceeds_the_limit_and_keeps_a_prefix(text: str, limit: int) -> None:
    out = truncate(text, limit)
    assert len(out.encode()) <= max(limit, 0)
    if len(text.encode()) <= limit:
        assert out == text
    elif limit >= 3:
        assert out.endswith("...") and text.startswith(out[:-3])


def test_condition_messages_are_truncated_when_written() -> None:
    huge = "y" * (CONDITION_MESSAGE_LIMIT + 10)
    [cond] = merge_conditions([], {Cond.PLANNED: Verdict("False", Reason.INVALID_SPEC, huge)}, "t", 1)
    assert len(cond["message"].encode()) == CONDITION_MESSAGE_LIMIT


def test_event_notes_are_truncated() -> None:
    md = {"metadata": {"name": "m", "namespace": "ns", "uid": "u"}, "apiVersion": "v", "kind": "K"}
    now = datetime.datetime(2026, 1, 1, tzinfo=datetime.UTC)
    ev = event(md, "Warning", Reason.APPLY_FAILED, Action.APPLY_NODE_POOLS, "z" * 5000, "i", now)
    assert ev.note is not None and len(ev.note.encode()) == EVENT_NOTE_LIMIT
