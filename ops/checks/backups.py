"""Backup checks: one finding per check per target, from collected state."""

from __future__ import annotations

from collections import Counter
from datetime import datetime
from typing import Any

from ops.checks.collect import covered_by
from ops.checks.registry import Finding, check, failed_read
from ops.config import EnvConfig, Policy
from ops.targets.recovery_point import USABLE_POINT_STATES
from ops.window import NOT_BY_SCHEDULE, STOPPED_BY, stopped_label, tags_of


def _age_h(now: datetime, then: datetime) -> float:
    return (now - then).total_seconds() / 3600


# --- AWS Backup, shared by Aurora and DynamoDB ------------------------------------------------

JOB_IN_PROGRESS = ("CREATED", "PENDING", "RUNNING", "ABORTING")


def _coverage(cid: str, state: dict[str, Any], arn: str, tags: dict[str, str]) -> Finding:
    bad = failed_read(cid, state["selections"])
    if bad:
        return bad
    plans = covered_by(state["selections"].value, arn, tags)
    if plans:
        return Finding(cid, "pass", f"selected by AWS Backup plan(s) {', '.join(sorted(set(plans)))}")
    return Finding(cid, "fail", "no AWS Backup selection covers it (by ARN or tag)")


def _last_job(cid: str, state: dict[str, Any], policy: Policy) -> Finding:
    bad = failed_read(cid, state["jobs"]) if "jobs" in state else Finding(cid, "error", "resource could not be read")
    if bad:
        return bad
    jobs = sorted(state["jobs"].value, key=lambda j: j["CreationDate"])
    if not jobs:
        return Finding(cid, "fail", "no AWS Backup job for it in the last 30 days (ListBackupJobs reaches back 30 days)")
    # A job still running (tonight's, in its window) has no verdict yet: the newest one that ended is judged.
    ended = [j for j in jobs if j["State"] not in JOB_IN_PROGRESS]
    running = len(jobs) - len(ended)
    also = f"; {running} newer job(s) still running" if running and ended and jobs[-1]["State"] in JOB_IN_PROGRESS else ""
    if not ended:
        return Finding(cid, "unknown", f"could not determine: no backup job has ended yet (job {jobs[-1].get('BackupJobId', '')} "
                                       f"is {jobs[-1]['State']})")
    last = ended[-1]
    when = last.get("CompletionDate") or last["CreationDate"]
    age = _age_h(state["now"], when)
    if last["State"] != "COMPLETED":
        return Finding(cid, "fail", f"last backup job {last.get('BackupJobId', '')} is {last['State']}"
                                    + (f": {last['StatusMessage']}" if last.get("StatusMessage") else "") + also)
    if age > policy.snapshot_max_age_hours:
        return Finding(cid, "fail", f"last completed backup job is {age:.1f}h old (max {policy.snapshot_max_age_hours:g}h){also}")
    return Finding(cid, "pass", f"last backup job completed {age:.1f}h ago{also}")


def _points_encrypted(cid: str, state: dict[str, Any]) -> Finding:
    bad = failed_read(cid, state["recovery_points"]) if "recovery_points" in state else Finding(cid, "error", "resource could not be read")
    if bad:
        return bad
    points = state["recovery_points"].value
    if not points:
        return Finding(cid, "warn", "no recovery points in AWS Backup")
    plain = [p["RecoveryPointArn"] for p in points if not (p.get("IsEncrypted") or p.get("EncryptionKeyArn"))]
    if plain:
        return Finding(cid, "fail", f"{len(plain)} of {len(points)} recovery points are not encrypted: {plain[0]}")
    return Finding(cid, "pass", f"all {len(points)} recovery points are encrypted")


def _deletion_protection(cid: str, read: Any, field: str, env: EnvConfig) -> Finding:
    bad = failed_read(cid, read)
    if bad:
        return bad
    if read.value.get(field):
        return Finding(cid, "pass", "deletion protection is on")
    return Finding(cid, "fail" if env.protected else "warn",
                   f"deletion protection is off (env {env.name} is {'protected' if env.protected else 'not protected'})")


# --- Aurora --------------------------------------------------------------------------------


