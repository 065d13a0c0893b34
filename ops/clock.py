"""Injectable clocks: wall time for reports, monotonic time for durations."""

from __future__ import annotations

import time
from datetime import datetime, timezone
from typing import Callable


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


def iso(ts: datetime) -> str:
    return ts.astimezone(timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def monotonic() -> float:
    return time.monotonic()


def wait_until(predicate: Callable[[], bool], timeout: float, interval: float = 0.1) -> bool:
    """Poll predicate until it holds or timeout passes; returns whether it held."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(interval)
    return predicate()


def wait_for(what: str, predicate: Callable[[], bool], timeout: float, interval: float,
             progress: Callable[[str], None], every: float = 10.0) -> bool:
    """wait_until with a line of progress every `every` seconds: what, how long so far, the deadline."""
    started = time.monotonic()
    deadline_wall = utcnow().timestamp() + timeout
    last = [started]

    def check() -> bool:
        now = time.monotonic()
        if now - last[0] >= every:
            last[0] = now
            progress(f"waiting for {what}: {now - started:.0f}s so far, deadline "
                     f"{datetime.fromtimestamp(deadline_wall, timezone.utc):%H:%M:%S} UTC")
        return predicate()

    return wait_until(check, timeout, interval)
