"""The failover drill: judged by what a client writing to the cluster saw.

pre-checks -> canary on -> failover -> watch until the control plane reports a new writer
AND the canary's writes are steadily acknowledged by a server other than the old writer
(whatever the API said, the drill waits for the clients) -> canary off -> verify
acknowledged writes on the new writer -> make the cluster whole (interrupts deferred)
-> remove the drill's canary rows -> verdict.

Objectives (an objective that is not judged makes the run inconclusive, never a pass):
FO-COMPLETED, FO-WRITER, FO-RTO, FO-LOST-WRITES, POST-HA. The pre-checks (PRE-*) are
preconditions; PRE-LAG may be `unknown` when the control plane does not report lag.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field, replace
from typing import Any, Callable

import random

from botocore.exceptions import BotoCoreError, ClientError

from ops.clock import wait_until
from ops.data import canary as canary_mod
from ops.drills.common import deferred_interrupts, stand_down
from ops.proc import held_interrupts
from ops.errors import EndpointUnreachable
from ops.lease import Record
from ops.report import Journal, Report, headline, measured
from ops.targets.base import ClusterState, ClusterTarget

NO_DATA_PLANE = "no data plane: the endpoint has no database behind it"
CONTROL_PLANE_GRACE_S = 30.0  # failed reads of the control plane in a row for this long end the watch
# The control plane is asked about once a second, jittered, one Describe call each time: RDS API rate
# limits are per account, shared with every other client of it. The canary is watched far more often.
CONTROL_PLANE_POLL_S = 1.0
# A drill stopped early (an interrupt, a stop condition) waits this long at least for its failover call to return
# before healing: a heal while the call still runs would race it, and a tight RTO must not shorten the wait.
CALL_RETURN_WAIT_S = 60.0
POLL_JITTER = 0.2
# The service's answers that mean it did not start a failover (the call is sent once: no retry can have
# started one before). A timeout or a 5xx says nothing of what the service did.
REFUSAL_CODES = {"AccessDenied", "AccessDeniedException", "InvalidDBClusterStateFault", "InvalidDBInstanceStateFault",
                 "DBClusterNotFoundFault", "Throttling", "ThrottlingException", "InvalidParameterValue",
                 "InvalidParameterCombination", "UnauthorizedOperation"}


def refused(error: BaseException | None) -> bool:
    """The failover call never started a failover: the service said no, or the call was never sent."""
    if isinstance(error, EndpointUnreachable):
        return True  # refused before sending: the endpoint is taken for dead
    return isinstance(error, ClientError) and error.response.get("Error", {}).get("Code") in REFUSAL_CODES
OBJECTIVES = ("FO-COMPLETED", "FO-WRITER", "FO-RTO", "FO-LOST-WRITES", "POST-HA")


@dataclass(frozen=True)
class FailoverOptions:
    to: str | None = None
    rto_s: float = 60.0
    canary_hz: float = 20.0
    max_lost_writes: int = 0
    max_lag_s: float = 5.0
    warmup_s: float = 1.0  # canary writes before the failover, to know the steady state
    steady_s: float = 1.0  # consecutive acks from the new writer for this long end the watch
    heal_timeout_s: float = 600.0
    canary_dsn: str | None = None  # the canary writes through this endpoint (a pooler, a proxy); default the writer


@dataclass
class DrillContext:
    """Handed to hooks (fault injection in tests) at named points of the drill."""

    target: ClusterTarget
    journal: Journal
    drill_id: str
    canary: canary_mod.Canary | None = None
    old_writer: str | None = None
    old_server: str | None = None
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
        """Finished, or never started."""
        return not self.thread.is_alive()


def validate(state: ClusterState, to: str | None) -> str | None:
    """Why `--to` cannot be honoured, before anything starts; None when it can."""
    if to is None:
        return None
    chosen = state.member(to)
    if chosen is None or chosen.role != "reader":
        readers = ", ".join(r.name for r in state.readers) or "none"
        return f"--to {to} is not a reader of {state.name} (readers: {readers})"
    return None


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
        healthy = [chosen] if chosen is not None and chosen.healthy else []
    if healthy:
        journal.check("PRE-READER", "pass", f"healthy reader(s): {', '.join(r.name for r in healthy)}")
    else:
        detail = ", ".join(f"{r.name} {r.status}" for r in state.readers) or "no readers"
        journal.check("PRE-READER", "fail", f"no healthy reader to fail over to ({detail})")
        return False
    lags = [r.lag_s for r in healthy if r.lag_s is not None]
    if len(lags) < len(healthy):
        unknown = ", ".join(r.name for r in healthy if r.lag_s is None)
        journal.check("PRE-LAG", "unknown", f"replica lag of {unknown} not measured (not reported, or not caught up)")
    if lags and max(lags) <= opts.max_lag_s:
        journal.measure("replica_lag_before_s", max(lags))
        journal.check("PRE-LAG", "pass", f"replica lag {max(lags):.3f}s <= {opts.max_lag_s}s")
    elif lags:
        journal.measure("replica_lag_before_s", max(lags))
        journal.check("PRE-LAG", "fail", f"replica lag {max(lags):.3f}s > {opts.max_lag_s}s")
        ok = False
    return ok


def run_failover(
    target: ClusterTarget,
    opts: FailoverOptions,
    journal: Journal,
    drill_id: str,
    ledger: Any = None,
    hooks: Hooks | None = None,
    guard: Any = None,
) -> Report:
    """`guard` (ops.drills.guard.Guard) is handed the canary's downtime so far once the failover is triggered."""
    hooks = hooks or {}
    ctx = DrillContext(target=target, journal=journal, drill_id=drill_id)
    journal.details["drill_id"] = drill_id
    journal.require(*OBJECTIVES)
    journal.objectives.update({"client_write_downtime_s": opts.rto_s, "lost_writes": opts.max_lost_writes,
                               "api_failover_s": opts.rto_s * 3, "replica_lag_before_s": opts.max_lag_s})
    journal.event("pre", f"drill {drill_id}: describing {target.ref}")
    state = target.describe()
    ctx.old_writer = state.writer
    if not pre_checks(state, opts, journal):
        return journal.finish("error", f"ERROR: pre-checks failed, the drill did not start: {journal.failed_detail()}")

    dsn = (opts.canary_dsn or target.writer_dsn()) if target.has_data_plane else None
    if dsn is None:
        for name in ("client_write_downtime_s", "acked_writes", "lost_writes", "writes_refused_read_only"):
            journal.mark_not_measured(name, NO_DATA_PLANE)
    elif ledger is not None:
        ledger.put_record(Record(drill_id, str(target.ref), journal.env, _owner(), _expires(opts), markers=True))
    action: _Action | None = None
    aborted = False
    trigger = api_at = steady_at = new_writer = None
    control_plane_lost: str | None = None  # why the watch ended without the control plane's answer
    try:
        if dsn:
            # Assigned before it starts: an interrupt inside start() still leaves the cleanup a canary to stop and purge.
            ctx.canary = canary_mod.Canary(dsn, drill_id, hz=opts.canary_hz)
            ctx.canary.start()
            journal.event("canary", f"writing at {opts.canary_hz:g} Hz to {target.ref} (table {canary_mod.TABLE})")
            if not ctx.canary.wait_for_acks(max(3, int(opts.warmup_s * opts.canary_hz)), timeout=max(10.0, opts.warmup_s * 5)):
                journal.check("PRE-CANARY", "fail", f"the canary could not write before the failover ({_last_error(ctx.canary)})")
                return journal.finish("error", "ERROR: pre-checks failed: the canary could not write")
            ctx.old_server = ctx.canary.log.acks[-1].server
            journal.check("PRE-CANARY", "pass", f"{len(ctx.canary.log.acks)} canary writes acknowledged by {ctx.old_server} before the failover")
        if "canary_running" in hooks:
            hooks["canary_running"](ctx)

        deadline_s = opts.rto_s * 3
        journal.event("action", f"failover of {target.ref} from {state.writer}" + (f" to {opts.to}" if opts.to else ""))
        # Held from the trigger until the call's thread runs: an interrupt inside Thread.start() could leave the call
        # running while is_alive() says it never started, and the cleanup would heal (and purge through) a cluster
        # in mid-failover. Once the call is sent, an interrupt stops the drill after it, and the heal waits for it.
        with held_interrupts(lambda m: journal.event("action", m), "starting the failover call"):
            trigger = time.monotonic()
            if guard is not None and ctx.canary is not None:
                canary, since = ctx.canary, trigger
                guard.watch_downtime(lambda: canary.outage_so_far(since))
            action = _Action(lambda: target.failover(opts.to, timeout=deadline_s)).start()
        steady_acks = max(5, int(opts.steady_s * opts.canary_hz))
        last_progress = trigger
        failing_since: float | None = None
        next_poll = trigger

        def settled() -> bool:
            nonlocal new_writer, api_at, steady_at, last_progress, failing_since, control_plane_lost, next_poll
            if action.error is not None:
                return True
            if api_at is None and time.monotonic() >= next_poll:
                next_poll = time.monotonic() + CONTROL_PLANE_POLL_S * random.uniform(1 - POLL_JITTER, 1 + POLL_JITTER)
                try:
                    writer_now = target.current_writer()
                    failing_since = None
                except EndpointUnreachable as exc:  # the endpoint is taken for dead: asking again cannot help
                    control_plane_lost = f"the control plane stopped answering: {exc}"
                    return True
                except Exception as exc:  # noqa: BLE001 — control plane mid-change; ask again, for a while
                    failing_since = failing_since or time.monotonic()
                    if time.monotonic() - failing_since >= CONTROL_PLANE_GRACE_S:
                        control_plane_lost = (f"the control plane stopped answering: {CONTROL_PLANE_GRACE_S:.0f}s of failed reads, "
                                              f"the last {type(exc).__name__}: {exc}")
                        return True
                    writer_now = None
                if writer_now and writer_now != state.writer:
                    new_writer, api_at = writer_now, time.monotonic()
                    journal.event("observe", f"control plane reports writer {new_writer} after {api_at - trigger:.3f}s")
            if ctx.canary is not None and steady_at is None and ctx.old_server:
                steady_at = ctx.canary.steady_on_new_writer(ctx.old_server, trigger, steady_acks)
                if steady_at is not None:
                    journal.event("observe", f"writes steady on {ctx.canary.log.acks[-1].server} "
                                             f"from +{steady_at - trigger:.3f}s")
            if time.monotonic() - last_progress >= 5:
                last_progress = time.monotonic()
                waiting = [w for w, done in (("the control plane", api_at), ("client writes", steady_at if ctx.canary else True))
                           if done is None]
                journal.event("observe", f"waiting for {' and '.join(waiting)}: {last_progress - trigger:.0f}s of {deadline_s:.0f}s")
            return api_at is not None and (ctx.canary is None or steady_at is not None)

        wait_until(settled, timeout=deadline_s, interval=0.05)
        if action.error is not None:
            # A call that never reached the service, or that the service refused (AccessDenied, a cluster not in a
            # state to fail over, throttled after retries), failed nothing over: an error, not a failed failover.
            if refused(action.error):
                journal.check("FO-COMPLETED", "error", f"the failover call was refused, nothing was failed over: "
                                                       f"{type(action.error).__name__}: {action.error}")
            elif isinstance(action.error, (BotoCoreError, ClientError)):
                journal.check("FO-COMPLETED", "error", f"the failover call's outcome is not known ({type(action.error).__name__}: "
                                                       f"{action.error}): read the cluster's writer (`dbops status`) before anything else")
            else:
                journal.check("FO-COMPLETED", "fail", f"failover did not complete: {type(action.error).__name__}: {action.error}")
        elif control_plane_lost is not None:
            journal.check("FO-COMPLETED", "error", f"{control_plane_lost} ({time.monotonic() - trigger:.0f}s after the failover "
                                                   "call): the cluster may be mid-failover, read its writer (`dbops status`) "
                                                   "before anything else")
        elif api_at is None:
            journal.check("FO-COMPLETED", "fail", f"failover did not complete: no new writer within {deadline_s:.0f}s (3x RTO)")
        else:
            journal.measure("api_failover_s", api_at - trigger)
            journal.check("FO-COMPLETED", "pass", f"control plane reports writer {new_writer} after {api_at - trigger:.3f}s")
            expected_ok = new_writer == opts.to if opts.to else new_writer != state.writer
            journal.check("FO-WRITER", "pass" if expected_ok else "fail",
                          f"new writer {new_writer}" + (f" (expected {opts.to})" if opts.to else f" (was {state.writer})"))
        stand_down(guard)  # the failover is over: from here the drill rolls back, and a late alarm is no stop
    except KeyboardInterrupt:
        aborted = True
        journal.event("abort", "interrupted: stopping the canary and making the cluster whole")
    finally:
        stand_down(guard)
        # From here on the drill only cleans up: another interrupt waits until the cluster is whole.
        with deferred_interrupts(lambda m: journal.event("cleanup", m), "the drill's cleanup") as deferred:
            log = ctx.canary.stop() if ctx.canary is not None else None
            if log is not None:
                journal.event("canary", f"stopped: {len(log.acks)} acknowledged, {len(log.failures)} failed attempts, {log.reconnects} connections")
            if action is not None and not action.done:
                journal.event("cleanup", "waiting for the failover call to return")
                action.thread.join(max(opts.rto_s * 3, CALL_RETURN_WAIT_S))
            if log is not None and trigger is not None and not aborted:
                failed_call = f"the failover call failed: {action.error}" if action is not None and action.error is not None else None
                _judge_downtime(ctx, log, trigger, steady_at, opts, journal, cut_short=control_plane_lost or failed_call, api_at=api_at)
            elif log is not None and trigger is not None:  # interrupted: nothing judged, but the page shows what clients saw
                _record_timeline(ctx, log, trigger, steady_at, journal, api_at=api_at)
            if log is not None and trigger is not None and aborted and guard is not None and guard.tripped_by_downtime:
                _judge_downtime_trip(ctx, log, trigger, opts, journal, guard.conditions.max_downtime_s)
            if dsn is None and not aborted:
                for cid in ("FO-RTO", "FO-LOST-WRITES"):
                    journal.check(cid, "unknown", f"not measured: {NO_DATA_PLANE}")
            if action is not None and action.done and ctx.old_writer:
                if _never_changed(target, ctx.old_writer, action, new_writer):
                    journal.details["heal"] = f"cluster not touched: the writer never changed (still {ctx.old_writer})"
                    journal.check("POST-HA", "unknown", f"not exercised: the failover did not happen, {ctx.old_writer} is "
                                                        "still the writer; nothing to heal")
                else:
                    aborted |= _heal(target, ctx.old_writer, opts, journal, since=trigger)
            elif action is not None and not action.done:
                journal.details["heal"] = "cluster NOT healed: the failover call had not returned; read its writer (`dbops status`)"
                journal.check("POST-HA", "error", "not healed: the failover call was still running when the drill ended; "
                                                  "read the cluster's writer (`dbops status`) before anything else")
            if log is not None and trigger is not None and (not aborted or (action is not None and action.done)):
                # After the heal: whatever the failover did, the writer it left must hold every acknowledged write.
                # Counted on an aborted run too (a read, before the canary rows go): what was lost is not undone by a stop.
                _count_lost_writes(target, ctx, log, opts, journal)
            if dsn is not None and ctx.canary is not None:
                _purge(target, ctx, journal)
            if ledger is not None and dsn is not None and "rows_left" not in journal.details:
                ledger.delete_record(drill_id)
        aborted |= deferred.count > 0

    if aborted:
        return journal.finish("aborted", "ABORTED: interrupted; canary stopped, " + journal.details.get("heal", "cluster not touched"))
    return _with_summary(journal.finish(), dsn is None)


