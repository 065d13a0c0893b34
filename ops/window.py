"""A weekly window (UTC) in which an env's Aurora clusters run: started at its start, stopped at its end.

Pure time arithmetic: where a moment falls against the window, its openings over a span of time (what
the lab's Cost Explorer bills) and the hours it runs in an average month (what `cost estimate` prices).
"""

from __future__ import annotations

import re

from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Iterator

DAYS = ("MON", "TUE", "WED", "THU", "FRI", "SAT", "SUN")  # datetime.weekday() order
WEEKS_PER_MONTH = 52 / 12
# `schedule apply` starts a cluster this long before its window opens: Aurora takes minutes to start,
# and a drill at the window's start finds it available.
LEAD = timedelta(minutes=20)


@dataclass(frozen=True)
class Window:
    days: tuple[str, ...]  # three-letter day names, each a start day
    start_minute: int  # minutes after midnight UTC
    hours: int

    @property
    def start(self) -> str:
        return f"{self.start_minute // 60:02d}:{self.start_minute % 60:02d}"

    @property
    def length(self) -> timedelta:
        return timedelta(hours=self.hours)

    def setting(self) -> str:
        """The window as one line (the lab's `aurora_schedule` setting): `SUN,WED 01:00 4`."""
        return f"{','.join(self.days)} {self.start} {self.hours}"

    def describe(self) -> str:
        return f"{','.join(self.days)} {self.start} UTC for {self.hours} h"

    def hours_per_month(self) -> float:
        """The hours it runs in an average month: each day's window, 52 weeks a year over 12 months."""
        return len(self.days) * self.hours * WEEKS_PER_MONTH

    def openings(self, start: datetime, end: datetime) -> Iterator[tuple[datetime, datetime]]:
        """Each whole opening (opens, closes) of the window that overlaps [start, end), in order."""
        day = (start - self.length).astimezone(timezone.utc).replace(hour=0, minute=0, second=0, microsecond=0)
        while day < end:
            if DAYS[day.weekday()] in self.days:
                opens = day + timedelta(minutes=self.start_minute)
                closes = opens + self.length
                if closes > start and opens < end:
                    yield opens, closes
            day += timedelta(days=1)

    def runs(self, start: datetime, end: datetime) -> Iterator[tuple[datetime, datetime]]:
        """The openings overlapping [start, end), clipped to it."""
        for opens, closes in self.openings(start, end):
            yield max(opens, start), min(closes, end)

    def current(self, now: datetime, lead: timedelta = timedelta(0)) -> tuple[datetime, datetime] | None:
        """The opening now is inside, or that opens within `lead` after now."""
        return next(((o, c) for o, c in self.openings(now, now + lead + timedelta(microseconds=1)) if o - lead <= now < c), None)

    def next_opening(self, now: datetime) -> datetime:
        return next(o for o, _ in self.openings(now, now + timedelta(days=8)) if o > now)

    def hours_between(self, start: datetime, end: datetime) -> float:
        return sum((c - o).total_seconds() for o, c in self.runs(start, end)) / 3600.0


def parse(days: list[str], start: str, hours: int) -> Window:
    """Assumes values validated by ops.config (three-letter days, HH:MM, whole hours 1..24)."""
    hh, mm = start.split(":")
    return Window(tuple(d for d in DAYS if d in days), int(hh) * 60 + int(mm), int(hours))


_DAY = "(?:" + "|".join(DAYS) + ")"
SETTING_PATTERN = rf"{_DAY}(?:,{_DAY})* (?:[01][0-9]|2[0-3]):[0-5][0-9] (?:[1-9]|1[0-9]|2[0-4])"


def from_setting(text: str) -> Window | None:
    """The window of a `setting()` line; None for an empty one (no schedule)."""
    if not text:
        return None
    days, start, hours = text.split(" ")
    return parse(days.split(","), start, int(hours))


def valid_start(text: object) -> bool:
    if not isinstance(text, str) or len(text) != 5 or text[2] != ":":
        return False
    hh, mm = text[:2], text[3:]
    ascii_digits = re.fullmatch(r"[0-9]{2}", hh) and re.fullmatch(r"[0-9]{2}", mm)  # str.isdigit takes '²' and '٠'
    return bool(ascii_digits) and int(hh) < 24 and int(mm) < 60


# `schedule apply` tags a cluster before it stops it, and removes the tags once it runs again: the evidence
# that the schedule stopped it, where a person's stop or a failed operation leaves none.
STOPPED_BY = "dbops:stopped-by"  # "schedule"
STOPPED_AT = "dbops:stopped-at"  # when, YYYY-MM-DDTHH:MM:SSZ
SCHEDULE_TAGS = (STOPPED_BY, STOPPED_AT)
NOT_BY_SCHEDULE = "stopped (not by the schedule)"


def tags_of(tag_list: list[dict[str, str]] | None) -> dict[str, str]:
    """An RDS TagList ([{"Key": ..., "Value": ...}]) as a dict."""
    return {t["Key"]: t["Value"] for t in tag_list or ()}


def stopped_label(status: str, window: Window | None, now: datetime, tags: dict[str, str]) -> str:
    """A cluster's status as on-call reads it: `stopped` outside its window is `stopped-by-schedule` (meant) only
    when it carries the schedule's tag, else `stopped (not by the schedule)` (a finding: a person's stop, a failed
    operation); `stopped` inside its window, or without one, stays `stopped` (a finding)."""
    if status == "stopped" and window is not None and window.current(now) is None:
        return "stopped-by-schedule" if tags.get(STOPPED_BY) == "schedule" else NOT_BY_SCHEDULE
    return status
