"""`dbops failover`: only the failover, for on-call when the writer is down.

The drill needs a writer to write its canary through first; an incident has none. This fails the
cluster over and times the control plane until it reports a new writer, under the same lease,
confirmation and report as a drill, with no canary and no heal (the old writer is down: there is
nothing to wait for). Objectives: FO-COMPLETED (a new writer within the timeout) and FO-WRITER
(the one asked for, or any other than the old one). A call the service refused is an error: nothing
was failed over.
"""

from __future__ import annotations

import random
import time
from dataclasses import replace

from ops.drills.failover import CONTROL_PLANE_POLL_S, POLL_JITTER, refused
from ops.report import Journal, Report, headline
from ops.targets.base import ClusterTarget

OBJECTIVES = ("FO-COMPLETED", "FO-WRITER")


def run_failover_call(target: ClusterTarget, to: str | None, timeout_s: float, journal: Journal,
                      progress_every_s: float = 5.0) -> Report:
    journal.require(*OBJECTIVES)
    journal.objectives["api_failover_s"] = timeout_s
    state = target.describe(lag=False)
    old = state.writer
    journal.event("pre", f"{target.ref} is {state.status}; writer {old or 'none'}; readers "
                         + (", ".join(f"{r.name} ({r.status})" for r in state.readers) or "none"))
    journal.event("action", f"failover of {target.ref}" + (f" to {to}" if to else ""))
    trigger = time.monotonic()
    try:
        target.failover(to, timeout=timeout_s)
    except Exception as exc:  # noqa: BLE001 — said as what it is: refused, or not known
        if refused(exc):
            journal.check("FO-COMPLETED", "error", f"the failover call was refused, nothing was failed over: {type(exc).__name__}: {exc}")
            return _said(journal.finish(), f"the failover call was refused: {exc}")
        journal.check("FO-COMPLETED", "error", f"the failover call's outcome is not known ({type(exc).__name__}: {exc}): "
                                               "read the cluster's writer (`dbops status`) before calling it again")
        return _said(journal.finish(), f"the failover call's outcome is not known: {exc}")
    new, last_said = None, trigger
    while time.monotonic() - trigger < timeout_s:
        time.sleep(CONTROL_PLANE_POLL_S * random.uniform(1 - POLL_JITTER, 1 + POLL_JITTER))
        try:
            writer = target.current_writer()
        except Exception as exc:  # noqa: BLE001 — the control plane mid-change: ask again until the timeout
            journal.event("observe", f"control plane not read: {type(exc).__name__}: {exc}")
            continue
        if writer and writer != old:
            new = writer
            break
        if time.monotonic() - last_said >= progress_every_s:
            last_said = time.monotonic()
            journal.event("observe", f"waiting for a new writer: {last_said - trigger:.0f}s of {timeout_s:.0f}s")
    if new is None:
        journal.check("FO-COMPLETED", "fail", f"no new writer within {timeout_s:.0f}s (still {old or 'none'})")
        return _said(journal.finish(), f"no new writer within {timeout_s:.0f}s")
    took = time.monotonic() - trigger
    journal.measure("api_failover_s", took)
    journal.check("FO-COMPLETED", "pass", f"control plane reports writer {new} after {took:.1f}s")
    wanted = new == to if to else new != old
    journal.check("FO-WRITER", "pass" if wanted else "fail", f"new writer {new}" + (f" (asked for {to})" if to else f" (was {old})"))
    return _said(journal.finish(), f"{target.ref} failed over to {new} in {took:.1f}s (control plane; clients not measured)")


def _said(report: Report, text: str) -> Report:
    return replace(report, summary=headline(report, text))
