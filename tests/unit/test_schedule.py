"""The scheduled demand floor (core.schedule): windows in local wall-clock time, across midnight, day
lists and DST changes, planned one provisioning delay ahead."""

from __future__ import annotations

import datetime as dt
import os
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from infercap.api.deployment import ScheduleWindow
from infercap.core.schedule import DAYS, Window, floor, instant, windows


def utc(text: str) -> float:
    """Epoch seconds of an ISO time in UTC ('2026-12-02T09:00')."""
    return dt.datetime.fromisoformat(text).replace(tzinfo=dt.UTC).timestamp()


def win(start: str, end: str, zone: str = "UTC", days: str = "", rate: float = 40.0, name: str = "w") -> Window:
    """A window from the API's shape (days: space-separated, empty for every day)."""
    spec = {"name": name, "start": start, "end": end, "timeZone": zone, "requestsPerSecond": rate}
    if days:
        spec["days"] = days.split()
    return windows([ScheduleWindow.model_validate(spec)])[0]


BUSINESS = win("09:00", "17:00")
WEEKDAYS = win("09:00", "17:00", days="Mon Tue Wed Thu Fri")
BERLIN_EARLY = win("02:30", "04:00", "Europe/Berlin")
NY_2AM = win("02:00", "03:00", "America/New_York")
LUNCH = win("12:00", "13:00", rate=60.0, name="lunch")
BUSY = win("09:00", "17:00", rate=60.0)
# 2026-12-02 is a Wednesday, 2026-12-04 a Friday, 2026-12-05 a Saturday.
CASES = [
    # (what, windows, now, lookahead, expected rate or None)
    ("before it opens, no lookahead", [BUSINESS], "2026-12-02T08:59:59", 0, None),
    ("opens within the lookahead", [BUSINESS], "2026-12-02T08:55:00", 300, 40.0),
    ("opens one second after it", [BUSINESS], "2026-12-02T08:55:00", 299, None),
    ("open", [BUSINESS], "2026-12-02T16:59:59", 0, 40.0),
    ("closed at its end", [BUSINESS], "2026-12-02T17:00:00", 0, None),
    ("closed on a day it does not list", [WEEKDAYS], "2026-12-05T10:00", 0, None),
    ("open on a day it lists", [WEEKDAYS], "2026-12-04T10:00", 0, 40.0),
    # Past midnight: a window belongs to the day it opens.
    ("Friday's night window on Saturday morning", [win("22:00", "06:00", days="Fri")], "2026-12-05T05:59", 0, 40.0),
    ("closed at its end the next day", [win("22:00", "06:00", days="Fri")], "2026-12-05T06:00", 0, None),
    ("not Thursday's night", [win("22:00", "06:00", days="Fri")], "2026-12-04T02:00", 0, None),
    ("not opened on Saturday", [win("22:00", "06:00", days="Fri")], "2026-12-05T22:30", 0, None),
    ("start == end is 24 hours", [win("12:00", "12:00", days="Wed")], "2026-12-03T11:59", 0, 40.0),
    ("start == end closes a day later", [win("12:00", "12:00", days="Wed")], "2026-12-03T12:00", 0, None),
    # The day is the zone's: Monday 00:30 in Tokyo is Sunday 15:30 UTC.
    ("the zone's weekday", [win("00:00", "01:00", "Asia/Tokyo", "Mon")], "2026-12-06T15:30", 0, 40.0),
    ("not the UTC weekday", [win("00:00", "01:00", "Asia/Tokyo", "Mon")], "2026-12-07T00:30", 0, None),
    # Europe/Berlin: 09:00 is 08:00 UTC in winter, 07:00 UTC in summer.
    ("Berlin, winter", [win("09:00", "17:00", "Europe/Berlin")], "2026-12-02T08:00", 0, 40.0),
    ("Berlin, winter, an hour early", [win("09:00", "17:00", "Europe/Berlin")], "2026-12-02T07:30", 0, None),
    ("Berlin, summer", [win("09:00", "17:00", "Europe/Berlin")], "2026-07-01T07:00", 0, 40.0),
    # Spring forward, 2026-03-29: 02:00 CET (01:00 UTC) jumps to 03:00 CEST. A start in the skipped hour
    # opens at the jump; an end in it closes there.
    ("spring: start skipped, before the jump", [BERLIN_EARLY], "2026-03-29T00:59:59", 0, None),
    ("spring: start skipped, opens at the jump", [BERLIN_EARLY], "2026-03-29T01:00", 0, 40.0),
    ("spring: closes at 04:00 CEST", [BERLIN_EARLY], "2026-03-29T02:00", 0, None),
    ("spring: end skipped, open before", [win("01:00", "02:30", "Europe/Berlin")], "2026-03-29T00:59", 0, 40.0),
    ("spring: end skipped, closed at the jump", [win("01:00", "02:30", "Europe/Berlin")], "2026-03-29T01:00", 0, None),
    # Fall back, 2026-10-25: 03:00 CEST (01:00 UTC) goes back to 02:00 CET; 02:00-03:00 reads twice.
    ("fall: open through the repeated hour", [win("01:00", "02:30", "Europe/Berlin")], "2026-10-25T00:45", 0, 40.0),
    ("fall: until the last 02:30", [win("01:00", "02:30", "Europe/Berlin")], "2026-10-25T01:29", 0, 40.0),
    ("fall: closed after it", [win("01:00", "02:30", "Europe/Berlin")], "2026-10-25T01:30", 0, None),
    ("fall: opens at the first 02:30", [win("02:30", "05:00", "Europe/Berlin")], "2026-10-25T00:30", 0, 40.0),
    ("fall: not before it", [win("02:30", "05:00", "Europe/Berlin")], "2026-10-25T00:29", 0, None),
    # America/New_York: spring forward 2026-03-08 02:00 EST (07:00 UTC), fall back 2026-11-01 02:00 EDT.
    ("New York, Saturday before: EST", [win("09:00", "17:00", "America/New_York")], "2026-03-07T13:30", 0, None),
    ("New York, Sunday after: EDT", [win("09:00", "17:00", "America/New_York")], "2026-03-08T13:00", 0, 40.0),
    ("New York: the skipped hour never opens", [NY_2AM], "2026-03-08T07:00", 0, None),
    ("New York: nor just before the jump", [NY_2AM], "2026-03-08T06:59", 0, None),
    ("New York: it opens the next day", [NY_2AM], "2026-03-09T06:00", 0, 40.0),
    ("New York: the short night is 7 h", [win("22:00", "06:00", "America/New_York")], "2026-03-08T09:59", 0, 40.0),
    ("New York: closes at 06:00 EDT", [win("22:00", "06:00", "America/New_York")], "2026-03-08T10:00", 0, None),
    ("New York fall: until the last 01:30", [win("00:00", "01:30", "America/New_York")], "2026-11-01T06:29", 0, 40.0),
    ("New York fall: closed after it", [win("00:00", "01:30", "America/New_York")], "2026-11-01T06:30", 0, None),
    # Several windows: the largest open one; one that opens within the lookahead counts.
    ("overlap: the larger", [BUSINESS, LUNCH], "2026-12-02T12:30", 0, 60.0),
    ("overlap: only one open", [BUSINESS, LUNCH], "2026-12-02T11:00", 0, 40.0),
    ("overlap: the next within the lookahead", [BUSINESS, LUNCH], "2026-12-02T11:56", 300, 60.0),
    ("a smaller one does not lower", [BUSY, win("12:00", "13:00", rate=5)], "2026-12-02T12:30", 0, 60.0),
]  # fmt: skip