def _never_changed(target: ClusterTarget, old_writer: str, action: _Action, new_writer: str | None) -> bool:
    """The service refused the failover call and still names the old writer: nothing happened, nothing to heal
    (waiting for the old writer to come back as a reader would wait out the heal's timeout). A failover that
    started and broke is healed as any other."""
    if not refused(action.error) or new_writer is not None:
        return False
    try:
        return target.current_writer() == old_writer
    except Exception:  # noqa: BLE001 — not known: heal as after any failover
        return False


def _heal(target: ClusterTarget, old_writer: str, opts: FailoverOptions, journal: Journal, since: float | None = None) -> bool:
    """Make the cluster whole; SIGINT/SIGTERM wait until it is. Returns whether one arrived.
    With `since` (the failover's trigger), the report's timeline gets when the heal began and ended."""
    with deferred_interrupts(lambda m: journal.event("post", m), f"healing {target.ref}") as deferred:
        journal.event("post", f"making {target.ref} whole again (interrupts are deferred until it is)")
        t0 = time.monotonic()
        try:
            heal = target.after_failover(old_writer, timeout=opts.heal_timeout_s)
            journal.measure("heal_s", time.monotonic() - t0)
            if since is not None:
                marks = journal.details.setdefault("timeline_s", {})
                marks["heal started"], marks["healed"] = round(t0 - since, 3), round(time.monotonic() - since, 3)
            journal.details["heal"] = heal.detail
            journal.check("POST-HA", "pass" if heal.ok else "fail", heal.detail)
        except (EndpointUnreachable, BotoCoreError) as exc:  # the cluster was not read: its state is not known
            journal.details["heal"] = f"HA not checked: {exc}"
            journal.check("POST-HA", "error", f"HA not checked, the control plane does not answer: {exc}")
        except Exception as exc:  # noqa: BLE001 — reported, the verdict says so
            journal.details["heal"] = f"could not restore HA: {exc}"
            journal.check("POST-HA", "fail", f"could not restore HA: {exc}")
    return deferred.count > 0


