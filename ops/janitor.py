"""Find and delete what drills left behind.

Ways to find a leftover, so a drill or run killed at any point leaves something findable:

- drill records (ops.lease): written before a drill creates anything; they name the
  restored target and say whether the drill wrote rows into the source;
- tags `dbops:drill-id` / `dbops:expires-at` on Aurora clusters and DynamoDB tables, and
  the drill-id suffix of a restored table's name (RestoreTableToPointInTime cannot tag);
- latency drills' read-only login roles (dbops_ro_*) whose validity has ended, on the env's
  Aurora clusters (and, through the lab's source, on lab-pg);
- what a plugin registers as a janitor source (ops.plugins: the lab's local restore
  directories of lab-pg with their owner.json), and drill rows (markers, canary rows) older
  than a drill can run, in PostgreSQL targets;
- what a killed `etl run` left (ops.etl.leftovers, ops.etl.workdir): files under a batch prefix with no
  manifest, of a pipeline whose lease `etl:PIPELINE` no run holds (deleted while the janitor holds that
  lease), and local work directories whose run's process is gone from this host.

A leftover is removed when its expiry has passed or its drill process is gone from this
host (after a SIGKILL); one whose drill still runs, or still holds its target's lease (on any
host), is never touched. Outside a drill record, a resource must carry the drill tag *and* the
drill's name (the restore's identifier ends with the drill id the tag names): a tag alone, on a
resource of another name, is not enough. An Aurora cluster found that way is deleted with a
final snapshot. A restore kept with
--keep lives until it expires (`drill restore --keep-hours H` sets that expiry H hours out), and
`--keep-hours H` keeps every restore whose drill started less than H hours ago, whatever its
expiry (restores kept in an incident under the default expiry). "Deleted" is reported only once
it is seen gone; otherwise it is reported as pending and found again by the next run.

On an account each kind's listing, each resource's read and each removal is tried on its own:
a throttle or AccessDenied is named in the output and the rest goes on. A read that failed is
never "nothing found": the janitor then says it cannot tell (exit 4) unless something is
known to be left (exit 1).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any, Callable, TypeVar

import botocore.exceptions

from ops import plugins
from ops.config import Config, EnvConfig
from ops.errors import DbopsError, describe
from ops.drills.common import DRILL_TAG, EXPIRES_TAG
from ops.drills.recovery_point_restore import BACKUP_JOB
from ops.drills.restore import KEPT, OWNER_TAG
from ops.lease import Record, ledger_for
from ops.proc import owner_alive
from ops.permissions import declare, need

# Drill rows older than this belong to no running drill (a drill's lease lasts at most a few hours).
STALE_ROWS_AFTER = timedelta(hours=12)


# What the janitor lists to find leftovers (by tag, record or name) and what it removes: only what drills made.
CALLS = declare(
    "janitor",
    need("rds:DescribeDBClusters", on="rds-cluster"),
    need("rds:DescribeDBInstances", on="rds-db"),
    need("rds:ListTagsForResource", on="rds-cluster"),
    need("rds:DeleteDBInstance", on="restored-db", when="drill-tagged"),
    need("rds:DeleteDBCluster", on="restored-cluster", when="drill-tagged"),
    need("rds:DeleteDBCluster", action="rds:CreateDBClusterSnapshot", on="restored-cluster", when="drill-tagged",
         why="a kept restore is deleted with a final snapshot"),
    need("rds:DeleteDBCluster", action="rds:CreateDBClusterSnapshot", on="rds-cluster-snapshot",
         why="a kept restore is deleted with a final snapshot"),
    need("dynamodb:ListTables", on="*"),
    need("dynamodb:DescribeTable", on="dynamodb-table"),
    need("dynamodb:ListTagsOfResource", on="dynamodb-table"),
    need("dynamodb:DeleteTable", on="restored-table", when="drill-tagged"),
    need("backup:ListBackupVaults", on="*"),
    need("backup:ListRecoveryPointsByBackupVault", on="backup-vault"),
    need("backup:ListTags", on="recovery-point"),
    need("backup:DescribeBackupJob", on="*"),
    need("backup:StopBackupJob", on="*"),
    need("backup:DeleteRecoveryPoint", on="recovery-point", when="drill-tagged"),
)
DRILL_ID = r"(?:restore|failover)-\d{8}T\d{6}Z-[0-9a-f]{6}"
T = TypeVar("T")


@dataclass(frozen=True)
class Leftover:
    kind: str
    name: str
    drill_id: str
    why: str
    delete: Callable[[], bool]  # one deletion step; True once the thing is seen gone
    kept: bool = False  # kept with --keep (in an incident): only its expiry or `--drill ID` removes it
    rows: Callable[[], bool] | None = None  # a drill record's rows in its source alone, removed even when its restore is kept

    def as_dict(self) -> dict[str, str]:
        return {"kind": self.kind, "name": self.name, "drill_id": self.drill_id, "why": self.why}


def _expired(expires_at: str | None, now: datetime) -> bool:
    if not expires_at:
        return False
    try:
        return datetime.strptime(expires_at, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=timezone.utc) <= now
    except ValueError:
        return True  # an unreadable expiry is not a reason to keep something forever


def judge(drill_id: str, expires_at: str | None, owner: str | None, include_unexpired: bool, now: datetime) -> str | None:
    """Why a drill resource should go, or None to keep it."""
    alive = owner_alive(owner)
    if alive:
        return None
    if _expired(expires_at, now):
        return f"expired at {expires_at}"
    if alive is False:
        return "its drill process is gone"
    if include_unexpired:
        return f"not expired ({expires_at}) but removal of unexpired leftovers was asked for"
    return None


def _tags(tag_list: list[dict[str, str]] | None) -> dict[str, str]:
    return {t["Key"]: t["Value"] for t in tag_list or []}


def _read(unread: list[str], what: str, fn: Callable[[], T], default: T) -> T:
    """One listing or read: a failure is noted in `unread` and the janitor goes on with the rest.

    An endpoint that does not answer, missing credentials or a broken lab (BotoCoreError,
    DbopsError) still stop the command in one line, exit 2: every other read would fail alike.
    """
    try:
        return fn()
    except (DbopsError, botocore.exceptions.BotoCoreError):
        raise
    except Exception as exc:  # noqa: BLE001 — a throttle or AccessDenied on one thing must not hide the others
        unread.append(f"{what}: {describe(exc) or exc}")
        return default


# --- drill records --------------------------------------------------------------------------


def record_leftovers(cfg: Config, env: EnvConfig, ledger: Any, records: list[Record], include_unexpired: bool,
                     now: datetime) -> list[Leftover]:
    found = []
    for record in records:
        why = judge(record.drill_id, record.expires_at, None if record.kept else record.owner, include_unexpired, now)
        if why:
            rows = (lambda r=record: _remove_rows(cfg, env, r.target, r.drill_id) or True) if record.markers else None
            found.append(Leftover("drill-record", record.target, record.drill_id, why,
                                  lambda r=record: _clean_record(cfg, env, ledger, r), kept=record.kept, rows=rows))
    return found


def _clean_record(cfg: Config, env: EnvConfig, ledger: Any, record: Record) -> bool:
    """Remove a record's rows and resources; the record goes once all of them are seen gone."""
    from ops.targets import parse_target

    ref = parse_target(record.target)
    steps: list[Callable[[], bool]] = []
    if record.markers:
        steps.append(lambda: _remove_rows(cfg, env, str(ref), record.drill_id) or True)
    steps += [(lambda r=res: _delete_backup_point(cfg, env, r)) if res.get("kind") == BACKUP_JOB else
              (lambda n=res["name"]: _delete_restore(cfg, env, ref.kind, ref.name, n, record.drill_id, record.kept))
              for res in record.resources]
    done, errors = True, []
    for step in steps:  # each tried even when one fails: rows denied must not keep a restored cluster running
        try:
            done &= step()
        except Exception as exc:  # noqa: BLE001
            done = False
            errors.append(exc)
    if errors:
        raise errors[0]  # the record stays for the next run
    if done:
        ledger.delete_record(record.drill_id)
    return done