@check("aurora", "BKP-AURORA-RETENTION", "Automated backup retention meets the policy")
def aurora_retention(s: dict[str, Any], policy: Policy, env: EnvConfig) -> Finding:
    cid = "BKP-AURORA-RETENTION"
    bad = failed_read(cid, s["cluster"])
    if bad:
        return bad
    days = s["cluster"].value.get("BackupRetentionPeriod", 0)
    ok = days >= policy.backup_retention_days
    return Finding(cid, "pass" if ok else "fail", f"retention {days} day(s), policy {policy.backup_retention_days}")


@check("aurora", "BKP-AURORA-RESTORABLE", "Latest restorable time within the RPO")
def aurora_restorable(s: dict[str, Any], policy: Policy, env: EnvConfig) -> Finding:
    cid = "BKP-AURORA-RESTORABLE"
    bad = failed_read(cid, s["cluster"])
    if bad:
        return bad
    latest = s["cluster"].value.get("LatestRestorableTime")
    if latest is None:
        return Finding(cid, "fail", "no latest restorable time: point-in-time restore is not possible")
    at = _judged_at(cid, s, env)
    if isinstance(at, Finding):
        return at
    moment, said, unexpected = at
    lag = (moment - latest).total_seconds()
    if said:
        lag = max(0.0, lag)
        return Finding(cid, _verdict(lag <= policy.rpo_seconds, unexpected),
                       f"{said}: latest restorable time {lag:.0f}s before it (RPO {policy.rpo_seconds:g}s)"
                       + (f"; {unexpected}" if unexpected else ""))
    return Finding(cid, "pass" if lag <= policy.rpo_seconds else "fail", f"latest restorable time is {lag:.0f}s old (RPO {policy.rpo_seconds:g}s)")


# RDS's message of a cluster stop (Aurora event RDS-EVENT-0150, category notification).
STOPPED_MESSAGE = "DB cluster stopped"


def _judged_at(cid: str, s: dict[str, Any], env: EnvConfig) -> tuple[datetime, str, str] | Finding:
    """The moment the cluster's backups are judged at, why in words ("" for now), and what is unexpected about
    it ("" when nothing). A stopped cluster takes no write, so what it could lose is what its backups lacked when
    it stopped: it is judged at its stop (its newest RDS-EVENT-0150), not at now; so is one starting (its restorable
    time is the stop's until it runs). A stop that cannot be dated is not measured, never a pass; a stop the
    schedule's tag does not account for is unexpected (a person's stop, a failed operation)."""
    status = s["cluster"].value.get("Status")
    if status not in ("stopping", "stopped", "starting"):
        return s["now"], "", ""
    if status == "stopping":
        return Finding(cid, "unknown", "could not determine: the cluster is stopping; its backups are judged at its stop, once stopped")
    bad = failed_read(cid, s["events"]) if "events" in s else Finding(cid, "error", "its events could not be read")
    if bad:
        return bad
    stops = [e["Date"] for e in s["events"].value if STOPPED_MESSAGE.lower() in str(e.get("Message", "")).lower()]
    if not stops:
        return Finding(cid, "unknown", f"could not determine: the cluster is {status}, but no '{STOPPED_MESSAGE}' event in the "
                                       "last 14 days says when it stopped (RDS keeps events 14 days), so its backups at its stop "
                                       "are not measured")
    stopped_at = max(stops)
    since = f"since {stopped_at:%Y-%m-%d %H:%M:%S} UTC ('{STOPPED_MESSAGE}' event): no write since, so judged at the stop"
    if status == "starting":
        return stopped_at, f"starting after a stop {since}", ""
    label = stopped_label("stopped", env.schedule, s["now"], tags_of(s["cluster"].value.get("TagList")))
    if label == "stopped-by-schedule":
        return stopped_at, f"stopped by its schedule {since}", ""
    if env.schedule is None:
        return stopped_at, f"stopped outside any schedule {since}", "an unexpected stop: the env has no schedule"
    if label == NOT_BY_SCHEDULE:
        return stopped_at, f"stopped, not by its schedule, {since}", f"an unexpected stop: no {STOPPED_BY} tag of `schedule apply`"
    return stopped_at, f"stopped inside its window {since}", "an unexpected stop: inside its window it should run"


def _verdict(ok: bool, unexpected: str) -> str:
    """pass/fail by the figure; a pass at an unexpected stop is a warn: someone must look at why it stopped."""
    return "fail" if not ok else ("warn" if unexpected else "pass")