def _purge(target: ClusterTarget, ctx: DrillContext, journal: Journal) -> None:
    """The canary rows are the drill's, in the application's database: they go when the drill ends."""
    try:
        dsn = target.writer_dsn()
        removed = canary_mod.purge(dsn, ctx.drill_id) if dsn else 0
        journal.event("cleanup", f"removed {removed} canary rows of drill {ctx.drill_id}")
    except Exception as exc:  # noqa: BLE001 — the janitor removes them later
        journal.details["rows_left"] = f"canary rows of {ctx.drill_id}"
        journal.event("cleanup", f"canary rows not removed ({exc}); `dbops janitor` removes them")


def _owner() -> str:
    from ops.proc import owner_id

    return owner_id()


def _expires(opts: FailoverOptions) -> str:
    from ops.drills.common import expiry

    return expiry(hours=max(1.0, (opts.rto_s * 6 + opts.heal_timeout_s) / 3600))


def _last_error(c: canary_mod.Canary) -> str:
    return c.log.failures[-1].error if c.log.failures else "no error recorded"


def _judge_downtime(ctx: DrillContext, log: canary_mod.CanaryLog, trigger: float, steady_at: float | None,
                    opts: FailoverOptions, journal: Journal, cut_short: str | None = None, api_at: float | None = None) -> None:
    journal.measure("acked_writes", len(log.acks))
    journal.measure("failed_write_attempts", len(log.failures))
    journal.measure("writes_refused_read_only", log.refused_read_only(since=trigger))
    journal.details["servers"] = [f"{server} x{n}" for server, n in canary_mod.servers_in_order(log.acks)]
    _record_timeline(ctx, log, trigger, steady_at, journal, api_at=api_at)
    if steady_at is None and cut_short is not None:
        journal.mark_not_measured("client_write_downtime_s", f"the watch ended early: {cut_short}")
        journal.check("FO-RTO", "error", f"not measured to the end: {cut_short}")
    elif steady_at is None:
        observed_until = max([a.at for a in log.acks] + [f.at for f in log.failures] + [trigger])
        journal.measure("client_write_downtime_s", canary_mod.longest_outage(log.acks, trigger, observed_until))
        journal.details["downtime_is_lower_bound"] = True
        journal.check("FO-RTO", "fail", f"writes never became steady on a new writer within {opts.rto_s * 3:.0f}s: "
                                        f"refused for at least {journal.measurements['client_write_downtime_s']:.3f}s "
                                        f"(acks by server: {', '.join(journal.details['servers']) or 'none'})")
    else:
        gap = canary_mod.longest_gap_spanning(log.acks, trigger, steady_at)
        assert gap is not None  # steady_at is an ack
        journal.measure("client_write_downtime_s", gap)
        journal.check("FO-RTO", "pass" if gap <= opts.rto_s else "fail",
                      f"writes refused for {gap:.3f}s (objective {opts.rto_s:g}s); "
                      f"{journal.measurements['writes_refused_read_only']} attempts reached a server that no longer took writes")
    journal.details.setdefault("markdown_sections", []).append(("Timeline", timeline(log, trigger, steady_at, journal)))