def _remove_rows(cfg: Config, env: EnvConfig, target: str, drill_id: str) -> None:
    from ops.targets import parse_target

    ref = parse_target(target)
    if ref.kind == "dynamodb":
        from ops.aws import Aws
        from ops.data import ddb_markers
        from ops.data.markers import MARKERS_PER_SIDE

        ddb = Aws.for_env(cfg, env).client("dynamodb")
        try:
            table = ddb.describe_table(TableName=ref.name)["Table"]
        except ddb.exceptions.ResourceNotFoundException:
            return
        from ops.data import ddb_load

        if ddb_load.owns(drill_id):
            ddb_load.remove(ddb, table, drill_id)  # the items its manifest names, read by key; throttles waited out
            return
        ddb_markers.remove(ddb, table, drill_id, MARKERS_PER_SIDE)
        return
    from ops.data import canary, markers
    from ops.targets.registry import open_cluster

    dsn = open_cluster(cfg, env, target).writer_dsn()
    if dsn:
        with markers.connect(dsn) as conn:
            markers.remove(conn, drill_id)
        canary.purge(dsn, drill_id)


def _delete_backup_point(cfg: Config, env: EnvConfig, resource: dict[str, str]) -> bool:
    """One step for a drill's on-demand backup job: True once it has ended and its recovery point is seen gone.
    A job still running is asked to stop and stays pending: its point may yet appear."""
    from ops.aws import Aws
    from ops.targets.recovery_point import ENDED_JOB_STATES, RecoveryPoints

    backup = Aws.for_env(cfg, env).client("backup")
    try:
        job = backup.describe_backup_job(BackupJobId=resource["name"])
    except backup.exceptions.ResourceNotFoundException:
        return True  # AWS Backup keeps no such job: it made nothing
    if job["State"] not in ENDED_JOB_STATES:
        try:
            backup.stop_backup_job(BackupJobId=resource["name"])
        except botocore.exceptions.ClientError:
            pass  # not stoppable (a job that is about to end): it is looked at again on the next run
        return False
    point = job.get("RecoveryPointArn")
    if not point:
        return True
    return RecoveryPoints(backup, "").gone(job.get("BackupVaultName") or resource.get("vault", ""), point)


