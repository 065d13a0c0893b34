"""What every drill shares: ids, tags, interrupt handling, the could-not-run guard, the fewest a schedule gives by chance."""

from __future__ import annotations

import math
from contextlib import nullcontext
from typing import TYPE_CHECKING, Callable

from ops.errors import describe
# Shared with what is not a drill (ops.etl's clones): defined below the drills' layer, re-exported here.
from ops.lease import DRILL_TAG, EXPIRES_TAG, OWNER_TAG, expiry, expiry_hours, new_drill_id  # noqa: F401
from ops.proc import Deferred, deferred_interrupts, interruptible  # noqa: F401
from ops.report import Journal, Report

if TYPE_CHECKING:
    from ops.drills.guard import Guard
    from ops.drills.steady import SteadyState

CHANCE_SIGMAS = 4  # a count this many standard deviations short of its expectation is no chance shortfall


def fewest_by_chance(expected: float) -> float:
    """The fewest events a schedule expected to give `expected` may give by chance alone: its Poisson
    spread (sqrt(expected)) taken CHANCE_SIGMAS times below it, never below 0. A count under it is a
    real shortfall; at 0 (expected at most CHANCE_SIGMAS**2) the count cannot tell one at all."""
    return max(0.0, expected - CHANCE_SIGMAS * math.sqrt(expected))


def stand_down(guard: "Guard | None") -> None:
    """The drill's fault or load has ended and its rollback begins: a stop condition no longer stops it."""
    if guard is not None:
        guard.stand_down()


def guarded(journal: Journal, run: Callable[[], Report], debug: bool = False, guard: "Guard | None" = None,
            steady: "SteadyState | None" = None) -> Report:
    """Run a drill that has started; if it stops as could-not-run, its report says what it did before.

    Errors before a drill starts (usage, locks, unknown targets) are raised by the caller and
    write nothing. Once the journal exists, every way out ends in a report. The guard's stop
    conditions are watched while the drill runs (a trip arrives as an interrupt); the steady
    state recorded before it is judged once it has ended, its rollback included.
    """
    report = _run(journal, run, debug, guard)
    if guard is not None:
        report = guard.judge(report)
    return steady.judge(report) if steady is not None else report


def _run(journal: Journal, run: Callable[[], Report], debug: bool, guard: "Guard | None") -> Report:
    try:
        with guard.watching(journal) if guard is not None else nullcontext():
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