def _judge_downtime_trip(ctx: DrillContext, log: canary_mod.CanaryLog, trigger: float, opts: FailoverOptions,
                         journal: Journal, limit_s: float | None) -> None:
    """The downtime limit stopped the drill: writes were refused at least this long (the canary stopped before they
    were steady again), a breach of the RTO when that is over it; under it, the RTO is not judged."""
    end = ctx.canary.stopped_at if ctx.canary is not None and ctx.canary.stopped_at is not None else trigger
    bound = canary_mod.longest_outage(log.acks, trigger, end)
    journal.measure("client_write_downtime_s", bound)
    journal.details["downtime_is_lower_bound"] = True
    stopped = f"the downtime limit of {limit_s:g}s stopped the drill" if limit_s is not None else "the downtime limit stopped the drill"
    if bound > opts.rto_s:
        journal.check("FO-RTO", "fail", f"writes refused for at least {bound:.3f}s ({stopped}): over the objective of {opts.rto_s:g}s")
    else:
        journal.check("FO-RTO", "unknown", f"not measured to the end: {stopped} after at least {bound:.3f}s of refused writes, "
                                           f"under the objective of {opts.rto_s:g}s")


def _record_timeline(ctx: DrillContext, log: canary_mod.CanaryLog, trigger: float, steady_at: float | None,
                     journal: Journal, api_at: float | None = None) -> None:
    """Every canary attempt (as runs of equal outcome) and the control plane's moments, in seconds from the
    trigger: what the HTML report plots. A moment that did not happen is absent, never zero."""
    journal.details["canary_runs"] = canary_mod.attempt_runs(log, trigger)
    marks = journal.details.setdefault("timeline_s", {})
    marks["failover triggered"] = 0.0
    reported = round(api_at - trigger, 3) if api_at is not None else journal.measurements.get("api_failover_s")
    if reported is not None:
        marks["new writer reported"] = reported
    moved = next((a.at for a in sorted(log.acks, key=lambda a: a.at) if a.at > trigger and a.server != ctx.old_server), None)
    if moved is not None:
        marks["endpoint moved"] = round(moved - trigger, 3)
    if steady_at is not None:
        marks["writes steady"] = round(steady_at - trigger, 3)


