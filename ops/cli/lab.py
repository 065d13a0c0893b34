"""dbops lab up|down|status|env"""

from __future__ import annotations

import click

from ops.cli.context import app, emit
from ops.cli.options import FiniteFloat, json_option
from ops.errors import LabError


@click.group()
def lab() -> None:
    """Start, stop and inspect the embedded lab (AWS emulator, local PostgreSQL)."""


@lab.command()
@click.option("--replicas", type=click.IntRange(1, 5), default=1, show_default=True, help="Streaming replicas of lab-pg.")
@click.option("--sync", is_flag=True, help="Synchronous replication (every commit waits for a replica).")
@click.option("--no-postgres", is_flag=True, help="Start the AWS emulator only.")
def up(replicas: int, sync: bool, no_postgres: bool) -> None:
    """Start the lab; a part that already runs is left as it is."""
    from ops.lab import lab as core

    cfg = app().config
    core.up(cfg, core.LabOptions(replicas=replicas, sync=sync, with_postgres=not no_postgres), click.echo)
    click.echo("lab is up; `dbops lab env` prints the shell exports")


@lab.command()
@click.option("--force", is_flag=True, help="Stop the drills running on the lab first (each cleans up and reports aborted).")
def down(force: bool) -> None:
    """Stop everything `lab up` started; remove nothing else. Refused while a drill holds a lab target."""
    from ops.lab import lab as core

    core.down(app().config, click.echo, force=force)


@lab.command()
@json_option
def status(as_json: bool) -> int:
    """Show what runs: the emulator, each PostgreSQL member's role, port, replication and lag, and the
    pooler. Exits 1 when a part of a running lab is down (or PostgreSQL is split or degraded), 0 when
    every part runs or none does."""
    from ops.errors import EXIT_FAILED, EXIT_PASS
    from ops.lab import lab as core

    data = core.status(app().config)
    emit(data, as_json, _human_status(data))
    return EXIT_FAILED if data["down"] else EXIT_PASS


def _human_status(data: dict) -> str:
    emu = data["emulator"]
    lines = [f"emulator: {emu['state']}" + (f" at {emu['endpoint']} (pid {emu['pid']})" if emu["state"] == "running" else "")]
    pg = data["postgres"]
    lines.append(f"{pg.get('name', 'lab-pg')}: {pg['state']}" + (f" ({pg.get('mode')})" if pg.get("mode") else ""))
    if pg["state"] == "split-brain":
        lines.append(f"  SPLIT-BRAIN: {', '.join(pg['accepting_writes'])} all accept writes; `dbops lab up` keeps the newest timeline")
    elif pg["state"] == "writer-mismatch":
        lines.append(f"  the state file names {pg['writer']} the writer, but {', '.join(pg['accepting_writes'])} accept(s) writes")
    for m in pg.get("members", []):
        lag = "-" if m.get("lag_bytes") is None else f"{m['lag_bytes']} bytes"
        really = {True: "read-only", False: "ACCEPTS WRITES"}.get(m.get("in_recovery"), "-")
        lines.append(
            f"  {m['name']:<10} {m['role']:<8} port {m['port']:<6} {m['state']:<8} {really:<14} "
            f"replication: {m.get('replication', '-'):<12} lag: {lag}"
        )
    pooler = pg.get("pooler")
    if pooler is not None:
        lines.append(f"  pooler     {pooler['state']}" + (f" on port {pooler['port']}" if pooler.get("port") else "")
                     + (" (none: pgbouncer is not installed)" if pooler["state"] == "absent" else ""))
    if data["down"]:
        lines.append(f"DOWN: {', '.join(data['down'])}; `dbops lab up` starts what is down")
    return "\n".join(lines)


@lab.command("env")
def env_() -> None:
    """Print the export lines a shell needs to use the running lab."""
    from ops.lab import lab as core

    lines = core.env_lines(app().config)
    if not lines:
        raise LabError("the lab is not running: run `dbops lab up`")
    click.echo("\n".join(lines))