@check("aurora", "BKP-AURORA-SNAPSHOT-AGE", "Newest snapshot is recent")
def aurora_snapshot_age(s: dict[str, Any], policy: Policy, env: EnvConfig) -> Finding:
    cid = "BKP-AURORA-SNAPSHOT-AGE"
    bad = failed_read(cid, s["snapshots"])
    if bad:
        return bad
    done = [x for x in s["snapshots"].value if x.get("Status") == "available" and x.get("SnapshotCreateTime")]
    if not done:
        return Finding(cid, "fail", "no available cluster snapshot")
    newest = max(done, key=lambda x: x["SnapshotCreateTime"])
    at = _judged_at(cid, s, env) if s["cluster"].ok else (s["now"], "", "")
    if isinstance(at, Finding):
        return at
    moment, said, unexpected = at
    age = max(0.0, _age_h(moment, newest["SnapshotCreateTime"])) if said else _age_h(moment, newest["SnapshotCreateTime"])
    when = f" at the cluster's stop, {moment:%Y-%m-%d %H:%M:%S} UTC, no write since" if said else ""
    return Finding(cid, _verdict(age <= policy.snapshot_max_age_hours, unexpected),
                   f"newest snapshot {newest['DBClusterSnapshotIdentifier']} is {age:.1f}h old{when} "
                   f"(max {policy.snapshot_max_age_hours:g}h)" + (f"; {unexpected}" if unexpected else ""))


@check("aurora", "BKP-AURORA-SNAPSHOT-ENCRYPTED", "Snapshots are encrypted")
def aurora_snapshots_encrypted(s: dict[str, Any], policy: Policy, env: EnvConfig) -> Finding:
    cid = "BKP-AURORA-SNAPSHOT-ENCRYPTED"
    bad = failed_read(cid, s["snapshots"])
    if bad:
        return bad
    snaps = s["snapshots"].value
    plain = [x["DBClusterSnapshotIdentifier"] for x in snaps if not x.get("StorageEncrypted")]
    if not snaps:
        return Finding(cid, "warn", "no snapshots to check")
    return Finding(cid, "fail" if plain else "pass",
                   f"{len(plain)} of {len(snaps)} snapshots unencrypted: {', '.join(plain[:3])}" if plain else f"all {len(snaps)} snapshots encrypted")


@check("aurora", "BKP-AURORA-DELETION-PROTECTION", "Deletion protection on protected envs")
def aurora_deletion_protection(s: dict[str, Any], policy: Policy, env: EnvConfig) -> Finding:
    return _deletion_protection("BKP-AURORA-DELETION-PROTECTION", s["cluster"], "DeletionProtection", env)


@check("aurora", "BKP-AURORA-COPY-TAGS", "Tags are copied to snapshots")
def aurora_copytags_of(s: dict[str, Any], policy: Policy, env: EnvConfig) -> Finding:
    cid = "BKP-AURORA-COPY-TAGS"
    bad = failed_read(cid, s["cluster"])
    if bad:
        return bad
    on = bool(s["cluster"].value.get("CopyTagsToSnapshot"))
    return Finding(cid, "pass" if on else "fail", "tags are copied to snapshots" if on else "CopyTagsToSnapshot is off: snapshots lose their backup and cost tags")


@check("aurora", "BKP-AURORA-COVERED", "Covered by an AWS Backup selection")
def aurora_covered(s: dict[str, Any], policy: Policy, env: EnvConfig) -> Finding:
    bad = failed_read("BKP-AURORA-COVERED", s["cluster"])
    if bad:
        return bad
    c = s["cluster"].value
    return _coverage("BKP-AURORA-COVERED", s, c["DBClusterArn"], tags_of(c.get("TagList")))


@check("aurora", "BKP-AURORA-LAST-JOB", "Last AWS Backup job completed within the window")
def aurora_last_job(s: dict[str, Any], policy: Policy, env: EnvConfig) -> Finding:
    return _last_job("BKP-AURORA-LAST-JOB", s, policy)


@check("aurora", "BKP-AURORA-POINTS-ENCRYPTED", "AWS Backup recovery points are encrypted")
def aurora_points(s: dict[str, Any], policy: Policy, env: EnvConfig) -> Finding:
    return _points_encrypted("BKP-AURORA-POINTS-ENCRYPTED", s)


# --- DynamoDB ------------------------------------------------------------------------------