def _count_lost_writes(target: ClusterTarget, ctx: DrillContext, log: canary_mod.CanaryLog, opts: FailoverOptions,
                       journal: Journal) -> None:
    journal.event("verify", "reading acknowledged writes back from the writer")
    try:
        dsn = target.writer_dsn()
        assert dsn is not None
        present = canary_mod.present_seqs(dsn, ctx.drill_id)
    except Exception as exc:  # noqa: BLE001 — a verdict, not a crash: the writer could not be read
        journal.mark_not_measured("lost_writes", f"the writer could not be read: {exc}")
        journal.check("FO-LOST-WRITES", "error", f"acknowledged writes not verified: the writer could not be read ({str(exc).splitlines()[0]})")
        return
    acked = log.acked_seqs
    lost = canary_mod.lost_writes(acked, present)
    journal.measure("lost_writes", len(lost))
    journal.measure("unacknowledged_but_committed", len(present - acked))
    journal.details["lost_seqs"] = lost[:1000]
    journal.check("FO-LOST-WRITES", "pass" if len(lost) <= opts.max_lost_writes else "fail",
                  f"{len(lost)} of {len(acked)} acknowledged writes missing on the writer"
                  + (f" (first: {lost[:10]})" if lost else "") + f"; objective <= {opts.max_lost_writes}")