@lab.command("seed-orders")
@click.option("--rows", type=click.IntRange(1_000, 100_000_000), default=100_000, show_default=True,
              help="Orders to load (10 000 customers, 1-3 items per order); reloaded only when the count differs.")
@click.option("--without-index", is_flag=True, help="Drop the index a customer's order history needs (the negative control).")
@click.option("--reload", is_flag=True, help="Reload the data even when it holds --rows orders already.")
@click.option("--target", default="localpg:lab-pg", show_default=True, metavar="KIND:NAME",
              help="The lab's PostgreSQL (localpg:lab-pg) or an Aurora cluster of the lab (aurora:NAME).")
@click.option("--secret-arn", metavar="ARN", help="Master secret of the lab's Aurora cluster (default: the lab env's Terraform outputs).")
def seed_orders(rows: int, without_index: bool, reload: bool, target: str, secret_arn: str | None) -> None:
    """Load the orders dataset (schema `orders`) into the lab for `workloads/orders.sql`; then the
    supporting index is made present (or absent) and the database's statistics are reset."""
    from ops.errors import UsageError
    from ops.lab import orders
    from ops.lease import ledger_for
    from ops.query.endpoints import endpoint_of
    from ops.targets import parse_target
    from ops.targets.registry import open_cluster

    ref = parse_target(target)
    cfg = app().config
    env = cfg.env()
    if not env.is_embedded:
        raise UsageError(f"seed-orders loads data into the embedded lab only; env '{env.name}' is not the lab")
    cluster = open_cluster(cfg, env, str(ref), secret_arn)
    dsn = endpoint_of(cluster, "writer").dsn
    with ledger_for(cfg, env).acquire(str(ref), "seed-orders", hours=1):  # not in the middle of a drill
        done = orders.seed(dsn, rows, with_index=not without_index, reload=reload, echo=click.echo)
    click.echo(f"{ref}: {done.describe()}")


@lab.command("etl-fault")
@click.argument("kind", type=click.Choice(["bad-rows", "schema-change", "missing-partition", "heal"]))
@click.option("--pipeline", "pipeline_name", metavar="PIPELINE", help="missing-partition: the pipeline whose lake loses a partition.")
@click.option("--table", metavar="TABLE", help="missing-partition: the pipeline's table (default: its first partitioned one).")
def etl_fault(kind: str, pipeline_name: str | None, table: str | None) -> None:
    """Inject a fault the analytics export must catch: bad rows or a schema change in the seeded orders
    (orders.orders), or a partition of a table's newest published batch lost from the lab's S3; `heal`
    removes the bad rows and the added column."""
    from ops.errors import UsageError
    from ops.lab import etl_faults
    from ops.query.endpoints import endpoint_of
    from ops.targets.registry import open_cluster

    cfg = app().config
    env = cfg.env()
    if not env.is_embedded:
        raise UsageError(f"etl-fault changes the embedded lab only; env '{env.name}' is not the lab")
    if kind == "missing-partition":
        from ops.aws import Aws
        from ops.etl import lake
        from ops.etl.config import pipeline

        if not pipeline_name:
            raise UsageError("missing-partition needs --pipeline PIPELINE")
        p = pipeline(cfg.pipelines, pipeline_name, cfg.source)
        specs = [s for s in p.tables if (s.name == table if table else s.partition_by)]
        if not specs:
            raise UsageError(f"pipeline {p.name} has no {'table ' + table if table else 'partitioned table'}")
        s3 = Aws.for_env(cfg, env).client("s3")
        manifest = lake.latest(s3, lake.Place(p.destination.bucket, p.destination.prefix, specs[0].name))
        if manifest is None:
            raise UsageError(f"{p.name}.{specs[0].name} has no published batch yet: run `dbops etl run {p.name}` first")
        try:
            value, files = etl_faults.missing_partition(s3, p.destination.bucket, manifest)
        except ValueError as exc:
            raise UsageError(str(exc)) from None
        click.echo(f"{p.name}.{specs[0].name}: batch {manifest['batch']} lost partition {value} ({files} file(s) deleted)")
        return
    dsn = endpoint_of(open_cluster(cfg, env, "localpg:lab-pg"), "writer").dsn
    if kind == "bad-rows":
        click.echo(f"orders.orders: {etl_faults.bad_rows(dsn)} orders added with status '{etl_faults.BAD_STATUS}' and a negative total")
    elif kind == "schema-change":
        etl_faults.schema_change(dsn)
        click.echo("orders.orders: column coupon (text) added")
    else:
        click.echo(f"orders.orders: {etl_faults.heal(dsn)} bad order(s) removed, column coupon dropped if present")


