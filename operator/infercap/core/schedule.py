"""The scheduled demand floor (spec.autoscaling.schedule): the least demand to plan for now, from windows
of known demand the user wrote in local wall-clock time.

Capacity asked for now serves one provisioning delay later, so a window counts from one delay before it
opens until it closes: the floor at `now` is the largest rate of the windows open at any instant of
[now, now + lookahead]. Windows recur on days of the week in their own IANA time zone, and DST is the
zone's: a window's occurrence on local date D runs from the first instant the zone's clock reads `start`
on D to the last instant it reads `end` (on D, or on D + 1 when end <= start). So a fall-back day's
repeated hour never closes and reopens a window (it runs through both readings of its end), and a time the
clock skips on a spring-forward day is the instant of the jump (the first one the clock reads past it).
Pure: the caller passes the time.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

if TYPE_CHECKING:
    from infercap.api.deployment import ScheduleWindow

DAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")  # index = date.weekday()


@dataclass(frozen=True)
class Window:
    """One recurring window: local minutes of the day it opens and closes, on `days` (date.weekday())."""

    name: str
    days: frozenset[int]
    start: int  # minutes after local midnight
    end: int  # minutes after local midnight; <= start: on the next day
    zone: str  # IANA name
    rate: float  # requests per second


@dataclass(frozen=True)
class Floor:
    """The scheduled floor: the rate to plan for at least, and the window that sets it."""

    rate: float
    window: str


def _minutes(clock: str) -> int:
    hours, minutes = clock.split(":")
    return int(hours) * 60 + int(minutes)


def windows(spec: Sequence[ScheduleWindow]) -> tuple[Window, ...]:
    """The schedule of a validated spec (spec.autoscaling.schedule); an unnamed window is `schedule[i]`."""
    return tuple(
        Window(
            w.name or f"schedule[{i}]",
            frozenset(DAYS.index(d.value) for d in w.days),
            _minutes(w.start),
            _minutes(w.end),
            w.time_zone,
            float(w.requests_per_second),
        )
        for i, w in enumerate(spec)
    )


def _jump(before: float, after: float, zone: ZoneInfo) -> float:
    """The instant in (before, after] where the zone's UTC offset changes (a spring-forward jump), to the
    second: the offset at `before` is the old one, at `after` the new one."""

    def offset(t: float) -> dt.timedelta | None:
        return dt.datetime.fromtimestamp(t, zone).utcoffset()

    old = offset(before)
    lo, hi = int(before), int(after)
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if offset(mid) == old:
            lo = mid
        else:
            hi = mid
    return float(hi)


def instant(day: dt.date, minutes: int, zone: ZoneInfo, last: bool) -> float:
    """The epoch second at which the zone's clock reads `minutes` on local date `day`: in a repeated hour
    (fall back) the first reading, or the last one with `last`; in a skipped hour (spring forward) the
    instant of the jump."""
    naive = dt.datetime.combine(day, dt.time(minutes // 60, minutes % 60))
    first = naive.replace(tzinfo=zone, fold=0).timestamp()
    second = naive.replace(tzinfo=zone, fold=1).timestamp()
    if first <= second:  # one reading (equal) or two (the repeated hour: fold=0 is the earlier)
        return second if last else first
    # Skipped: fold=0 reads it with the offset before the jump (an instant after it), fold=1 with the one
    # after (an instant before it); the clock first reads past it at the jump between them.
    return _jump(second, first, zone)


def occurrences(w: Window, since: float, until: float) -> Iterator[tuple[float, float]]:
    """The window's [open, close) instants that may overlap [since, until], in time order: one per day of
    its days from the local date before `since` (a window past midnight may still be open) to the local
    date of `until`."""
    zone = ZoneInfo(w.zone)
    day = dt.datetime.fromtimestamp(since, zone).date() - dt.timedelta(days=1)
    last = dt.datetime.fromtimestamp(until, zone).date()
    overnight = w.end <= w.start
    while day <= last:
        if day.weekday() in w.days:
            closes = day + dt.timedelta(days=1) if overnight else day
            yield instant(day, w.start, zone, last=False), instant(closes, w.end, zone, last=True)
        day += dt.timedelta(days=1)


def floor(ws: Sequence[Window], now: float, lookahead: float) -> Floor | None:
    """The largest rate of the windows open at any instant of [now, now + lookahead] (epoch seconds), and
    the first such window's name; None when none is. Capacity asked for now is ready a provisioning delay
    later: with that delay as `lookahead`, it is ready when the window opens and held until it closes."""
    until = now + max(0.0, lookahead)
    best: Floor | None = None
    for w in ws:
        if best is not None and w.rate <= best.rate:
            continue
        if any(opens <= until and closes > now for opens, closes in occurrences(w, now, until)):
            best = Floor(w.rate, w.name)
    return best