@pytest.mark.parametrize(("what", "ws", "now", "lookahead", "expected"), CASES, ids=[c[0] for c in CASES])
def test_floor(what: str, ws: list[Window], now: str, lookahead: float, expected: float | None) -> None:
    got = floor(ws, utc(now), lookahead)
    assert (got.rate if got is not None else None) == expected, what


def test_floor_names_the_window_that_sets_it() -> None:
    ws = [BUSINESS, LUNCH, win("12:00", "13:00", rate=60.0, name="other")]
    got = floor(ws, utc("2026-12-02T12:30"), 0)
    assert got is not None and got.window == "lunch", "the first of equal windows"
    unnamed = windows([ScheduleWindow.model_validate({"start": "09:00", "end": "10:00", "requestsPerSecond": 3})])
    assert unnamed[0].name == "schedule[0]" and unnamed[0].days == frozenset(range(7))


def test_instant_across_dst() -> None:
    berlin = ZoneInfo("Europe/Berlin")
    spring, fall = dt.date(2026, 3, 29), dt.date(2026, 10, 25)
    assert instant(spring, 2 * 60 + 30, berlin, last=False) == utc("2026-03-29T01:00")  # skipped: the jump
    assert instant(spring, 2 * 60 + 30, berlin, last=True) == utc("2026-03-29T01:00")
    assert instant(fall, 2 * 60 + 30, berlin, last=False) == utc("2026-10-25T00:30")  # first reading (CEST)
    assert instant(fall, 2 * 60 + 30, berlin, last=True) == utc("2026-10-25T01:30")  # last reading (CET)
    assert instant(fall, 9 * 60, berlin, last=True) == utc("2026-10-25T08:00")  # one reading


