"""`as_of` is a calendar day in Qatar: public counts move once a day, never within one.

A finer `as_of` (an instant) let two requests a second apart be subtracted to read the
one volunteer active in between; a day cannot be split. The figures for day D count
activity up to the end of D in the API's time zone (`TATAWWU_API_TIMEZONE`, default
Asia/Qatar). Today is not over, so `as_of` = today counts the complete days only, up
to the end of yesterday (`data_through` in the answer): the figures of today do not
change while it lasts, and refreshing them reveals nothing about the hour.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from zoneinfo import ZoneInfo

from consumers.api.http import Problem

FIRST_DAY = dt.date(2000, 1, 1)
_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")


@dataclass(frozen=True)
class Day:
    """The day asked for, the last complete day counted, and the instant counting stops."""

    day: dt.date
    through: dt.date
    until: dt.datetime


def today(zone: str, now: dt.datetime | None = None) -> dt.date:
    """The calendar day it is now in the zone."""
    return (now or dt.datetime.now(dt.UTC)).astimezone(ZoneInfo(zone)).date()


def end_of(day: dt.date, zone: str) -> dt.datetime:
    """The last microsecond of a day in the zone, in UTC."""
    start = dt.datetime.combine(day + dt.timedelta(days=1), dt.time(), tzinfo=ZoneInfo(zone))
    return (start - dt.timedelta(microseconds=1)).astimezone(dt.UTC)


def _refuse(raw: str, why: str) -> Problem:
    detail = f"as_of must be a calendar day YYYY-MM-DD ({why}); got {raw[:40]!r}"
    error = {"path": "query.as_of", "rule": "calendar_day", "message": detail}
    return Problem(422, "invalid_request", None, detail, errors=[error])


def parse_day(raw: str | None, zone: str, now: dt.datetime | None = None) -> dt.date:
    """The day `as_of` names (default: today in the zone); a 422 problem otherwise."""
    current = today(zone, now)
    if raw is None:
        return current
    if not _DATE.fullmatch(raw):
        why = (
            "times are refused: public counts are per day"
            if "T" in raw or ":" in raw
            else ("not a date")
        )
        raise _refuse(raw, why)
    try:
        day = dt.date.fromisoformat(raw)
    except ValueError:
        raise _refuse(raw, "no such day") from None
    if day > current:
        raise _refuse(raw, f"a future day; today in {zone} is {current.isoformat()}")
    if day < FIRST_DAY:
        raise _refuse(raw, f"before {FIRST_DAY.isoformat()}")
    return day


def counted(day: dt.date, zone: str, now: dt.datetime | None = None) -> Day:
    """What the figures of `day` count: complete days only, up to the end of `day`."""
    through = min(day, today(zone, now) - dt.timedelta(days=1))
    return Day(day, through, end_of(through, zone))
