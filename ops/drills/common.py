"""What every drill shares: ids, tags, interrupt handling, the could-not-run guard, the fewest a schedule gives by chance."""

from __future__ import annotations

import math
import secrets
import signal
import threading
from contextlib import contextmanager
from datetime import datetime, timedelta, timezone
from typing import Callable, Iterator

from ops.errors import describe
from ops.report import Journal, Report

DRILL_TAG = "dbops:drill-id"
EXPIRES_TAG = "dbops:expires-at"
CHANCE_SIGMAS = 4  # a count this many standard deviations short of its expectation is no chance shortfall


def fewest_by_chance(expected: float) -> float:
    """The fewest events a schedule expected to give `expected` may give by chance alone: its Poisson
    spread (sqrt(expected)) taken CHANCE_SIGMAS times below it, never below 0. A count under it is a
    real shortfall; at 0 (expected at most CHANCE_SIGMAS**2) the count cannot tell one at all."""
    return max(0.0, expected - CHANCE_SIGMAS * math.sqrt(expected))


def new_drill_id(kind: str) -> str:
    return f"{kind}-{datetime.now(timezone.utc):%Y%m%dT%H%M%SZ}-{secrets.token_hex(3)}"


def expiry_hours(wait_s: float, floor_h: float = 6.0) -> float:
    """How long a drill's resources and record live: at least floor_h, and always past the longest the drill
    may wait plus an hour, so that a janitor on another host (which cannot see the drill's process) never
    takes a restore still in progress for a leftover."""
    return max(floor_h, (wait_s + 3600) / 3600)


def expiry(hours: float = 6.0, now: datetime | None = None) -> str:
    return ((now or datetime.now(timezone.utc)) + timedelta(hours=hours)).strftime("%Y-%m-%dT%H:%M:%SZ")


class _Interrupts:
    """Signals seen by this process: the first one stops the drill, later ones only wait for its cleanup."""

    count = 0


def _note(message: str) -> None:
    import sys

    print(message, file=sys.stderr, flush=True)


@contextmanager
def interruptible(echo: Callable[[str], None] = _note) -> Iterator[None]:
    """Inside the block, the first SIGINT or SIGTERM raises KeyboardInterrupt (on the main thread);
    every later one is noted and ignored, so a second Ctrl-C never cuts a cleanup short."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def _first_only(signum, frame):  # type: ignore[no-untyped-def]
        _Interrupts.count += 1
        if _Interrupts.count == 1:
            raise KeyboardInterrupt(f"signal {signum}")
        echo(f"dbops: already stopping (signal {signum}): cleaning up first")

    _Interrupts.count = 0
    previous = {s: signal.signal(s, _first_only) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        # Once stopping, a later Ctrl-C must not cut the aborted report and exit 3 short: the handler stays.
        if not _Interrupts.count:
            for s, handler in previous.items():
                signal.signal(s, handler)


class Deferred:
    """Interrupts received inside `deferred_interrupts`: counted, acted on after the block."""

    def __init__(self) -> None:
        self.count = 0


@contextmanager
def deferred_interrupts(echo: Callable[[str], None], what: str) -> Iterator[Deferred]:
    """SIGINT and SIGTERM are held back while `what` runs (a half-done heal is worse than a late stop).

    Each one received prints a line saying so; the caller decides what to do afterwards, and
    `interruptible` counts it, so one after the block does not raise either.
    """
    box = Deferred()
    if threading.current_thread() is not threading.main_thread():
        yield box
        return

    def _hold(signum, frame):  # type: ignore[no-untyped-def]
        box.count += 1
        _Interrupts.count += 1
        echo(f"interrupt deferred: {what} is in progress and finishes first (signal {signum})")

    previous = {s: signal.signal(s, _hold) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield box
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)


def guarded(journal: Journal, run: Callable[[], Report], debug: bool = False) -> Report:
    """Run a drill that has started; if it stops as could-not-run, its report says what it did before.

    Errors before a drill starts (usage, locks, unknown targets) are raised by the caller and
    write nothing. Once the journal exists, every way out ends in a report.
    """
    try:
        return run()
    except KeyboardInterrupt:
        journal.event("abort", "interrupted")
        return journal.finish("aborted", "ABORTED: interrupted")
    except Exception as exc:  # noqa: BLE001 — becomes the report's verdict
        if debug:
            raise
        text = describe(exc) or f"unexpected error: {type(exc).__name__}: {exc} (run with --debug for the traceback)"
        journal.event("error", text)
        return journal.finish("error", f"ERROR: {text}")