def _delete_restore(cfg: Config, env: EnvConfig, kind: str, source: str, name: str, drill_id: str, kept: bool = False) -> bool:
    if kind not in ("aurora", "dynamodb"):
        from ops.plugins import target_kind

        plugged = target_kind(kind)
        if plugged is None:
            raise DbopsError(f"a drill record names a restore of kind '{kind}', which no installed plugin provides")
        return plugged.delete_restore(cfg, source, name, drill_id)
    from ops.aws import Aws

    aws = Aws.for_env(cfg, env)
    if kind == "dynamodb":
        from ops.targets.dynamodb import delete_table, table_gone

        ddb = aws.client("dynamodb")
        delete_table(ddb, name)
        return table_gone(ddb, name)
    from ops.targets.aurora import delete_cluster_step, restored_names

    # A restore kept in an incident may hold what someone still needs: its data goes to a final snapshot.
    final = f"{name[:245]}-final" if kept else None
    return delete_cluster_step(aws.client("rds"), name, [restored_names(source, drill_id)[1]], final)


# --- stale drill rows in PostgreSQL targets ---------------------------------------------------


def stale_rows(dsn: str, target: str, live: set[str], now: datetime) -> list[Leftover]:
    """Markers and canary rows of drills that are not running and older than any drill runs."""
    from ops.data import canary, markers

    cutoff = now - STALE_ROWS_AFTER
    found = []
    with markers.connect(dsn) as conn:
        drills: set[str] = set()
        if conn.execute("SELECT to_regclass(%s) IS NOT NULL", (markers.TABLE,)).fetchone()[0]:
            drills |= {r[0] for r in conn.execute(
                f"SELECT DISTINCT split_part(source, ':', 1) FROM {markers.TABLE} WHERE written_at < %s", (cutoff,))}
        if conn.execute("SELECT to_regclass(%s) IS NOT NULL", (canary.TABLE,)).fetchone()[0]:
            drills |= {r[0] for r in conn.execute(f"SELECT DISTINCT drill_id FROM {canary.TABLE} WHERE client_ts < %s", (cutoff,))}
    for drill_id in sorted(d for d in drills if re.fullmatch(DRILL_ID, d) and d not in live):
        def delete(d=drill_id) -> bool:  # type: ignore[no-untyped-def]
            with markers.connect(dsn) as conn:
                markers.remove(conn, d)
            canary.purge(dsn, d)
            return True

        found.append(Leftover("drill-rows", target, drill_id, f"rows older than {STALE_ROWS_AFTER} of a drill that is not running", delete))
    return found


