"""A drill on a stopped cluster: refused in one line, or, with --start-if-stopped, started first.

A stopped Aurora cluster accepts no connection, so a drill on it would measure the stop, not the drill:
a failover's downtime, a restore's missing rows, a connections drill's errors. It is refused before
anything is written (exit 2), naming the flag; with the flag, the cluster is started (StartDBCluster),
the drill waits until it and its instances are available and says how long that took, and only then
starts: the time it was stopped is never in a drill's measurements.
"""

from __future__ import annotations

import sys
import time
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Callable

from ops.errors import CannotRun, UsageError
from ops.report import Journal
from ops.window import Window, stopped_label

START_FLAG = "--start-if-stopped"


@dataclass(frozen=True)
class Started:
    target: str
    was: str  # stopped, stopped-by-schedule or stopped (not by the schedule)
    seconds: float


def ensure_running(cluster: Any, start_if_stopped: bool, window: Window | None, now: datetime,
                   before_start: Callable[[], None] = lambda: None) -> Started | None:
    """None when the cluster was running; a Started when it was stopped and has been started."""
    status = cluster.cluster_status() if hasattr(cluster, "cluster_status") else "available"
    if status not in ("stopped", "stopping", "starting"):
        return None
    label = stopped_label(status, window, now, cluster.cluster_tags() if hasattr(cluster, "cluster_tags") else {})
    if not start_if_stopped:
        raise UsageError(f"{cluster.ref} is {label}: a drill on it would measure the stop; add {START_FLAG} to start it "
                         "first (or run `dbops schedule apply` inside its window)")
    if status == "stopping":
        raise UsageError(f"{cluster.ref} is stopping: it can be started once stopped; run again in a few minutes")
    before_start()
    began = time.monotonic()
    print(f"{cluster.ref} is {label}: starting it ({START_FLAG})", flush=True, file=sys.stderr)
    in_time = cluster.start(call=status == "stopped")
    seconds = time.monotonic() - began
    if not in_time:
        raise CannotRun(f"{cluster.ref} was {label}: started, but not available after {seconds:.0f} s; the drill did not run")
    return Started(str(cluster.ref), label, seconds)


def note(journal: Journal, started: Started | None) -> None:
    """The start, in the drill's report: an event, its duration and the state it was in."""
    if started is None:
        return
    journal.event("pre", f"{started.target} was {started.was}: started ({START_FLAG}) in {started.seconds:.1f} s, "
                         "before the drill began")
    journal.details["started_if_stopped"] = {"was": started.was, "start_s": round(started.seconds, 3)}