@check("dynamodb", "BKP-DDB-PITR", "Point-in-time recovery is enabled")
def ddb_pitr(s: dict[str, Any], policy: Policy, env: EnvConfig) -> Finding:
    cid = "BKP-DDB-PITR"
    bad = failed_read(cid, s["continuous"])
    if bad:
        return bad
    status = s["continuous"].value.get("PointInTimeRecoveryDescription", {}).get("PointInTimeRecoveryStatus")
    return Finding(cid, "pass" if status == "ENABLED" else "fail", f"point-in-time recovery is {status or 'not configured'}")


@check("dynamodb", "BKP-DDB-RESTORABLE", "Restorable window and lag")
def ddb_restorable(s: dict[str, Any], policy: Policy, env: EnvConfig) -> Finding:
    cid = "BKP-DDB-RESTORABLE"
    bad = failed_read(cid, s["continuous"])
    if bad:
        return bad
    pitr = s["continuous"].value.get("PointInTimeRecoveryDescription", {})
    if pitr.get("PointInTimeRecoveryStatus") != "ENABLED":
        return Finding(cid, "fail", "no restorable window: point-in-time recovery is off")
    earliest, latest = pitr.get("EarliestRestorableDateTime"), pitr.get("LatestRestorableDateTime")
    if latest is None:
        return Finding(cid, "fail", "no latest restorable time: point-in-time restore is not possible")
    window_h = _age_h(latest, earliest) if earliest else 0.0
    lag = max(0.0, (s["now"] - latest).total_seconds())  # read just after `now`: a lag of 0 may come out a hair below
    return Finding(cid, "pass" if lag <= policy.rpo_seconds else "fail",
                   f"restorable window {window_h:.1f}h; latest restorable time {lag:.0f}s old (RPO {policy.rpo_seconds:g}s)")


@check("dynamodb", "BKP-DDB-SSE", "Encrypted with KMS")
def ddb_sse(s: dict[str, Any], policy: Policy, env: EnvConfig) -> Finding:
    cid = "BKP-DDB-SSE"
    bad = failed_read(cid, s["table"])
    if bad:
        return bad
    sse = s["table"].value.get("SSEDescription", {})
    ok = sse.get("SSEType") == "KMS" and sse.get("Status", "ENABLED") in ("ENABLED", "UPDATING")
    return Finding(cid, "pass" if ok else "fail", f"SSE {sse.get('SSEType', 'AWS owned key')} {sse.get('KMSMasterKeyArn', '')}".strip())


@check("dynamodb", "BKP-DDB-NEWEST-BACKUP", "Newest on-demand backup or recovery point is recent")
def ddb_newest_backup(s: dict[str, Any], policy: Policy, env: EnvConfig) -> Finding:
    cid = "BKP-DDB-NEWEST-BACKUP"
    bad = failed_read(cid, s["backups"])
    if bad:
        return bad
    times = [b["BackupCreationDateTime"] for b in s["backups"].value if b.get("BackupStatus") == "AVAILABLE"]
    rp = s.get("recovery_points")
    if rp is None:
        return Finding(cid, "error", "AWS Backup recovery points were not read (the table could not be read)")
    if rp.ok:
        times += [p["CreationDate"] for p in rp.value if p.get("Status") in USABLE_POINT_STATES]
    fresh = bool(times) and _age_h(s["now"], max(times)) <= policy.snapshot_max_age_hours
    if not rp.ok and not fresh:
        # A recovery point newer than the on-demand backups may exist: the read that would show it failed.
        bad = failed_read(cid, rp)
        assert bad is not None
        return Finding(cid, bad.status, f"AWS Backup recovery points not read ({rp.error}); "
                                        + (f"newest on-demand backup is {_age_h(s['now'], max(times)):.1f}h old" if times else "no on-demand backup"))
    if not times:
        return Finding(cid, "warn", "no on-demand backup or AWS Backup recovery point; only point-in-time recovery protects it")
    age = _age_h(s["now"], max(times))
    return Finding(cid, "pass" if age <= policy.snapshot_max_age_hours else "fail",
                   f"newest backup is {age:.1f}h old (max {policy.snapshot_max_age_hours:g}h); "
                   f"{_backup_counts(s['backups'].value, rp.value if rp.ok else [])}")


def _backup_counts(backups: list[dict[str, Any]], points: list[dict[str, Any]]) -> str:
    """What the verdict stood on: available on-demand backups by type, completed recovery points."""
    kinds = Counter(b.get("BackupType", "?") for b in backups if b.get("BackupStatus") == "AVAILABLE")
    listed = ", ".join(f"{n} {kind}" for kind, n in sorted(kinds.items())) or "none"
    return f"on-demand backups: {listed}; AWS Backup recovery points: {sum(p.get('Status') in USABLE_POINT_STATES for p in points)}"