# --- tagged and drill-named AWS resources --------------------------------------------------------


def aws_leftovers(aws: Any, include_unexpired: bool, now: datetime, recorded: set[str], unread: list[str]) -> list[Leftover]:
    """Every list call is read to its last page (paginators, NextToken): a drill's resource or tag may be on any."""
    from ops.targets.aurora import delete_cluster_step
    from ops.targets.dynamodb import RESTORED_NAME, delete_table, table_gone

    rds = aws.client("rds")

    def clusters() -> list[Leftover]:
        found = []
        for page in rds.get_paginator("describe_db_clusters").paginate():
            for c in page["DBClusters"]:
                tags = _tags(c.get("TagList", []))
                # RDS keeps identifiers in lower case (the drill id in the tag keeps its T and Z).
                if (DRILL_TAG not in tags or tags[DRILL_TAG] in recorded
                        or not c["DBClusterIdentifier"].lower().endswith(f"-{tags[DRILL_TAG]}".lower())):
                    continue
                why = judge(tags[DRILL_TAG], tags.get(EXPIRES_TAG), tags.get(OWNER_TAG), include_unexpired, now)
                if why:
                    members = [m["DBInstanceIdentifier"] for m in c.get("DBClusterMembers", [])]
                    cid = c["DBClusterIdentifier"]
                    final = f"{cid[:245]}-final"  # no drill record vouches for it: its data is kept
                    found.append(Leftover("aurora-cluster", cid, tags[DRILL_TAG], why + f" (final snapshot {final})",
                                          lambda cid=cid, ms=members, f=final: delete_cluster_step(rds, cid, ms, f),
                                          kept=tags.get(OWNER_TAG) == KEPT))
        return found

    found = _read(unread, "Aurora clusters", clusters, [])
    ddb = aws.client("dynamodb")
    names = _read(unread, "DynamoDB tables",
                  lambda: [n for page in ddb.get_paginator("list_tables").paginate() for n in page["TableNames"]], [])

    def inspect(name: str) -> Leftover | None:
        named = RESTORED_NAME.match(name)
        if not named:
            return None  # only a drill-named table can be a drill's: no read of the others (their tag reads are rate-limited)
        try:
            arn = ddb.describe_table(TableName=name)["Table"]["TableArn"]
            tags = _tags([t for page in ddb.get_paginator("list_tags_of_resource").paginate(ResourceArn=arn)
                          for t in page.get("Tags", [])])
        except ddb.exceptions.ResourceNotFoundException:
            return None
        drill_id = named.group("drill") if named else None
        if drill_id is None or drill_id in recorded or tags.get(DRILL_TAG, drill_id) != drill_id:
            return None  # not drill-named, or tagged for another drill than its name says
        if DRILL_TAG in tags:
            why = judge(drill_id, tags.get(EXPIRES_TAG), tags.get(OWNER_TAG), include_unexpired, now)
        else:
            why = ("named by drill " + drill_id + ", untagged and unrecorded (removal of unexpired leftovers was asked for)"
                   if include_unexpired else None)
        if not why:
            return None

        def delete(n: str = name) -> bool:
            delete_table(ddb, n)
            return table_gone(ddb, n)

        return Leftover("dynamodb-table", name, drill_id, why, delete, kept=tags.get(OWNER_TAG) == KEPT)

    found += [x for x in aws.map(lambda n: _read(unread, f"DynamoDB table {n}", lambda: inspect(n), None), names) if x]
    found += _read(unread, "AWS Backup recovery points",
                   lambda: _recovery_points(aws, include_unexpired, now, recorded, unread), [])
    return found


def _backup_tags(backup: Any, arn: str) -> dict[str, str]:
    """ListTags pages with NextToken, and botocore has no paginator for it."""
    tags: dict[str, str] = {}
    token: dict[str, str] = {}
    while True:
        page = backup.list_tags(ResourceArn=arn, **token)
        tags.update(page.get("Tags", {}))
        if not page.get("NextToken"):
            return tags
        token = {"NextToken": page["NextToken"]}


