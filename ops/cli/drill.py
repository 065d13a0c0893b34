"""dbops drill failover|restore"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import click

from ops.cli.context import app, finish, require_write
from ops.cli.options import (FiniteFloat, NonEmpty, report_options, restore_max_cost_option, start_if_stopped_option,
                             stop_options, with_indexes_option)
from ops.clock import utcnow
from ops.drills.stopped import ensure_running, note

if TYPE_CHECKING:
    from datetime import datetime

secret_arn_option = click.option(
    "--secret-arn", metavar="ARN", type=NonEmpty(),
    help="Master secret of an Aurora cluster not built by this repository (default: the env's Terraform outputs, "
         "else the cluster's RDS-managed secret).")
# The most a restore can go back: 35 days, DynamoDB's and Aurora's longest retention.
MAX_MINUTES_AGO = 35 * 24 * 60


@click.group()
def drill() -> None:
    """Failover, restore, connections, latency and throughput drills measured from the client side."""


@drill.command()
@click.argument("target")
@click.option("--to", "to", metavar="READER", type=NonEmpty(), help="Fail over to this reader (default: the control plane chooses).")
@click.option("--rto", type=FiniteFloat(min=0.1, max=3600), help="Objective for client write downtime, seconds (default: policy rto_seconds).")
@click.option("--canary-hz", type=FiniteFloat(min=1, max=1000), default=20.0, show_default=True, help="Canary writes per second.")
@click.option("--via", metavar="ENDPOINT", type=NonEmpty(),
              help="The canary writes through this endpoint: 'pooler' (lab-pg's PgBouncer) or HOST:PORT (a proxy; IPv6 as [::1]:PORT); default the writer.")
@secret_arn_option
@start_if_stopped_option
@stop_options
@report_options
def failover(target: str, to: str | None, rto: float | None, canary_hz: float, via: str | None, secret_arn: str | None,
             start_if_stopped: bool, stop_on_alarms: tuple[str, ...], abort_after_downtime: float | None,
             confirm: tuple[str, ...], env_name: str | None, as_json: bool, report_dir, junit,
             publish_metrics: bool) -> int:  # type: ignore[no-untyped-def]
    """Fail TARGET over while a canary writes to it; judge by client write downtime and lost writes.

    Stop conditions (--stop-on-alarm, --abort-after-downtime) are checked before the failover and watched
    during it: a trip stops the canary, heals the cluster and ends the drill aborted (exit 3)."""
    from ops.drills.common import guarded, interruptible, new_drill_id
    from ops.drills.failover import FailoverOptions, run_failover, validate
    from ops.drills.guard import guard_for, stop_conditions
    from ops.drills.steady import SteadyState
    from ops.errors import UsageError
    from ops.lease import ledger_for
    from ops.report import Journal
    from ops.targets.registry import open_cluster

    cfg = app().config.for_env(env_name).with_policy(rto_seconds=rto)
    env = cfg.env(env_name)
    conditions = stop_conditions(cfg.policy, stop_on_alarms, abort_after_downtime, measures_downtime=True, drill="failover")
    require_write(env, confirm, target)
    with interruptible():
        cluster = open_cluster(cfg, env, target, secret_arn)
        # Before anything is started: an alarm already in ALARM or unknown refuses in one line, exit 2, nothing touched.
        guard = guard_for(cfg, env, conditions)
        guard.check_before()
        started = ensure_running(cluster, start_if_stopped, env.schedule, utcnow())
        problem = validate(cluster.describe(lag=False), to)
        if problem:
            raise UsageError(problem)
        if hasattr(cluster, "probe"):
            cluster.probe()
        endpoint = cluster.client_endpoint(via) if via else None
        opts = FailoverOptions(to=to, rto_s=cfg.policy.rto_seconds, canary_hz=canary_hz,
                               max_lost_writes=cfg.policy.max_lost_writes, max_lag_s=cfg.policy.max_replica_lag_s,
                               canary_dsn=endpoint.dsn if endpoint else None)
        drill_id = new_drill_id("failover")
        ledger = ledger_for(cfg, env)
        with ledger.acquire(target, drill_id, hours=max(1.0, opts.rto_s * 6 / 3600 + 0.5)) as lease:
            journal = Journal("failover", target, env.name)
            note(journal, started)
            journal.details["via"] = endpoint.label if endpoint else "the writer, directly"
            steady = SteadyState(cluster, cfg.policy.max_replica_lag_s)
            steady.record()
            report = guarded(journal, lambda: run_failover(cluster, opts, journal, drill_id, ledger, guard=guard), app().debug,
                             guard=guard, steady=steady)
            report = lease.judge(report)
    return finish(report, env, report_dir, junit, publish_metrics, as_json)


def _lost(lease: Any) -> str | None:
    """What a drill's load polls: why its lease was lost, once it has been (the target may be another drill's)."""
    why = lease.loss_reason()
    return f"the drill lost its lease on {lease.holder.target}: {why}" if why else None


def parse_time(text: str) -> "datetime":
    """ISO 8601; a time without a zone is UTC."""
    from datetime import datetime, timezone

    try:
        t = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        raise click.BadParameter(f"'{text}' is not an ISO 8601 time (e.g. 2026-11-23T03:00:00Z)", param_hint="--at") from None
    return t if t.tzinfo else t.replace(tzinfo=timezone.utc)


@drill.command()
@click.argument("target")
@click.option("--at", "at", metavar="TIME", help="Restore to this time (ISO 8601, UTC if no zone); must be in the past.")
@click.option("--minutes-ago", type=FiniteFloat(min=0, max=MAX_MINUTES_AGO, min_open=True), help="Restore to this many minutes ago.")
@click.option("--latest", is_flag=True, help="Restore to the latest restorable time.")
@click.option("--keep", is_flag=True, help="Keep the restored target (tagged; the janitor removes it once expired).")
@click.option("--keep-hours", type=FiniteFloat(min=1, max=24 * 90), metavar="H",
              help="Keep the restored target for H hours (implies --keep): its expiry tag and drill record say so.")
@click.option("--timeout", type=FiniteFloat(min=1, max=24 * 3600),
              help="Seconds to wait for the restore (default: by kind — DynamoDB 7200, Aurora 3600, lab-pg 600).")
@restore_max_cost_option
@with_indexes_option
@secret_arn_option
@start_if_stopped_option
@stop_options
@report_options
def restore(target: str, at: str | None, minutes_ago: float | None, latest: bool, keep: bool, keep_hours: float | None,
            timeout: float | None, max_cost: float | None, with_indexes: bool, secret_arn: str | None, start_if_stopped: bool,
            stop_on_alarms: tuple[str, ...], abort_after_downtime: float | None, confirm: tuple[str, ...],
            env_name: str | None, as_json: bool, report_dir, junit, publish_metrics: bool) -> int:  # type: ignore[no-untyped-def]
    """Restore TARGET to a point in time into a new target and check the rows, not just the resource.

    Before anything starts, the restore is priced for the longest it may live (size from
    VolumeBytesUsed or TableSizeBytes, prices from the catalog) and refused above --max-cost.
    An Aurora restore gets one instance of the first [restore] instance_classes the engine
    version offers, not publicly accessible, in the source's subnet group, security groups
    and port; a DynamoDB restore is on demand, without secondary indexes unless --with-indexes.
    """
    from datetime import timedelta

    from ops.drills.common import guarded, interruptible, new_drill_id
    from ops.cost.estimate import load_catalog
    from ops.drills.guard import guard_for, stop_conditions
    from ops.drills.restore import RestoreOptions, bound_cost, run_restore, validate_time
    from ops.drills.steady import steady_state_of
    from ops.errors import UsageError
    from ops.lease import ledger_for
    from ops.report import Journal
    from ops.targets import parse_target
    from ops.targets.registry import open_restorable

    if sum(x is not None and x is not False for x in (at, minutes_ago, latest or None)) > 1:
        raise UsageError("give at most one of --at, --minutes-ago, --latest")
    when = parse_time(at) if at is not None else None  # an empty --at is a bad time, not no time
    kind = parse_target(target).kind
    if with_indexes and kind != "dynamodb":
        raise UsageError(f"--with-indexes applies to a DynamoDB restore; {target} is a {kind} target")
    cfg = app().config.for_env(env_name).with_policy(max_drill_cost_usd=max_cost)
    env = cfg.env(env_name)
    conditions = stop_conditions(cfg.policy, stop_on_alarms, abort_after_downtime, measures_downtime=False, drill="restore")
    require_write(env, confirm, target)
    with interruptible():
        restorable = open_restorable(cfg, env, target, secret_arn, with_indexes=with_indexes)
        # Before anything is started: an alarm already in ALARM or unknown refuses in one line, exit 2, nothing touched.
        guard = guard_for(cfg, env, conditions)
        guard.check_before()
        started = ensure_running(getattr(restorable, "target", restorable), start_if_stopped, env.schedule, utcnow())
        if hasattr(restorable, "probe"):
            restorable.probe()
        if minutes_ago:
            when = restorable.now() - timedelta(minutes=minutes_ago)  # the service's clock, not this host's
        validate_time(restorable, when)
        opts = RestoreOptions(at=when, latest=latest, keep=keep or keep_hours is not None, rpo_s=cfg.policy.rpo_seconds,
                              timeout_s=timeout, max_cost_usd=cfg.policy.max_drill_cost_usd, max_cost_explicit=max_cost is not None,
                              **({"expires_hours": keep_hours} if keep_hours is not None else {}))
        opts = bound_cost(restorable, opts, load_catalog(env.region))  # one line, exit 2, before anything is created
        drill_id = new_drill_id("restore")
        ledger = ledger_for(cfg, env)
        hours = ((timeout or restorable.default_timeout_s) + 3600) / 3600
        with ledger.acquire(target, drill_id, hours=hours) as lease:
            journal = Journal("restore", target, env.name)
            note(journal, started)
            # The source of a cluster restore: a restore must leave it as it was found.
            steady = steady_state_of(getattr(restorable, "target", None), cfg.policy.max_replica_lag_s) if kind != "dynamodb" else None
            if steady is not None:
                steady.record()
            report = guarded(journal, lambda: run_restore(restorable, opts, journal, drill_id, ledger, guard=guard), app().debug,
                             guard=guard, steady=steady)
            report = lease.judge(report)
    return finish(report, env, report_dir, junit, publish_metrics, as_json)


@drill.command()
@click.argument("target")
@click.option("--clients", type=click.IntRange(1, 5000), required=True, help="Concurrent client connections, opened at once.")
@click.option("--via", metavar="ENDPOINT", type=NonEmpty(),
              help="Connect through 'pooler' (lab-pg's PgBouncer) or HOST:PORT (a proxy, a pooler; IPv6 as [::1]:PORT); default the writer directly.")
@click.option("--rate", type=FiniteFloat(min=0.01, max=100), default=1.0, show_default=True, help="Queries per second per client.")
@click.option("--time", "duration", type=FiniteFloat(min=1, max=3600), default=10.0, show_default=True, help="Seconds of load.")
@click.option("--query-ms", type=FiniteFloat(min=0, max=10000), default=0.0, show_default=True,
              help="Server-side work per query (pg_sleep); 0 runs SELECT 1.")
@click.option("--ramp", "ramp", type=FiniteFloat(min=0, max=600), help="Seconds over which the clients connect (default: 250 a second).")
@click.option("--allow-exhaustion", is_flag=True,
              help="Open more connections than the server (or an RDS Proxy's pool) has free, or through a proxy whose pool use "
                   "is not measured: the application's new connections are refused or wait too.")
@secret_arn_option
@start_if_stopped_option
@stop_options
@report_options
def connections(target: str, clients: int, via: str | None, rate: float, duration: float, query_ms: float, ramp: float | None,
                allow_exhaustion: bool, secret_arn: str | None, start_if_stopped: bool,
                stop_on_alarms: tuple[str, ...], abort_after_downtime: float | None, confirm: tuple[str, ...], env_name: str | None, as_json: bool, report_dir, junit,
                publish_metrics: bool) -> int:  # type: ignore[no-untyped-def]
    """Open --clients connections to TARGET at once and keep them querying on schedule: set-up time, refusals,
    queries served of those scheduled, time beyond each query's work and, through a PgBouncer, the clients'
    wait for the pool, its use, and whether it still answers afterwards."""
    from dataclasses import replace

    from ops.drills.common import guarded, interruptible, new_drill_id
    from ops.drills.connections import ConnectionsOptions, preflight, run_connections, summary
    from ops.drills.guard import guard_for, stop_conditions
    from ops.drills.steady import SteadyState
    from ops.lease import ledger_for
    from ops.report import Journal
    from ops.targets.registry import open_cluster

    cfg = app().config.for_env(env_name)
    env = cfg.env(env_name)
    conditions = stop_conditions(cfg.policy, stop_on_alarms, abort_after_downtime, measures_downtime=False, drill="connections")
    require_write(env, confirm, target)
    with interruptible():
        cluster = open_cluster(cfg, env, target, secret_arn)
        # Before anything is started: an alarm already in ALARM or unknown refuses in one line, exit 2, nothing touched.
        guard = guard_for(cfg, env, conditions)
        guard.check_before()
        started = ensure_running(cluster, start_if_stopped, env.schedule, utcnow())
        endpoint = cluster.client_endpoint(via)
        bound = preflight(endpoint, clients, allow_exhaustion=allow_exhaustion, via=via)
        opts = ConnectionsOptions(clients=clients, rate_per_client=rate, duration_s=duration, query_ms=query_ms, ramp_s=ramp,
                                  setup_p95_ms=cfg.policy.connection_setup_p95_ms,
                                  pool_utilization_min=cfg.policy.pool_utilization_min,
                                  query_overhead_p95_ms=cfg.policy.query_overhead_p95_ms,
                                  pool_wait_max_ms=cfg.policy.pool_wait_max_ms)
        drill_id = new_drill_id("connections")
        with ledger_for(cfg, env).acquire(target, drill_id, hours=max(1.0, duration / 3600 + 0.5)) as lease:
            journal = Journal("connections", target, env.name)
            note(journal, started)
            journal.details.update(drill_id=drill_id, via=endpoint.label, server_connections=bound)
            journal.event("pre", bound)
            steady = SteadyState(cluster, cfg.policy.max_replica_lag_s)
            steady.record()
            report = guarded(journal, lambda: run_connections(endpoint.dsn, endpoint.pool_admin_dsn, opts, journal, endpoint.label,
                                                              should_stop=lambda: _lost(lease), guard=guard), app().debug,
                             guard=guard, steady=steady)
            report = lease.judge(report)
    if report.status in ("pass", "fail"):
        report = replace(report, summary=summary(report))
    return finish(report, env, report_dir, junit, publish_metrics, as_json)


@drill.command()
@click.argument("target")
@click.option("--multiplier", type=FiniteFloat(min=1, max=1000),
              help="Load at this multiple of the table's recent peak (default: policy throughput_multiplier).")
@click.option("--ramp", "ramp_s", type=FiniteFloat(min=0, max=3600), default=30.0, show_default=True,
              help="Seconds to ramp from the peak to the multiple.")
@click.option("--time", "hold_s", type=FiniteFloat(min=1, max=3600), default=60.0, show_default=True,
              help="Seconds held at the multiple: what the rate and p95 are judged on.")
@click.option("--window-hours", type=FiniteFloat(min=0.1, max=15 * 24), default=24.0, show_default=True,
              help="How far back CloudWatch is read for the peak (one-minute data is kept 15 days).")
@click.option("--baseline-wcu", type=FiniteFloat(min=0, max=40000),
              help="Write units a second to multiply instead of the CloudWatch peak (a table with no recent writes).")
@click.option("--baseline-rcu", type=FiniteFloat(min=0, max=40000),
              help="Read units a second to multiply instead of the CloudWatch peak (a table with no recent reads).")
@click.option("--max-cost", type=FiniteFloat(min=0, max=100000),
              help="Refuse the drill when its estimated cost is above this, USD (default: policy max_drill_cost_usd).")
@click.option("--p95-ms", type=FiniteFloat(min=0.001, max=60000),
              help="Objective for the p95 of writes and of reads, ms (default: policy throughput_p95_ms).")
@click.option("--metrics-wait", type=FiniteFloat(min=0, max=900), default=120.0, show_default=True,
              help="Seconds to wait afterwards for CloudWatch to publish the drill's minutes.")
@click.option("--allow-throttling", is_flag=True,
              help="Load a table beyond what the application leaves of its capacity (or an on-demand table beyond its maximum "
                   "or warm throughput): the application's requests may throttle too. The drill stops on one only once CloudWatch "
                   "has published its minute (a minute or more late on AWS): a shorter drill is not stopped by them.")
@click.option("--allow-replicas", is_flag=True,
              help="Load a global table: every write is replicated to each replica, and priced per replica.")
@stop_options
@click.option("--allow-gsi-writes", is_flag=True,
              help="Load a table whose global secondary indexes take the drill's items (their key attributes are all on "
                   "them): each index takes every write, its capacity not budgeted; priced once more per index.")
@report_options
def throughput(target: str, multiplier: float | None, ramp_s: float, hold_s: float, window_hours: float,
               baseline_wcu: float | None, baseline_rcu: float | None, max_cost: float | None, p95_ms: float | None,
               metrics_wait: float, allow_throttling: bool, allow_replicas: bool, allow_gsi_writes: bool,
               stop_on_alarms: tuple[str, ...], abort_after_downtime: float | None, confirm: tuple[str, ...], env_name: str | None, as_json: bool, report_dir, junit,
               publish_metrics: bool) -> int:  # type: ignore[no-untyped-def]
    """Drive DynamoDB TARGET at a multiple of its recent peak with items of its own: throttles, p95, rate, cost."""
    from ops.aws import Aws
    from ops.cost.estimate import load_catalog
    from ops.data.ddb_load import LoadTarget
    from ops.drills.common import guarded, interruptible, new_drill_id
    from ops.drills.guard import guard_for, stop_conditions
    from ops.drills.throughput import ThroughputOptions, excluded_intervals, plan, refuse_if_costly, run_throughput
    from ops.errors import UsageError
    from ops.lease import ledger_for
    from ops.report import Journal, list_reports
    from ops.targets import parse_target

    ref = parse_target(target)
    if ref.kind != "dynamodb":
        raise UsageError(f"{ref} is not a DynamoDB table: the throughput drill takes dynamodb:TABLE")
    cfg = app().config.for_env(env_name).with_policy(throughput_multiplier=multiplier, throughput_p95_ms=p95_ms,
                                                     max_drill_cost_usd=max_cost)
    env = cfg.env(env_name)
    conditions = stop_conditions(cfg.policy, stop_on_alarms, abort_after_downtime, measures_downtime=False, drill="throughput")
    require_write(env, confirm, str(ref))
    policy = cfg.policy
    opts = ThroughputOptions(multiplier=policy.throughput_multiplier, ramp_s=ramp_s, hold_s=hold_s, window_h=window_hours,
                             baseline_wcu=baseline_wcu, baseline_rcu=baseline_rcu, p95_ms=policy.throughput_p95_ms,
                             tolerance=policy.throughput_rate_tolerance, max_cost_usd=policy.max_drill_cost_usd,
                             metrics_wait_s=metrics_wait, allow_throttling=allow_throttling, allow_replicas=allow_replicas,
                             allow_gsi_writes=allow_gsi_writes)
    catalog = load_catalog(env.region)  # the table's region's prices
    with interruptible():
        load = LoadTarget(ref.name, Aws.for_env(cfg, env))
        ledger = ledger_for(cfg, env)
        earlier = excluded_intervals(list_reports(report_dir or cfg.report_dir, "throughput"), str(ref), ledger.windows(str(ref)))
        drill_plan = plan(load, opts, catalog, earlier)
        refuse_if_costly(drill_plan, opts.max_cost_usd)  # one line, exit 2, before anything is written
        guard = guard_for(cfg, env, conditions)
        guard.check_before()  # an alarm in ALARM or unknown: one line, exit 2, no load sent
        drill_id = new_drill_id("throughput")
        with ledger.acquire(str(ref), drill_id, hours=(ramp_s + hold_s + metrics_wait + 900) / 3600 + 0.5) as lease:
            journal = Journal("throughput", str(ref), env.name)
            report = guarded(journal, lambda: run_throughput(load, drill_plan, opts, journal, drill_id, ledger, catalog, guard=guard),
                             app().debug, guard=guard)
            report = lease.judge(report)
    return finish(report, env, report_dir, junit, publish_metrics, as_json)


@drill.command()
@click.argument("target")
@click.option("--workload", "workloads", metavar="FILE[@WEIGHT]", multiple=True, required=True,
              help="pgbench custom script, optionally weighted as pgbench's -f takes it (repeatable).")
@click.option("--rate", type=FiniteFloat(min=0.1, max=100000), default=50.0, show_default=True,
              help="Transactions per second, all clients together (pgbench -R).")
@click.option("--clients", type=click.IntRange(1, 1000), default=4, show_default=True, help="Client connections (pgbench -c).")
@click.option("--time", "duration", type=click.IntRange(1, 86400), default=30, show_default=True, help="Seconds of load (pgbench -T).")
@click.option("--endpoint", type=click.Choice(["writer", "reader"]), default="writer", show_default=True,
              help="Run against the writer or the reader endpoint.")
@click.option("--define", "defines", metavar="NAME=VALUE", multiple=True, help="A variable for the scripts (pgbench -D; repeatable).")
@click.option("--query-class", type=click.Choice(["indexed", "general"]), default="indexed", show_default=True,
              help="Objective: indexed queries (policy query_p95_ms) or Aurora queries in general (query_aurora_p95_ms).")
@click.option("--p95-ms", type=FiniteFloat(min=0.001, max=3_600_000), help="Objective for each script's p95, ms (overrides --query-class).")
@click.option("--baseline", metavar="REPORT", type=NonEmpty(),
              help="A latency report (id or JSON path): each script's p95 must fall by index_gain_min against it.")
@stop_options
@click.option("--read-write", is_flag=True,
              help="Let the workload write, as the target's own user (default: it runs as a role of the drill's that cannot "
                   "write, and any write it makes anyway fails the drill).")
@secret_arn_option
@start_if_stopped_option
@report_options
def latency(target: str, workloads: tuple[str, ...], rate: float, clients: int, duration: int, endpoint: str,
            defines: tuple[str, ...], query_class: str, p95_ms: float | None, baseline: str | None, read_write: bool,
            stop_on_alarms: tuple[str, ...], abort_after_downtime: float | None, secret_arn: str | None, start_if_stopped: bool, confirm: tuple[str, ...], env_name: str | None, as_json: bool, report_dir, junit,
            publish_metrics: bool) -> int:  # type: ignore[no-untyped-def]
    """Run a pgbench workload against TARGET at a fixed rate; judge p50/p95/p99 per script and errors."""
    from dataclasses import replace

    from ops.drills.common import guarded, interruptible, new_drill_id
    from ops.drills.guard import guard_for, stop_conditions
    from ops.drills.latency import LatencyOptions, Where, connections_bound, find_baseline, run_latency, summary
    from ops.drills.steady import SteadyState
    from ops.lease import ledger_for
    from ops.query import pgbench
    from ops.query.endpoints import endpoint_of, probe
    from ops.report import Journal
    from ops.targets import parse_target
    from ops.targets.registry import open_cluster

    ref = parse_target(target)
    scripts = pgbench.parse_scripts(workloads)
    variables = pgbench.parse_defines(defines)
    cfg = app().config.for_env(env_name)
    env = cfg.env(env_name)
    conditions = stop_conditions(cfg.policy, stop_on_alarms, abort_after_downtime, measures_downtime=False, drill="latency")
    base = find_baseline(report_dir or cfg.report_dir, baseline) if baseline else None
    pgbench.validate(pgbench.binary(), scripts, variables)  # a script pgbench cannot parse: refused before the lease
    require_write(env, confirm, str(ref))
    objective = p95_ms or (cfg.policy.query_p95_ms if query_class == "indexed" else cfg.policy.query_aurora_p95_ms)
    with interruptible():
        cluster = open_cluster(cfg, env, str(ref), secret_arn)
        # Before anything is started: an alarm already in ALARM or unknown refuses in one line, exit 2, nothing touched.
        guard = guard_for(cfg, env, conditions)
        guard.check_before()
        started = ensure_running(cluster, start_if_stopped, env.schedule, utcnow())
        chosen = endpoint_of(cluster, endpoint)
        reached = probe(chosen)
        pgbench.environment(chosen.dsn, read_only=not read_write)  # a DSN pgbench cannot be given: refused before the lease
        opts = LatencyOptions(scripts=scripts, clients=clients, rate=rate, duration_s=duration, p95_ms=objective,
                              min_transactions=cfg.policy.min_statement_calls, gain_min=cfg.policy.index_gain_min,
                              read_only=not read_write, defines=variables, baseline=base, query_class=query_class)
        bound = connections_bound(cluster, chosen, reached.in_recovery, clients)  # one line, exit 2, before the lease
        drill_id = new_drill_id("latency")
        where = Where(chosen.dsn, chosen.label, drill_id, cluster.writer_dsn(), on_reader=reached.in_recovery)
        with ledger_for(cfg, env).acquire(str(ref), drill_id, hours=max(1.0, duration / 3600 + 0.5)) as lease:
            journal = Journal("latency", str(ref), env.name)
            note(journal, started)
            journal.details.update(drill_id=drill_id, server=reached.server, server_in_recovery=reached.in_recovery,
                                   server_connections=bound)
            journal.event("pre", bound)
            watched = replace(opts, should_stop=lambda: _lost(lease))  # a lost lease stops pgbench at once
            steady = SteadyState(cluster, cfg.policy.max_replica_lag_s)
            steady.record()
            report = guarded(journal, lambda: run_latency(where, watched, journal, guard=guard), app().debug, guard=guard, steady=steady)
            report = lease.judge(report)
    if report.status in ("pass", "fail", "inconclusive"):
        report = replace(report, summary=summary(report))
    return finish(report, env, report_dir, junit, publish_metrics, as_json)