@lab.command("set")
@click.argument("assignments", nargs=-1, required=True, metavar="NAME=VALUE...")
def set_(assignments: tuple[str, ...]) -> None:
    """Change settings of the running lab's emulated services (see `dbops lab settings`)."""
    from ops.errors import UsageError
    from ops.lab.aws import emulator, settings

    values = {}
    for a in assignments:
        name, sep, value = a.partition("=")
        if not sep or not name:
            raise UsageError(f"'{a}' is not NAME=VALUE")
        values[name] = value
    endpoint = emulator.endpoint(app().config.lab_dir)
    if endpoint is None:
        raise LabError("the lab is not running: run `dbops lab up`")
    now = settings.remote(endpoint, values)
    click.echo("\n".join(f"{name} = {now[name]['value']}" for name in values))


@lab.command("settings")
@json_option
def settings_(as_json: bool) -> None:
    """Show the settings of the running lab's emulated services, with their defaults."""
    from ops.lab.aws import emulator, settings

    endpoint = emulator.endpoint(app().config.lab_dir)
    if endpoint is None:
        raise LabError("the lab is not running: run `dbops lab up`")
    data = settings.remote(endpoint)
    lines = [f"{name:<32} {s['value']!s:<12} (default {s['default']}{_range(s)}) {s['doc']}" for name, s in data.items()] or ["no settings"]
    emit(data, as_json, "\n".join(lines))


def _range(setting: dict) -> str:
    low, high = setting.get("range") or (None, None)
    return "" if low is None else f", {low:g} to {high:g}"


@lab.group("backup")
def backup_() -> None:
    """AWS Backup in the lab: run the backup plans now instead of at their schedule."""


@backup_.command("run")
@click.option("--plan", metavar="NAME", help="Run this backup plan only (default: every plan).")
@click.option("--no-wait", is_flag=True, help="Return once the jobs are started.")
@click.option("--timeout", type=FiniteFloat(1, 86400), default=600, show_default=True, help="Seconds to wait for the jobs to end.")
@json_option
def backup_run(plan: str | None, no_wait: bool, timeout: float, as_json: bool) -> None:
    """Run the backup plans' rules now, as their schedule would: one job per rule and per resource the
    plan's selections cover (by ARN or tag), into the rule's vault with the selection's role; then
    wait until every job has ended. `dbops lab set backup_fault=...` makes the next job fail."""
    from ops.aws import Aws
    from ops.lab.aws import backup_run as core
    from ops.lab.aws import emulator

    endpoint = emulator.endpoint(app().config.lab_dir)
    if endpoint is None:
        raise LabError("the lab is not running: run `dbops lab up`")
    clients: dict[str, object] = {}

    def client_for(region: str):  # type: ignore[no-untyped-def]
        if region not in clients:
            clients[region] = Aws(region=region, endpoint_url=endpoint).client("backup")
        return clients[region]

    echo = (lambda m: click.echo(m, err=True)) if as_json else click.echo
    jobs = core.run(endpoint, plan, not no_wait, timeout, echo, client_for)
    if as_json:
        emit({"jobs": jobs}, True, "")