def _point_tags(aws: Any, backup: Any, arn: str) -> dict[str, str]:
    """A recovery point's tags. AWS Backup's ListTags answers only for ARNs it fully manages
    (arn:aws:backup:...); an Aurora point is an RDS cluster snapshot, whose tags RDS keeps."""
    if arn.split(":")[2:3] == ["rds"]:
        return _tags(aws.client("rds").list_tags_for_resource(ResourceName=arn).get("TagList", []))
    return _backup_tags(backup, arn)


def _recovery_points(aws: Any, include_unexpired: bool, now: datetime, recorded: set[str], unread: list[str]) -> list[Leftover]:
    """AWS Backup recovery points a drill made (tagged with its drill id), as any other drill resource.

    Vaults that cannot be listed raise: a failed read is never "no recovery points"."""
    from ops.aws import is_unimplemented

    backup = aws.client("backup")
    try:
        vaults = [v["BackupVaultName"] for p in backup.get_paginator("list_backup_vaults").paginate()
                  for v in p["BackupVaultList"]]
    except botocore.exceptions.ClientError as exc:
        if is_unimplemented(exc):
            return []  # an endpoint without AWS Backup has no recovery points to leave behind
        raise

    def points(vault: str) -> list[Leftover]:
        found = []
        for page in backup.get_paginator("list_recovery_points_by_backup_vault").paginate(BackupVaultName=vault):
            for point in page.get("RecoveryPoints", []):
                arn = point["RecoveryPointArn"]
                if point.get("Status") == "DELETING":
                    continue
                tags = _read(unread, f"tags of recovery point {arn}", lambda a=arn: _point_tags(aws, backup, a), {})
                drill_id = tags.get(DRILL_TAG)
                if not drill_id or drill_id in recorded:
                    continue
                why = judge(drill_id, tags.get(EXPIRES_TAG), tags.get(OWNER_TAG), include_unexpired, now)
                if why:
                    def delete(v: str = vault, a: str = arn) -> bool:
                        try:
                            backup.delete_recovery_point(BackupVaultName=v, RecoveryPointArn=a)
                        except backup.exceptions.ResourceNotFoundException:
                            return True
                        return False  # deletion is asynchronous: seen gone on a later run

                    found.append(Leftover("recovery-point", arn, drill_id, why, delete))
        return found

    return [x for vault in vaults for x in _read(unread, f"recovery points of vault {vault}", lambda v=vault: points(v), [])]


# An Aurora cluster in these states has no server to read: nothing of it is looked for.
_NO_SERVER = {"stopped", "stopping", "starting", "creating", "deleting"}


def aurora_workload_roles(cfg: Config, env: EnvConfig, aws: Any, unread: list[str], echo: Callable[[str], None]) -> list[Leftover]:
    """Latency drills' read-only roles (ops.query.workload_role) their drill could not drop, on the env's Aurora
    clusters, read on each writer as the master user: once their validity has ended and no session is left.
    A drill's restored cluster is not looked in (it goes whole). A cluster that does not answer is named in
    `unread` (its roles are not known); one whose master credentials the env does not give (no RDS-managed
    secret, none in the Terraform outputs) is named in the output as not looked in: the janitor takes no
    --secret-arn, so that would hold its verdict on every run."""
    from ops.query import workload_role
    from ops.targets.registry import open_cluster

    rds = aws.client("rds")
    clusters = [c["DBClusterIdentifier"] for page in rds.get_paginator("describe_db_clusters").paginate()
                for c in page["DBClusters"]
                if DRILL_TAG not in _tags(c.get("TagList")) and c.get("Status") not in _NO_SERVER
                and str(c.get("Engine", "")).startswith("aurora-postgresql")]

    def roles(cid: str) -> list[Leftover]:
        try:
            dsn = open_cluster(cfg, env, f"aurora:{cid}").writer_dsn()
        except DbopsError as exc:  # no credentials for one cluster: the others are still read
            echo(f"workload roles not looked for on aurora:{cid}: {describe(exc) or exc}")
            return []
        if not dsn:
            raise RuntimeError("no writer endpoint")
        with workload_role.connect_admin(dsn) as conn:
            names = workload_role.expired(conn)

        def delete(name: str) -> bool:
            with workload_role.connect_admin(dsn) as conn:
                said = workload_role.drop(conn, name)
                if workload_role.exists(conn, name):
                    raise RuntimeError(said)
            return True

        return [Leftover("workload-role", f"aurora:{cid} role {n}", n, "its validity ended and it has no session",
                         lambda n=n: delete(n)) for n in names]

    return [x for cid in clusters for x in _read(unread, f"workload roles of aurora:{cid}", lambda c=cid: roles(c), [])]