def timeline(log: canary_mod.CanaryLog, trigger: float, steady_at: float | None, journal: Journal, bucket_s: float = 0.25) -> str:
    """Acknowledged writes around the failover, relative to the trigger, with the server of each run."""
    acks = sorted(log.acks, key=lambda a: a.at)
    before = [a for a in acks if a.at <= trigger]
    after = [a for a in acks if a.at > trigger]
    rows = ["| t (s) | event |", "|---|---|"]
    if before:
        rows.append(f"| {before[-1].at - trigger:+.3f} | last ack before the failover (seq {before[-1].seq}, {before[-1].server}) |")
    rows.append("| +0.000 | failover triggered |")
    fails = [f for f in log.failures if f.at >= trigger - 1]
    if fails:
        rows.append(f"| {fails[0].at - trigger:+.3f} | first refused write: {fails[0].error} |")
        rows.append(f"| {fails[-1].at - trigger:+.3f} | last refused write ({len(fails)} in all, "
                    f"{sum(f.read_only for f in fails)} read-only) |")
    api_s = journal.measurements.get("api_failover_s")
    if api_s is not None:
        rows.append(f"| {api_s:+.3f} | control plane reports the new writer |")
    if after:
        rows.append(f"| {after[0].at - trigger:+.3f} | first ack after the failover (seq {after[0].seq}, {after[0].server}) |")
    if steady_at is not None:
        rows.append(f"| {steady_at - trigger:+.3f} | start of the steady run on the new writer |")
    start = trigger - 2.0
    end = max(steady_at or trigger, after[min(len(after) - 1, 20)].at if after else trigger) + 0.5
    counts = []
    t = start
    while t < end:
        counts.append(sum(1 for a in acks if t <= a.at < t + bucket_s))
        t += bucket_s
    strip = " ".join(str(c) for c in counts)
    return "\n".join(rows) + f"\n\nAcks per {bucket_s * 1000:.0f} ms from {start - trigger:+.1f}s: `{strip}`"


def _with_summary(report: Report, control_plane_only: bool) -> Report:
    m = report.measurements
    if report.status == "inconclusive":
        why = "client write downtime and lost writes NOT MEASURED (no data plane)" if control_plane_only else \
            "; ".join(report.details.get("inconclusive_because", []))
        text = f"{why}; control plane failover took {m['api_failover_s']:.3f}s" if m.get("api_failover_s") is not None else why
    elif m.get("client_write_downtime_s") is not None and report.status == "pass":
        text = (f"writes refused for {m['client_write_downtime_s']:.3f}s, {measured(m.get('lost_writes'))} of "
                f"{measured(m.get('acked_writes'))} acknowledged writes lost, new writer after {measured(m.get('api_failover_s'), '{:.3f}s')}")
    else:
        text = "; ".join(c.detail for c in report.checks if c.status in ("fail", "error")) or report.status
    return replace(report, summary=headline(report, text))