@check("dynamodb", "BKP-DDB-DELETION-PROTECTION", "Deletion protection on protected envs")
def ddb_deletion_protection(s: dict[str, Any], policy: Policy, env: EnvConfig) -> Finding:
    return _deletion_protection("BKP-DDB-DELETION-PROTECTION", s["table"], "DeletionProtectionEnabled", env)


@check("dynamodb", "BKP-DDB-COVERED", "Covered by an AWS Backup selection")
def ddb_covered(s: dict[str, Any], policy: Policy, env: EnvConfig) -> Finding:
    bad = failed_read("BKP-DDB-COVERED", s["table"], s.get("tags", s["table"]))
    if bad:
        return bad
    return _coverage("BKP-DDB-COVERED", s, s["table"].value["TableArn"], tags_of(s["tags"].value))


@check("dynamodb", "BKP-DDB-LAST-JOB", "Last AWS Backup job completed within the window")
def ddb_last_job(s: dict[str, Any], policy: Policy, env: EnvConfig) -> Finding:
    return _last_job("BKP-DDB-LAST-JOB", s, policy)


@check("dynamodb", "BKP-DDB-POINTS-ENCRYPTED", "AWS Backup recovery points are encrypted")
def ddb_points(s: dict[str, Any], policy: Policy, env: EnvConfig) -> Finding:
    return _points_encrypted("BKP-DDB-POINTS-ENCRYPTED", s)


# --- local PostgreSQL ------------------------------------------------------------------------


@check("localpg", "BKP-PG-VERIFYBACKUP", "pg_verifybackup of the newest base backup")
def pg_verify(s: dict[str, Any], policy: Policy, env: EnvConfig) -> Finding:
    cid = "BKP-PG-VERIFYBACKUP"
    if not s["backups"]:
        return Finding(cid, "fail", "no base backup")
    ok, detail = s["verify"]
    return Finding(cid, "pass" if ok else "fail", f"{s['newest_backup'].name}: {detail}")


@check("localpg", "BKP-PG-WAL-CONTINUITY", "WAL archive has no gap since the newest base backup")
def pg_wal_continuity(s: dict[str, Any], policy: Policy, env: EnvConfig) -> Finding:
    cid = "BKP-PG-WAL-CONTINUITY"
    if not s["backups"]:
        return Finding(cid, "fail", "no base backup to start from")
    missing = s["missing_segments"]
    if missing:
        return Finding(cid, "fail", f"{len(missing)} WAL segment(s) missing from the archive: {', '.join(missing[:3])}; "
                                    "point-in-time restore cannot pass the first gap")
    return Finding(cid, "pass", f"every segment from {s['start_segment']} to {s['current_segment']} (exclusive) is archived")


@check("localpg", "BKP-PG-ARCHIVER", "No archive_command failures")
def pg_archiver(s: dict[str, Any], policy: Policy, env: EnvConfig) -> Finding:
    a = s["archiver"]
    if not a["failed_count"]:
        return Finding("BKP-PG-ARCHIVER", "pass", f"{a['archived_count']} segments archived, no failures")
    recovered = a["last_archived_time"] and a["last_failed_time"] and a["last_archived_time"] > a["last_failed_time"]
    return Finding("BKP-PG-ARCHIVER", "warn" if recovered else "fail",
                   f"{a['failed_count']} archive failures, last {a['last_failed_wal']} at {a['last_failed_time']}"
                   + ("; archiving has succeeded since" if recovered else ""))


@check("localpg", "BKP-PG-ARCHIVE-FRESHNESS", "Last archived segment within the RPO")
def pg_archive_fresh(s: dict[str, Any], policy: Policy, env: EnvConfig) -> Finding:
    last = s["archiver"]["last_archived_time"]
    if last is None:
        return Finding("BKP-PG-ARCHIVE-FRESHNESS", "fail", "nothing has been archived")
    age = (s["now"] - last).total_seconds()
    return Finding("BKP-PG-ARCHIVE-FRESHNESS", "pass" if age <= policy.rpo_seconds else "fail",
                   f"last segment {s['archiver']['last_archived_wal']} archived {age:.0f}s ago (RPO {policy.rpo_seconds:g}s)")