# --- what a killed `etl run` left ------------------------------------------------------------------------------


def etl_orphans(cfg: Config, aws: Any, ledger: Any, holders: list[Any], unread: list[str]) -> list[Leftover]:
    """Files under a batch prefix with no manifest, older than a run's lease, of pipelines no run holds
    (ops.etl.leftovers); each deleted while the janitor holds the pipeline's lease itself. Without a lease store nothing is looked for: a running
    pipeline could not be told apart. A pipeline dbops.toml declares wrongly is named in `unread` (its prefixes
    are not known) and the others are still looked at."""
    from contextlib import contextmanager
    from typing import Iterator

    from ops.etl import leftovers
    from ops.etl.config import parse
    from ops.lease import new_drill_id

    if ledger is None or not cfg.pipelines:
        return []
    pipelines = []
    for name, table in sorted(cfg.pipelines.items()):
        try:
            pipelines.append(parse(name, table, cfg.source))
        except DbopsError as exc:
            unread.append(f"etl pipeline {name}: {exc}")
    s3 = aws.client("s3")

    @contextmanager
    def hold(target: str) -> Iterator[None]:
        with ledger.acquire(target, new_drill_id("janitor"), hours=leftovers.LEASE_HOURS):
            yield

    return [Leftover("etl-batch-files", o.url, leftovers.lease_target(o.pipeline),
                     f"{o.files} file(s) of batch {o.batch} with no manifest, none written in the last {leftovers.RUN_LEASE_HOURS:g} h "
                     f"(S3's clock), and no run of pipeline {o.pipeline} holds its lease",
                     lambda o=o: leftovers.delete(s3, o, hold))
            for o in leftovers.orphans(s3, pipelines, {h.target for h in holders})]


def etl_work_dirs() -> list[Leftover]:
    """Local work directories of `etl run`s whose process is gone from this host (ops.etl.workdir)."""
    from ops.etl import workdir

    return [Leftover("etl-work-dir", str(d.path), "etl-run", f"its run's process is gone (owner {d.owner})",
                     lambda p=d.path: workdir.remove(p)) for d in workdir.dead()]


@dataclass
class Swept:
    found: list[Leftover]
    failed: list[str]  # leftovers that could not be deleted, each with why: something is known to be left
    unread: list[str]  # what could not be listed or read: the janitor cannot tell whether something is left there


def restore_started(drill_id: str) -> datetime | None:
    """When a restore drill started, read from its id (restore-YYYYMMDDTHHMMSSZ-xxxxxx); None for any other id."""
    match = re.fullmatch(r"restore-(\d{8}T\d{6}Z)-[0-9a-f]{6}", drill_id)
    if not match:
        return None
    return datetime.strptime(match.group(1), "%Y%m%dT%H%M%SZ").replace(tzinfo=timezone.utc)


def young_restores(found: list[Leftover], keep_hours: float, now: datetime) -> list[tuple[Leftover, float]]:
    """The restored resources (and records) of restore drills that started less than keep_hours ago, with their age
    in hours. Rows a drill wrote into its source are not a restore: they are not kept by age."""
    young = []
    for item in found:
        started = restore_started(item.drill_id)
        if started is None or item.kind in ("drill-rows", "workload-role"):
            continue
        age_h = (now - started).total_seconds() / 3600
        if age_h < keep_hours:
            young.append((item, age_h))
    return young