# Zones with DST (half-hour DST in Lord Howe, southern-hemisphere seasons in Sydney) and without.
ZONES = ["UTC", "Europe/Berlin", "America/New_York", "Australia/Lord_Howe", "Australia/Sydney", "Asia/Kolkata"]
# Around the 2026 DST changes of those zones, and an ordinary day.
BASES = [utc(t) for t in ("2026-03-08T04:00", "2026-03-29T00:00", "2026-04-04T14:00", "2026-10-03T15:00",
                          "2026-10-24T22:00", "2026-11-01T04:00", "2026-12-02T00:00")]  # fmt: skip

clock = st.integers(min_value=0, max_value=24 * 60 - 1).map(lambda m: f"{m // 60:02d}:{m % 60:02d}")
window_st = st.builds(
    lambda start, end, zone, days, rate: win(start, end, zone, " ".join(days), rate),
    clock,
    clock,
    st.sampled_from(ZONES),
    st.lists(st.sampled_from(DAYS), min_size=1, max_size=7, unique=True),
    st.integers(min_value=1, max_value=100).map(float),
)
EXAMPLES = int(os.environ.get("INFERCAP_HYPOTHESIS_EXAMPLES", "60"))


@settings(max_examples=EXAMPLES, deadline=None)
@given(
    ws=st.lists(window_st, min_size=1, max_size=4),
    base=st.sampled_from(BASES),
    offset=st.integers(min_value=-6 * 3600, max_value=30 * 3600),
    lookahead=st.integers(min_value=0, max_value=2 * 3600),
)
def test_property_the_floor_over_a_lookahead_is_the_max_of_the_floors_within_it(
    ws: list[Window], base: float, offset: int, lookahead: int
) -> None:
    # Windows open and close on whole minutes (every zone here is offset by whole minutes), so sampling
    # now and each whole minute within the lookahead sees every window open in it.
    now = base + offset + 17  # off the minute grid
    first = (int(now) // 60 + 1) * 60
    instants = [now, *range(first, int(now + lookahead) + 1, 60)]
    point = [floor(ws, t, 0) for t in instants]
    expected = max((f.rate for f in point if f is not None), default=None)
    got = floor(ws, now, lookahead)
    assert (got.rate if got is not None else None) == expected


def reference_open(w: Window, t: float) -> bool:
    """Whether the zone's clock at t reads a time within the window, on one of its days (the day before
    for the part past midnight): the definition, away from DST changes."""
    local = dt.datetime.fromtimestamp(t, ZoneInfo(w.zone))
    minute, day = local.hour * 60 + local.minute, local.weekday()
    if w.end > w.start:
        return day in w.days and w.start <= minute < w.end
    return (day in w.days and minute >= w.start) or ((day - 1) % 7 in w.days and minute < w.end)


@settings(max_examples=EXAMPLES, deadline=None)
@given(w=window_st, base=st.sampled_from(BASES), offset=st.integers(min_value=-30 * 3600, max_value=30 * 3600))
def test_property_away_from_dst_a_window_is_open_when_the_clock_reads_within_it(
    w: Window, base: float, offset: int
) -> None:
    t = base + offset
    zone = ZoneInfo(w.zone)
    offsets = {dt.datetime.fromtimestamp(t + d, zone).utcoffset() for d in (-30 * 3600, 0, 30 * 3600)}
    if len(offsets) > 1:  # a DST change within a day: the table tests above say what happens then
        return
    assert (floor([w], t, 0) is not None) == reference_open(w, t)


def test_the_schedule_reads_no_clock() -> None:
    """core-pure lets core.schedule import datetime for its calendar (pyproject.toml); not for the time."""
    import ast
    import inspect

    from infercap.core import schedule

    tree = ast.parse(inspect.getsource(schedule))
    calls = {n.attr for n in ast.walk(tree) if isinstance(n, ast.Attribute)}
    assert not calls & {"now", "today", "utcnow", "monotonic"}


BAD_WINDOWS = [
    # (window, field, words the message must hold)
    ({"start": "09:00", "end": "17:00", "timeZone": "Europe/Berln"}, "timeZone", "unknown time zone"),
    ({"start": "09:00", "end": "17:00", "timeZone": "Mars/Olympus"}, "timeZone", "IANA"),
    ({"start": "09:00", "end": "17:00", "timeZone": "../etc/passwd"}, "timeZone", "pattern"),
    ({"start": "9:00", "end": "17:00"}, "start", "pattern"),
    ({"start": "09:00", "end": "24:00"}, "end", "pattern"),
    ({"start": "09:00", "end": "17:00", "days": ["Mon", "Mon"]}, "", "days lists a day twice"),
    ({"start": "09:00", "end": "17:00", "days": ["Monday"]}, "days[0]", "'Mon'"),
    ({"start": "09:00", "end": "17:00", "days": []}, "days", "at least 1"),
    ({"start": "09:00", "end": "17:00", "requestsPerSecond": "0"}, "requestsPerSecond", "greater than 0"),
]


@pytest.mark.parametrize(("window", "field", "words"), BAD_WINDOWS, ids=[f"{w}" for w, _, _ in BAD_WINDOWS])
def test_a_bad_window_is_refused_naming_its_field(window: dict[str, object], field: str, words: str) -> None:
    from pydantic import ValidationError

    from infercap.api.deployment import Autoscaling
    from infercap.api.validation import describe

    doc = {"metric": {"prometheus": {"source": "main", "query": "q"}}}
    with pytest.raises(ValidationError) as e:
        Autoscaling.model_validate({**doc, "schedule": [{"requestsPerSecond": 10, **window}]})
    message = describe(e.value, "spec.autoscaling")
    assert message.startswith(f"spec.autoscaling.schedule[0]{'.' + field if field else ''}:"), message
    assert words in message, message


def test_window_names_are_unique_and_at_most_32_windows() -> None:
    from pydantic import ValidationError

    from infercap.api.deployment import Autoscaling

    doc = {"metric": {"prometheus": {"source": "main", "query": "q"}}}
    one = {"name": "peak", "start": "09:00", "end": "17:00", "requestsPerSecond": 10}
    with pytest.raises(ValidationError, match="schedule names a window twice"):
        Autoscaling.model_validate({**doc, "schedule": [one, one]})
    with pytest.raises(ValidationError, match="at most 32"):
        Autoscaling.model_validate({**doc, "schedule": [{**one, "name": f"w{i}"} for i in range(33)]})
    assert (
        len(Autoscaling.model_validate({**doc, "schedule": [{**one, "name": f"w{i}"} for i in range(32)]}).schedule)
        == 32
    )
