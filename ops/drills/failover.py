"""The failover drill: judged by what a client writing to the cluster saw.

pre-checks -> canary on -> failover -> wait for the new writer (3x RTO) -> canary off
-> verify acknowledged writes on the new writer -> make the cluster whole -> verdict.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from typing import Any, Callable

from ops.clock import wait_until
from ops.data import canary as canary_mod
from ops.drills.common import new_drill_id
from ops.report import Journal, Report
from ops.targets.base import ClusterState, ClusterTarget

NO_DATA_PLANE = "no data plane: the endpoint has no database behind it"


@dataclass(frozen=True)
class FailoverOptions:
    to: str | None = None
    rto_s: float = 60.0
    canary_hz: float = 20.0
    max_lost_writes: int = 0
    max_lag_s: float = 5.0
    warmup_s: float = 1.0  # canary writes before the failover, to know the steady state
    settle_acks: int = 10  # acks after the new writer before the canary stops


@dataclass
class DrillContext:
    """Handed to hooks (fault injection in tests) at named points of the drill."""

    target: ClusterTarget
    journal: Journal
    drill_id: str
    canary: canary_mod.Canary | None = None
    old_writer: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)


Hooks = dict[str, Callable[[DrillContext], None]]


class _Action:
    """The failover call, in a worker thread so the drill can give up on it at a deadline."""

    def __init__(self, fn: Callable[[], None]) -> None:
        self.error: BaseException | None = None
        self.thread = threading.Thread(target=self._run, args=(fn,), name="dbops-failover", daemon=True)

    def _run(self, fn: Callable[[], None]) -> None:
        try:
            fn()
        except BaseException as exc:  # noqa: BLE001 — reported in the verdict
            self.error = exc

    def start(self) -> "_Action":
        self.thread.start()
        return self

    @property
    def done(self) -> bool:
        return not self.thread.is_alive()


def pre_checks(state: ClusterState, opts: FailoverOptions, journal: Journal) -> bool:
    ok = True
    if state.status == "available" and state.writer:
        journal.check("PRE-AVAILABLE", "pass", f"cluster {state.name} is available; writer {state.writer}")
    else:
        journal.check("PRE-AVAILABLE", "fail", f"cluster {state.name} is {state.status}; writer {state.writer or 'none'}")
        ok = False
    healthy = [r for r in state.readers if r.healthy]
    if opts.to:
        chosen = state.member(opts.to)
        if chosen is None or chosen.role != "reader":
            journal.check("PRE-READER", "fail", f"--to {opts.to} is not a reader of {state.name} (readers: {', '.join(r.name for r in state.readers) or 'none'})")
            return False
        healthy = [chosen] if chosen.healthy else []
    if healthy:
        journal.check("PRE-READER", "pass", f"healthy reader(s): {', '.join(r.name for r in healthy)}")
    else:
        detail = ", ".join(f"{r.name} {r.status}" for r in state.readers) or "no readers"
        journal.check("PRE-READER", "fail", f"no healthy reader to fail over to ({detail})")
        return False
    lags = [r.lag_s for r in healthy if r.lag_s is not None]
    if not lags:
        journal.check("PRE-LAG", "unknown", "replica lag not reported by the control plane")
    elif max(lags) <= opts.max_lag_s:
        journal.measure("replica_lag_before_s", max(lags))
        journal.check("PRE-LAG", "pass", f"replica lag {max(lags):.3f}s <= {opts.max_lag_s}s")
    else:
        journal.measure("replica_lag_before_s", max(lags))
        journal.check("PRE-LAG", "fail", f"replica lag {max(lags):.3f}s > {opts.max_lag_s}s")
        ok = False
    return ok


def run_failover(
    target: ClusterTarget,
    opts: FailoverOptions,
    journal: Journal,
    hooks: Hooks | None = None,
) -> Report:
    hooks = hooks or {}
    ctx = DrillContext(target=target, journal=journal, drill_id=new_drill_id("failover"))
    journal.details["drill_id"] = ctx.drill_id
    journal.objectives.update({"client_write_downtime_s": opts.rto_s, "lost_writes": opts.max_lost_writes,
                               "api_failover_s": opts.rto_s * 3, "replica_lag_before_s": opts.max_lag_s})
    journal.event("pre", f"drill {ctx.drill_id}: describing {target.ref}")
    state = target.describe()
    ctx.old_writer = state.writer
    if not pre_checks(state, opts, journal):
        return journal.finish("error", f"pre-checks failed, the drill did not start: {journal.failed_detail()}")

    dsn = target.writer_dsn() if target.has_data_plane else None
    if dsn is None:
        for name in ("client_write_downtime_s", "acked_writes", "lost_writes"):
            journal.mark_not_measured(name, NO_DATA_PLANE)
    action: _Action | None = None
    aborted = False
    trigger = new_writer_at = None
    try:
        if dsn:
            ctx.canary = canary_mod.Canary(dsn, ctx.drill_id, hz=opts.canary_hz).start()
            journal.event("canary", f"writing at {opts.canary_hz:g} Hz to {target.ref} (table {canary_mod.TABLE})")
            if not ctx.canary.wait_for_acks(max(3, int(opts.warmup_s * opts.canary_hz)), timeout=max(10.0, opts.warmup_s * 5)):
                journal.check("PRE-CANARY", "fail", f"the canary could not write before the failover ({_last_error(ctx.canary)})")
                return journal.finish("error", "pre-checks failed: the canary could not write")
            journal.check("PRE-CANARY", "pass", f"{len(ctx.canary.log.acks)} canary writes acknowledged before the failover")
        if "canary_running" in hooks:
            hooks["canary_running"](ctx)

        deadline_s = opts.rto_s * 3
        journal.event("action", f"failover of {target.ref} from {state.writer}" + (f" to {opts.to}" if opts.to else ""))
        trigger = time.monotonic()
        action = _Action(lambda: target.failover(opts.to, timeout=deadline_s)).start()
        new_writer = None

        def writer_changed() -> bool:
            nonlocal new_writer
            if action.error is not None:
                return True
            try:
                now = target.describe()
            except Exception:  # noqa: BLE001 — control plane mid-change; ask again
                return False
            if now.writer and now.writer != state.writer:
                new_writer = now.writer
                return True
            return False

        completed = wait_until(writer_changed, timeout=deadline_s, interval=0.05)
        seen_at = time.monotonic()
        if action.error is not None or not completed or new_writer is None:
            why = f"{type(action.error).__name__}: {action.error}" if action.error else f"no new writer within {deadline_s:.0f}s (3x RTO)"
            journal.check("FO-COMPLETED", "fail", f"failover did not complete: {why}")
            journal.event("action", "failover did not complete")
        else:
            new_writer_at = seen_at
            api_s = new_writer_at - trigger
            journal.measure("api_failover_s", api_s)
            journal.check("FO-COMPLETED", "pass", f"control plane reports writer {new_writer} after {api_s:.3f}s")
            expected_ok = new_writer == opts.to if opts.to else new_writer != state.writer
            journal.check("FO-WRITER", "pass" if expected_ok else "fail",
                          f"new writer {new_writer}" + (f" (expected {opts.to})" if opts.to else f" (was {state.writer})"))
            if ctx.canary is not None:
                journal.event("observe", "waiting for acknowledged writes on the new writer")
                wait_until(lambda: ctx.canary.acks_after(seen_at) >= opts.settle_acks,  # type: ignore[union-attr]
                           timeout=max(0.0, trigger + deadline_s - time.monotonic()), interval=0.05)
    except KeyboardInterrupt:
        aborted = True
        journal.event("abort", "interrupted: stopping the canary and leaving the cluster consistent")
    finally:
        log = ctx.canary.stop() if ctx.canary is not None else None
        if log is not None:
            journal.event("canary", f"stopped: {len(log.acks)} acknowledged, {len(log.failures)} failed attempts, {log.reconnects} connections")
        if action is not None and not action.done:
            journal.event("cleanup", "waiting for the failover call to return")
            action.thread.join(opts.rto_s * 3)

    if log is not None and dsn and trigger is not None and not aborted and new_writer_at is not None:
        _verify(target, ctx, log, trigger, new_writer_at, opts, journal)

    if dsn is None and not aborted:
        for cid in ("FO-RTO", "FO-LOST-WRITES"):
            journal.check(cid, "unknown", f"not measured: {NO_DATA_PLANE}")

    if action is not None and action.done and ctx.old_writer:
        journal.event("post", f"making {target.ref} whole again")
        t0 = time.monotonic()
        try:
            result = target.after_failover(ctx.old_writer)
            journal.measure("heal_s", time.monotonic() - t0)
            failed_over = action.error is None and new_writer_at is not None
            journal.check("POST-HA", "pass" if failed_over and "NOT" not in result else "fail", result)
        except Exception as exc:  # noqa: BLE001 — reported, the verdict says so
            journal.check("POST-HA", "fail", f"could not restore HA: {exc}")

    if aborted:
        return journal.finish("aborted", "interrupted; canary stopped, cluster left consistent")
    report = journal.finish()
    return _with_summary(report, journal, dsn is None)


def _last_error(c: canary_mod.Canary) -> str:
    return c.log.failures[-1].error if c.log.failures else "no error recorded"


def _verify(target: ClusterTarget, ctx: DrillContext, log: canary_mod.CanaryLog, trigger: float,
            new_writer_at: float, opts: FailoverOptions, journal: Journal) -> None:
    dsn = target.writer_dsn()
    assert dsn is not None
    journal.event("verify", "reading acknowledged writes back from the new writer")
    present = canary_mod.present_seqs(dsn, ctx.drill_id)
    acked = log.acked_seqs
    lost = canary_mod.lost_writes(acked, present)
    ambiguous = sorted(present - acked)
    journal.measure("acked_writes", len(acked))
    journal.measure("lost_writes", len(lost))
    journal.measure("failed_write_attempts", len(log.failures))
    journal.measure("unacknowledged_but_committed", len(ambiguous))
    journal.details["lost_seqs"] = lost[:1000]
    gap = canary_mod.longest_gap_spanning(log.acks, trigger, new_writer_at)
    if gap is None:
        journal.mark_not_measured("client_write_downtime_s", "no write was acknowledged after the failover")
        journal.check("FO-RTO", "fail", "writes never resumed on the new writer")
    else:
        journal.measure("client_write_downtime_s", gap)
        journal.check("FO-RTO", "pass" if gap <= opts.rto_s else "fail",
                      f"writes refused for {gap:.3f}s (objective {opts.rto_s:g}s)")
    journal.check("FO-LOST-WRITES", "pass" if len(lost) <= opts.max_lost_writes else "fail",
                  f"{len(lost)} of {len(acked)} acknowledged writes missing on the new writer"
                  + (f" (first: {lost[:10]})" if lost else "") + f"; objective <= {opts.max_lost_writes}")
    journal.details.setdefault("markdown_sections", []).append(("Timeline", timeline(log, trigger, new_writer_at)))


def timeline(log: canary_mod.CanaryLog, trigger: float, new_writer_at: float, bucket_s: float = 0.25) -> str:
    """Acknowledged writes around the failover, relative to the trigger."""
    acks = sorted(log.acks, key=lambda a: a.at)
    before = [a for a in acks if a.at <= trigger]
    after = [a for a in acks if a.at > trigger]
    rows = ["| t (s) | event |", "|---|---|"]
    if before:
        rows.append(f"| {before[-1].at - trigger:+.3f} | last ack before the failover (seq {before[-1].seq}) |")
    rows.append("| +0.000 | failover triggered |")
    fails = [f for f in log.failures if f.at >= trigger - 1]
    if fails:
        rows.append(f"| {fails[0].at - trigger:+.3f} | first refused write: {fails[0].error} |")
        rows.append(f"| {fails[-1].at - trigger:+.3f} | last refused write ({len(fails)} in all) |")
    rows.append(f"| {new_writer_at - trigger:+.3f} | control plane reports the new writer |")
    if after:
        rows.append(f"| {after[0].at - trigger:+.3f} | first ack after the failover (seq {after[0].seq}) |")
    start = trigger - 2.0
    end = max(new_writer_at, after[min(len(after) - 1, 20)].at if after else new_writer_at) + 0.5
    counts = []
    t = start
    while t < end:
        counts.append(sum(1 for a in acks if t <= a.at < t + bucket_s))
        t += bucket_s
    strip = " ".join(str(c) for c in counts)
    return "\n".join(rows) + f"\n\nAcks per {bucket_s * 1000:.0f} ms from {start - trigger:+.1f}s: `{strip}`"


def _with_summary(report: Report, journal: Journal, control_plane_only: bool) -> Report:
    from dataclasses import replace

    m = report.measurements
    if control_plane_only:
        text = "control plane only: client write downtime and lost writes NOT MEASURED (no data plane)"
    elif m.get("client_write_downtime_s") is not None:
        text = (f"writes refused for {m['client_write_downtime_s']:.3f}s, {m.get('lost_writes')} of "
                f"{m.get('acked_writes')} acknowledged writes lost, new writer after {m.get('api_failover_s', 0):.3f}s")
    else:
        text = "; ".join(c.detail for c in report.checks if c.status == "fail") or report.status
    return replace(report, summary=f"{report.status.upper()}: {text}")