def sweep(cfg: Config, env: EnvConfig, include_unexpired: bool, dry_run: bool,
          echo: Callable[[str], None], now: datetime | None = None, drill: str | None = None,
          keep_hours: float | None = None) -> Swept:
    """Find leftovers and (unless dry_run) delete them; what could not be deleted or read is named, not hidden.
    With `drill`, only that drill's, whatever their expiry (a restore kept in an incident, done with).
    With `keep_hours`, no restore younger than that is touched, whatever its expiry says (an incident's restores)."""
    now = now or datetime.now(timezone.utc)
    include_unexpired = include_unexpired or drill is not None
    ledger = ledger_for(cfg, env) if not env.is_embedded or cfg.lab_dir.exists() else None
    found: list[Leftover] = []
    unread: list[str] = []
    records = _read(unread, "drill records", lambda: list(ledger.records()), []) if ledger is not None else []
    recorded = {r.drill_id for r in records}
    # A drill that holds its target's lease is running, wherever: nothing of it is touched.
    holders = [h for h in (_read(unread, "drill leases", lambda: ledger.holders(), []) if ledger is not None else [])
               if not _expired(h.expires_at, now)]
    held = {h.drill_id for h in holders}
    leases_unread = bool(unread)  # the records or the leases: what is running is not known
    if ledger is not None:
        found += record_leftovers(cfg, env, ledger, records, include_unexpired, now)
    for what, source in plugins.seams().janitor_sources:  # what a plugin runs itself (the lab's lab-pg)
        found += _read(unread, what, lambda s=source: s(cfg, env, include_unexpired, now, recorded), [])
    if env.is_embedded and not plugins.embedded_running(cfg):
        echo("the lab emulator is not running: only local leftovers were looked for")
    else:
        from ops.aws import Aws

        aws = Aws.for_env(cfg, env)
        found += aws_leftovers(aws, include_unexpired, now, recorded, unread)
        found += _read(unread, "Aurora clusters (for workload roles)", lambda: aurora_workload_roles(cfg, env, aws, unread, echo), [])
        found += _read(unread, "etl batches without a manifest", lambda: etl_orphans(cfg, aws, ledger, holders, unread), [])
    found += _read(unread, "etl work directories", etl_work_dirs, [])
    for item in [x for x in found if x.drill_id in held]:
        echo(f"kept {item.kind} {item.name}: drill {item.drill_id} holds its target's lease (it is running)")
    found = [x for x in found if x.drill_id not in held and (drill is None or x.drill_id == drill)]
    if drill is None:
        # --include-unexpired is for what crashed drills left, not for restores someone kept on purpose.
        for item in [x for x in found if x.kept and x.why.startswith("not expired")]:
            echo(f"kept {item.kind} {item.name}: kept with --keep until it expires; `dbops janitor --drill {item.drill_id}` removes it")
        found = [x for x in found if not (x.kept and x.why.startswith("not expired"))]
    if keep_hours is not None:
        young = young_restores(found, keep_hours, now)
        for item, age_h in young:
            echo(f"kept {item.kind} {item.name}: its restore drill {item.drill_id} started {age_h:.1f} h ago, "
                 f"within --keep-hours {keep_hours:g}")
        kept_young = {id(item) for item, _ in young}
        # the rows the drill wrote into its source are not the restore: they go, and the record keeps the restore
        found = [x for x in found if id(x) not in kept_young] + [
            Leftover("drill-rows", item.name, item.drill_id, item.why + "; its restore is kept", item.rows)
            for item, _ in young if item.rows is not None]
    if leases_unread:
        echo("the drill leases or records could not be read: a running drill's resources cannot be told apart, "
             "so nothing is deleted (listed only)")
        dry_run = True
    pending = 0
    failed: list[str] = []
    for item in found:
        if dry_run:
            echo(f"would delete {item.kind} {item.name} (drill {item.drill_id}): {item.why}")
            continue
        try:
            gone = item.delete()
        except Exception as exc:  # noqa: BLE001 — one leftover that resists must not stop the others
            failed.append(f"{item.kind} {item.name} (drill {item.drill_id}): {describe(exc) or exc}")
            echo(f"could not delete {failed[-1]}")
            continue
        pending += not gone
        echo(f"{'deleted' if gone else 'deleting (pending; run the janitor again)'} {item.kind} {item.name} "
             f"(drill {item.drill_id}): {item.why}")
    for what in unread:
        echo(f"could not read {what}")
    echo(f"{len(found)} leftover(s) {'found' if dry_run else 'handled'}" + (f", {pending} still being deleted" if pending else "")
         + (f", {len(failed)} could not be deleted" if failed else "")
         + (f"; {len(unread)} read(s) failed: cannot tell whether anything else is left" if unread else ""))
    return Swept(found, failed, unread)

