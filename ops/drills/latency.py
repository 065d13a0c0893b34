"""The latency drill: a pgbench workload at a fixed rate, judged by the latency clients see.

pgbench runs the workload's custom scripts (FILE@WEIGHT) against the writer or a reader
endpoint at --rate transactions a second with --clients connections for --time seconds,
logging every transaction; the drill reads that log and reports, per script, p50/p95/p99
and the longest latency (from the scheduled start: queueing behind a slow server counts),
the schedule lag, failed transactions and aborted clients.

Objectives:
- LAT-P95[script]: each script's p95 within the objective (query_p95_ms for indexed
  queries; query_aurora_p95_ms with --query-class general; --p95-ms overrides both). A
  script with fewer than min_statement_calls transactions is not judged: unknown.
- LAT-ERRORS: no failed transaction and no aborted client, and pgbench ended with its --time
  (a server that stops answering gets it stopped 30 s later: a failure, not a wait).
- LAT-RATE: the transactions completed are what --rate x --time schedules, less four standard
  deviations of pgbench's Poisson schedule: a server that could not keep up has its p95 taken
  over the few transactions it served, and that p95 proves nothing.
- LAT-GAIN[script] with --baseline: the p95 fell by at least index_gain_min against the
  baseline report's p95 of the same script (index work proven from the client side).

- LAT-READ-ONLY without --read-write: the workload wrote nothing. A drill writes only rows it owns,
  and a workload's rows are not the drill's. On a writer the workload logs in as a role made for the
  drill (a member of pg_read_all_data only, dropped at the end: ops/query/workload_role.py), so a
  script's `BEGIN READ WRITE` or `SET default_transaction_read_only = off` gains it nothing; what the
  role could still do through PUBLIC's grants is measured from the server's own counters (objects the
  role owns, rows written to tables it may write, its statements in pg_stat_statements) and fails the
  drill. On a reader the server in recovery refuses every write, before and after the run.
- LAT-CLEANUP (warn, only when it happens): the drill's read-only role could not be dropped; it names
  the role, which cannot log in once its validity ends and which `dbops janitor` then drops.
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from ops.drills.common import fewest_by_chance, stand_down
from ops.percentiles import percentile
from ops.query import pgbench
from ops.query.pgbench import Script, Settings
from ops.report import Journal, Report, headline, list_reports, measured

KIND = "latency"


@dataclass(frozen=True)
class LatencyOptions:
    scripts: tuple[Script, ...]
    clients: int
    rate: float
    duration_s: int
    p95_ms: float
    min_transactions: int
    gain_min: float
    read_only: bool = True
    defines: tuple[tuple[str, str], ...] = ()
    baseline: dict[str, Any] | None = None  # a latency report (its JSON) to compare p95 with
    query_class: str = "indexed"
    should_stop: Callable[[], str | None] | None = None  # polled while pgbench runs (the lease's loss): a reason stops it


def find_baseline(report_dir: Path, ref: str) -> dict[str, Any]:
    """A latency report by id (as `dbops report list` shows it) or by the path of its JSON."""
    import json

    from ops.errors import UsageError

    path = Path(ref)
    if path.suffix == ".json" and path.is_file():
        try:
            data = json.loads(path.read_text())
        except (OSError, ValueError) as exc:
            raise UsageError(f"--baseline {ref}: not a readable report ({exc})") from None
    else:
        found = [r for r in list_reports(report_dir, KIND) if r["id"] == ref or r["id"].startswith(ref)]
        if len(found) != 1:
            raise UsageError(f"--baseline {ref}: {'no' if not found else 'more than one'} latency report with that id in {report_dir}")
        data = found[0]
    if data.get("kind") != KIND or not (data.get("details") or {}).get("scripts"):
        raise UsageError(f"--baseline {ref}: not a latency drill report with per-script latencies")
    return data


@dataclass(frozen=True)
class Where:
    """Where the workload runs: the endpoint's DSN, and the writer's DSN (as the target's own user) that
    creates the workload's read-only role and, on a writer, reads the server's write counters."""
    dsn: str
    label: str
    drill_id: str
    admin_dsn: str | None = None  # the writer's; None: not known
    on_reader: bool = False  # the endpoint reached a server in recovery


DRILL_OWN_CONNECTIONS = 2  # besides pgbench's clients: the drill's own (the role's, its counters) at once


def connections_bound(cluster: Any, endpoint: Any, on_reader: bool, clients: int) -> str:
    """pgbench's clients connect straight to the server the endpoint reached: they and the drill's own
    connections must fit in the room it has (ops.data.server_room), or the drill is refused in one line."""
    from ops.data import server_room

    metric = None
    if hasattr(cluster, "connections_metric"):
        metric = ((lambda: (None, "the reader endpoint's instance is not known")) if on_reader
                  else (lambda: cluster.connections_metric(cluster.current_writer())))
    found, _, _ = server_room.read_room(endpoint.dsn, endpoint.label, metric)
    share = server_room.per_client(clients + DRILL_OWN_CONNECTIONS, f"pgbench's {clients} and the drill's own "
                                                                     f"{DRILL_OWN_CONNECTIONS}, straight to the server")
    return server_room.refuse_beyond(share, found, endpoint.label, "lower --clients")


def run_latency(where: Where, opts: LatencyOptions, journal: Journal, guard: Any = None) -> Report:
    """`guard` (ops.drills.guard.Guard) stands down once pgbench has stopped: the role's drop is the rollback."""
    judged = [s for s in opts.scripts if s.weight > 0]
    journal.require("LAT-ERRORS", "LAT-RATE", *(f"LAT-P95[{s.label}]" for s in judged))
    if opts.read_only:
        journal.require("LAT-READ-ONLY")
    if opts.baseline is not None:
        journal.require(*(f"LAT-GAIN[{s.label}]" for s in judged))
    journal.objectives.update({"p95_ms": opts.p95_ms, "errors": 0, "min_transactions": opts.min_transactions})
    if opts.baseline is not None:
        journal.objectives["p95_gain_min"] = opts.gain_min
    endpoint_label = where.label
    journal.details.update(
        endpoint=endpoint_label, query_class=opts.query_class, read_only=opts.read_only, rate=opts.rate, clients=opts.clients,
        duration_s=opts.duration_s, workload=[{"script": s.label, "file": str(s.path), "weight": s.weight} for s in opts.scripts])
    settings = Settings(opts.scripts, opts.clients, opts.duration_s, opts.rate, opts.defines,
                        progress_s=max(1, min(10, opts.duration_s // 6 or 1)))
    journal.event("load", f"pgbench: {', '.join(s.spec.rsplit('/', 1)[-1] for s in opts.scripts)} at {opts.rate:g} tx/s, "
                          f"{opts.clients} clients, {opts.duration_s}s, against {endpoint_label}"
                          + ("" if opts.read_only else " (read-write)"))
    if not opts.read_only:
        run = _load(settings, where.dsn, False, opts, journal, guard)
    elif where.on_reader:
        run = _run_on_reader_as_read_only_role(settings, where, opts, journal, guard)
    else:
        run = _run_as_read_only_role(settings, where, opts, journal, guard)
    journal.details["pgbench_argv"] = [a for a in run.argv]
    if run.stopped:  # what it measured before the stop is not the drill's: the target may be another drill's now
        journal.event("stop", run.stopped)
        journal.details["stopped_early"] = run.stopped
        return journal.finish("error", f"ERROR: the load was stopped before its end: {run.stopped}")
    if not run.transactions and not run.aborted and run.overran_s is None and (run.errors or run.returncode not in (0, 2)):
        from ops.errors import CannotRun

        raise CannotRun(f"pgbench could not run: {(run.errors or ['exit ' + str(run.returncode)])[-1]}")
    journal.event("load", f"pgbench exited {run.returncode}: {len(run.transactions)} transactions logged"
                          + (f", {run.progress_transactions} in its progress lines" if run.progress_transactions is not None else "")
                          + (f", {run.tps:.1f} tx/s" if run.tps is not None else ""))
    judge(run, opts, journal)
    return journal.finish()


def _load(settings: Settings, dsn: str, read_only: bool, opts: LatencyOptions, journal: Journal, guard: Any) -> pgbench.Run:
    try:
        return pgbench.run(settings, pgbench.environment(dsn, read_only=read_only), lambda line: journal.event("progress", line),
                           should_stop=opts.should_stop)
    finally:
        stand_down(guard)  # pgbench has stopped: what follows reads its log and drops the drill's role


def _run_as_read_only_role(settings: Settings, where: Where, opts: LatencyOptions, journal: Journal, guard: Any = None) -> pgbench.Run:
    from ops.errors import CannotRun
    from ops.query import workload_role

    assert where.admin_dsn is not None
    hours = (opts.duration_s + pgbench.OVERRUN_S) / 3600 + 0.5
    with workload_role.read_only_role(where.admin_dsn, where.drill_id, opts.clients, hours,
                                      on_event=lambda message: journal.event("guard", message),
                                      on_left=lambda message: journal.check("LAT-CLEANUP", "warn", message)) as role:
        before = workload_role.counters(where.admin_dsn, role)
        run = _load(settings, role.dsn, True, opts, journal, guard)
        try:
            verdict = workload_role.judge(workload_role.evidence_after(where.admin_dsn, role, before))
        except CannotRun as exc:
            journal.check("LAT-READ-ONLY", "error", f"whether the workload wrote is not measured: {exc}")
            return run
    for name, value in verdict.measurements.items():
        journal.measure(name, value)
    if "workload_write_statements" not in verdict.measurements:
        journal.mark_not_measured("workload_write_statements", "pg_stat_statements could not be read")
    journal.check("LAT-READ-ONLY", verdict.status, verdict.detail)
    return run


def _run_on_reader_as_read_only_role(settings: Settings, where: Where, opts: LatencyOptions, journal: Journal,
                                     guard: Any = None) -> pgbench.Run:
    """On a reader too the workload logs in as the drill's read-only role, never as the target's own user:
    made on the writer, it reaches the reader by replication, and is dropped on the writer at the end."""
    from ops.errors import CannotRun
    from ops.query import workload_role

    if where.admin_dsn is None:
        raise CannotRun(f"the workload's read-only role is made on the writer, and the writer of {where.label} is not known; "
                        "--read-write runs the workload as the target's own user")
    hours = (opts.duration_s + pgbench.OVERRUN_S) / 3600 + 0.5
    with workload_role.read_only_role(where.admin_dsn, where.drill_id, opts.clients, hours,
                                      on_event=lambda message: journal.event("guard", message), login_dsn=where.dsn,
                                      on_left=lambda message: journal.check("LAT-CLEANUP", "warn", message)) as role:
        journal.details["workload_role"] = role.name
        run = _load(settings, role.dsn, True, opts, journal, guard)
    _judge_reader_read_only(where, journal)
    return run


def _judge_reader_read_only(where: Where, journal: Journal) -> None:
    from ops.errors import DbopsError
    from ops.query.endpoints import Endpoint, probe

    try:
        after = probe(Endpoint("reader", where.dsn, where.label))
    except DbopsError as exc:
        journal.check("LAT-READ-ONLY", "unknown", f"whether the reader stayed in recovery is not measured: {exc}")
        return
    journal.check("LAT-READ-ONLY", "pass", f"the workload ran on {after.server}, a server in recovery before and after it, "
                                           "which refuses every write")


@dataclass
class ScriptStats:
    label: str
    transactions: int = 0
    failed: int = 0
    aborted_clients: int = 0
    latencies_ms: list[float] = field(default_factory=list)
    lags_ms: list[float] = field(default_factory=list)

    def summary(self) -> dict[str, Any]:
        lat = self.latencies_ms
        out: dict[str, Any] = {"transactions": self.transactions, "failed": self.failed, "aborted_clients": self.aborted_clients}
        if lat:
            out.update(p50_ms=round(percentile(lat, 0.50), 3), p95_ms=round(percentile(lat, 0.95), 3),
                       p99_ms=round(percentile(lat, 0.99), 3), max_ms=round(max(lat), 3),
                       mean_ms=round(statistics.fmean(lat), 3))
        if self.lags_ms:
            out["schedule_lag_p95_ms"] = round(percentile(self.lags_ms, 0.95), 3)
        return out


def per_script(run: pgbench.Run, scripts: tuple[Script, ...]) -> list[ScriptStats]:
    stats = [ScriptStats(s.label) for s in scripts]
    for tx in run.transactions:
        if not 0 <= tx.script < len(stats):
            continue
        st = stats[tx.script]
        st.transactions += 1
        if tx.latency_us is None:
            st.failed += 1
        else:
            st.latencies_ms.append(tx.latency_us / 1000.0)
        if tx.lag_us is not None:
            st.lags_ms.append(tx.lag_us / 1000.0)
    for script_no, _ in run.aborted:
        if 0 <= script_no < len(stats):
            stats[script_no].aborted_clients += 1
    return stats


def judge(run: pgbench.Run, opts: LatencyOptions, journal: Journal) -> None:
    stats = per_script(run, opts.scripts)
    every = [ms for st in stats for ms in st.latencies_ms]
    completed, source = transactions_done(run)
    journal.measure("transactions", completed)
    journal.measure("transactions_logged", len(run.transactions))
    if run.progress_transactions is not None:
        journal.measure("transactions_in_progress_lines", run.progress_transactions)
    else:
        journal.mark_not_measured("transactions_in_progress_lines", "pgbench printed no --progress line")
    journal.details["transactions_counted_from"] = source
    journal.measure("failed_transactions", sum(st.failed for st in stats))
    journal.measure("aborted_clients", len(run.aborted))
    journal.measure("errors", sum(st.failed for st in stats) + len(run.aborted))
    if run.tps is not None:
        journal.measure("tps", run.tps)
    else:
        journal.mark_not_measured("tps", "pgbench printed no throughput (it stopped early)")
    for name, q in (("p50_ms", 0.50), ("p95_ms", 0.95), ("p99_ms", 0.99)):
        if every:
            journal.measure(name, percentile(every, q))
        else:
            journal.mark_not_measured(name, "no transaction completed")
    lags = [ms for st in stats for ms in st.lags_ms]
    if lags:
        journal.measure("schedule_lag_p95_ms", percentile(lags, 0.95))
    summaries = {st.label: st.summary() for st in stats}
    journal.details["scripts"] = summaries
    errors_by_class: dict[str, int] = {}
    for _, cls in run.aborted:
        errors_by_class[cls] = errors_by_class.get(cls, 0) + 1
    journal.details["aborted_by_error"] = errors_by_class
    if run.errors:
        journal.details["pgbench_errors"] = run.errors[-10:]
    baseline = ((opts.baseline or {}).get("details") or {}).get("scripts") or {}
    for script, st in zip(opts.scripts, stats):
        s = summaries[st.label]
        for key in ("p50_ms", "p95_ms", "p99_ms"):
            if key in s:
                journal.measure(f"{st.label}.{key}", s[key])
        if script.weight == 0:
            continue
        check = f"LAT-P95[{st.label}]"
        done = len(st.latencies_ms)
        if done < opts.min_transactions:
            journal.check(check, "unknown", f"{done} completed transactions of {st.label}: fewer than {opts.min_transactions} "
                                            "(min_statement_calls) to judge a p95 by")
        else:
            p95 = s["p95_ms"]
            journal.check(check, "pass" if p95 <= opts.p95_ms else "fail",
                          f"{st.label}: p95 {p95:.2f} ms over {done} transactions (p50 {s['p50_ms']:.2f}, p99 {s['p99_ms']:.2f}, "
                          f"max {s['max_ms']:.2f} ms); objective {opts.p95_ms:g} ms ({opts.query_class} queries)")
        if opts.baseline is not None:
            _judge_gain(st.label, s, baseline.get(st.label), done >= opts.min_transactions, opts, journal)
    failed, aborted = sum(st.failed for st in stats), len(run.aborted)
    detail = f"{failed} failed transactions, {aborted} clients aborted"
    if errors_by_class:
        detail += ": " + "; ".join(f"{n}× {cls}" for cls, n in sorted(errors_by_class.items()))
    if run.overran_s is not None:
        journal.check("LAT-ERRORS", "fail", f"{detail}; pgbench was stopped {run.overran_s:.0f}s after its --time: "
                                            "the server stopped answering")
    else:
        journal.check("LAT-ERRORS", "pass" if failed == 0 and aborted == 0 and run.returncode == 0 else "fail",
                      detail if run.returncode in (0, 2) else f"{detail}; pgbench exited {run.returncode}: {(run.errors or ['-'])[-1]}")
    judge_rate(completed, opts, journal, source)


def transactions_done(run: pgbench.Run) -> tuple[int, str]:
    """The transactions pgbench completed, and where the figure comes from. Its per-transaction log is
    buffered: a pgbench stopped (a server that stopped answering) loses the part it had not written, and
    its --progress lines, printed as they came, then count more."""
    logged, progressed = len(run.transactions), run.progress_transactions
    if progressed is not None and progressed > logged:
        return progressed, (f"pgbench's --progress lines (its per-transaction log holds {logged}: "
                            "pgbench was stopped before writing the rest)")
    return logged, "pgbench's per-transaction log"


def judge_rate(done: int, opts: LatencyOptions, journal: Journal, source: str = "pgbench's per-transaction log") -> None:
    scheduled = opts.rate * opts.duration_s
    floor = fewest_by_chance(scheduled)
    journal.measure("scheduled_transactions", scheduled)
    journal.check("LAT-RATE", "pass" if done >= floor else "fail",
                  f"{done} transactions completed of {scheduled:.0f} scheduled ({opts.rate:g}/s for {opts.duration_s}s; "
                  f"at least {floor:.0f} expected of a server that keeps up), counted from {source}")


def _judge_gain(label: str, now: dict[str, Any], before: dict[str, Any] | None, enough: bool, opts: LatencyOptions,
                journal: Journal) -> None:
    check = f"LAT-GAIN[{label}]"
    if not before or before.get("p95_ms") is None:
        journal.check(check, "unknown", f"the baseline has no p95 of script {label}")
        return
    if not enough or now.get("p95_ms") is None:
        journal.check(check, "unknown", f"too few transactions of {label} to compare p95 with the baseline")
        return
    gain = 1.0 - now["p95_ms"] / before["p95_ms"] if before["p95_ms"] > 0 else 0.0
    journal.measure(f"{label}.p95_gain", gain)
    journal.check(check, "pass" if gain >= opts.gain_min else "fail",
                  f"{label}: p95 {before['p95_ms']:.2f} → {now['p95_ms']:.2f} ms, {100 * gain:.1f}% lower "
                  f"(objective {100 * opts.gain_min:.0f}%; baseline {opts.baseline.get('started_at', '?') if opts.baseline else '?'})")


def summary(report: Report) -> str:
    """One line: the checks that decided the verdict, then a p95 only for the scripts LAT-P95 judged
    (a p95 of too few transactions is not measured, whatever figure it came to)."""
    scripts = report.details.get("scripts") or {}
    status = {c.id: c.status for c in report.checks}
    m, objectives = report.measurements, report.objectives
    parts, judged = [], False
    for label, s in scripts.items():
        verdict = status.get(f"LAT-P95[{label}]")
        if verdict in ("pass", "fail"):
            parts.append(f"{label} p95 {s['p95_ms']:.2f} ms")
            judged = True
        elif verdict is not None:
            parts.append(f"{label} p95 not measured ({s.get('transactions', 0)} transactions, "
                         f"{measured(objectives.get('min_transactions'))} needed)")
    text = ", ".join(parts) or "no p95 judged"
    if judged:
        text += f" (objective {objectives['p95_ms']:.10g} ms)"
    gains = [f"{k.split('.')[0]} -{100 * v:.0f}%" for k, v in m.items() if k.endswith(".p95_gain") and v is not None]
    if gains:
        text += f", p95 against the baseline: {', '.join(gains)}"
    if status.get("LAT-RATE") == "fail":
        text += f", {measured(m.get('transactions'))} of {measured(m.get('scheduled_transactions'), '{:.0f}')} scheduled transactions done"
    text += f", {m['errors']} errors" if m.get("errors") is not None else ", errors not measured"
    if report.status == "inconclusive":
        text += " — " + "; ".join(report.details.get("inconclusive_because", [])[:1])
    return headline(report, text)
