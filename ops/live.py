"""Live values of one target: what runbooks and `dbops status` show an on-call engineer."""

from __future__ import annotations

from datetime import date, datetime, timezone
from typing import Any

from ops import history
from ops.config import Config, EnvConfig
from ops.plugins import target_kind
from ops.report import measured
from ops.targets import TargetRef
from ops.window import tags_of


def _fmt_s(seconds: float | None) -> str:
    return measured(seconds, "{:.3f} s")


def _lag_text(readers: list[Any]) -> str:
    known = [(r.lag_s, r.name) for r in readers if r.lag_s is not None]
    if not readers:
        return "no readers"
    if not known:
        return "unknown (not reported)"
    lag, name = max(known)
    return f"{lag:.3f} s ({name})"


def cluster_values(cfg: Config, env: EnvConfig, ref: TargetRef) -> dict[str, Any]:
    from ops.targets.registry import open_cluster

    target = open_cluster(cfg, env, str(ref))
    state = target.describe()
    values: dict[str, Any] = {
        "writer": state.writer or "none", "readers": [r.name for r in state.readers], "status": state.status,
        "lag": _lag_text(state.readers), "lag_s": max((r.lag_s for r in state.readers if r.lag_s is not None), default=None),
        "healthy_readers": sum(r.healthy for r in state.readers),
    }
    plugged = target_kind(ref.kind)
    if plugged is not None:
        values.update(plugged.live_values(target))
    else:
        c = target._cluster()
        values["writer_endpoint"] = f"{c.get('Endpoint')}:{c.get('Port', 5432)}"
        values["tags"] = tags_of(c.get("TagList"))  # the schedule's stop is told by its tag
        values["connections"] = target.writer_connections()
        latest = c.get("LatestRestorableTime")
        newest = newest_snapshot_time(target.rds, ref.name)
        values["backup"] = {
            "retention": f"{c.get('BackupRetentionPeriod')} day(s)",
            "latest_restorable": latest.isoformat() if latest else "unknown",
            "restorable_lag": age(latest),
            "newest_backup_age": age(newest) if newest else "no snapshot",
        }
    return values


def newest_snapshot_time(rds: Any, cluster: str) -> datetime | None:
    """The newest automated or manual snapshot (the default types), read to the last page: the first page
    (100 by default) of a cluster with weeks of automated snapshots need not hold the newest."""
    from ops.aws import paged

    snaps = paged(rds, "describe_db_cluster_snapshots", "DBClusterSnapshots", DBClusterIdentifier=cluster)
    return max((s["SnapshotCreateTime"] for s in snaps if s.get("SnapshotCreateTime")), default=None)


def table_values(cfg: Config, env: EnvConfig, ref: TargetRef) -> dict[str, Any]:
    from ops.targets.dynamodb import DynamoTarget
    from ops.targets.registry import aws_of

    target = DynamoTarget(ref, aws_of(cfg, env, ref))
    pitr = target.continuous_backups().get("PointInTimeRecoveryDescription", {})
    latest = pitr.get("LatestRestorableDateTime")
    table = target.table
    mode = (table.get("BillingModeSummary") or {}).get("BillingMode") or ("PROVISIONED" if table.get("ProvisionedThroughput", {}).get("WriteCapacityUnits") else "PAY_PER_REQUEST")
    provisioned = table.get("ProvisionedThroughput", {})
    last = history.verdict(cfg.report_dir, "throughput", str(ref), env=env)
    return {
        "status": table["TableStatus"],
        "billing_mode": mode,
        "capacity": (f"{provisioned.get('WriteCapacityUnits')} WCU, {provisioned.get('ReadCapacityUnits')} RCU provisioned"
                     if mode == "PROVISIONED" else "on demand"),
        "last_throughput_drill": f"{last['verdict']} {last['age']}: {last['summary']}" if last["started_at"] else "never run",
        "backup": {
            "retention": f"point-in-time recovery {pitr.get('PointInTimeRecoveryStatus', 'DISABLED')}",
            "latest_restorable": latest.isoformat() if latest else "unknown",
            "restorable_lag": age(latest),
            "newest_backup_age": "PITR" if latest else "no backup",
        },
    }


def age(t: datetime | None) -> str:
    """How long ago t was, as runbooks show it; "unknown" when it is not known."""
    if t is None:
        return "unknown"
    return history.age_text(t.astimezone(timezone.utc).isoformat())


def drills(cfg: Config, target: str | None, env: EnvConfig | None = None) -> dict[str, Any]:
    fo = history.verdict(cfg.report_dir, "failover", target, env=env)
    rs = history.verdict(cfg.report_dir, "restore", target, env=env)
    bk = history.verdict(cfg.report_dir, "backup", None, env=env)
    return {
        "failover": {**fo, "downtime": _fmt_s(fo["measurements"].get("client_write_downtime_s")),
                     "lost": measured(fo["measurements"].get("lost_writes"))},
        "restore": {**rs, "duration": _fmt_s(rs["measurements"].get("restore_duration_s"))},
        "backup": {**bk, "failed": measured(bk["measurements"].get("failed_backup_findings"))},
    }


def budget(cfg: Config, today: date | None = None, env: EnvConfig | None = None) -> dict[str, Any]:
    """The budget burn from the newest cost check of the current month (UTC): a check of a past month
    (`cost check --month`) run later says nothing about this month's spend."""
    month = (today or datetime.now(timezone.utc).date()).strftime("%Y-%m")

    def this_month(report: dict[str, Any]) -> bool:
        return report.get("details", {}).get("month") == month

    cost = history.verdict(cfg.report_dir, "cost", None, this_month, env)
    m = cost["measurements"]
    limit = cfg.policy.monthly_budget_usd
    projected = m.get("projected_usd")
    burn = (f"{projected:.2f} USD projected, {100 * projected / limit:.0f}% of the budget" if projected is not None
            else f"not measured: no cost check of {month} projected its spend (run `dbops cost check`)")
    report = history.last(cfg.report_dir, "cost", None, this_month, env)
    movers = ", ".join((report or {}).get("details", {}).get("top_movers", [])) or "-"
    storage = m.get("projected_storage_usd")
    return {"limit": f"{limit:.2f}", "verdict": cost["verdict"], "age": cost["age"], "burn": burn, "movers": movers,
            "storage": f"{storage:.2f} USD" if storage is not None else f"not measured (no cost check of {month})"}


def _through_pooler(report: dict[str, Any]) -> bool:
    return "pooler" in str(report.get("details", {}).get("via", "")) or ":" in str(report.get("details", {}).get("via", ""))


def pooling(cfg: Config, target: str, env: EnvConfig | None = None) -> dict[str, Any]:
    """What the latest drills measured directly and through a pooler, and which is better by how much."""
    direct_fo = history.last(cfg.report_dir, "failover", target, lambda r: not _through_pooler(r) and r["status"] == "pass", env)
    pooled_fo = history.last(cfg.report_dir, "failover", target, lambda r: _through_pooler(r) and r["status"] == "pass", env)
    direct_conn = history.last(cfg.report_dir, "connections", target, lambda r: not _through_pooler(r), env)
    pooled_conn = history.last(cfg.report_dir, "connections", target, _through_pooler, env)

    def downtime(r: dict[str, Any] | None) -> float | None:
        return (r or {}).get("measurements", {}).get("client_write_downtime_s")

    def conn_line(r: dict[str, Any] | None, how: str) -> str:
        if r is None:
            if how == "pooler":
                return f"not measured yet: run `dbops drill connections {target} --clients 1000 --via pooler`"
            # Directly, as many clients as the server has free: the drill refuses more (--allow-exhaustion overrides).
            return f"not measured yet: run `dbops drill connections {target} --clients N` with N the connections it has free"
        from ops.drills.connections import figures

        return f"{r['status'].upper()} {history.age_text(r['started_at'])}: {figures(r.get('measurements') or {})}"

    d, p = downtime(direct_fo), downtime(pooled_fo)
    if d is None or p is None:
        verdict = (f"not measured yet: run `dbops drill failover {target}` and `dbops drill failover {target} --via pooler` "
                   "(or --via HOST:PORT of the proxy)")
    else:
        better = "through the pooler" if p < d else "directly"
        verdict = (f"clients saw {p:.3f} s of write downtime through the pooler and {d:.3f} s directly: "
                   f"{better} is better by {abs(d - p):.3f} s ({100 * abs(d - p) / max(d, p):.0f}%)")
    return {"failover_compared": verdict, "connections_direct": conn_line(direct_conn, "direct"),
            "connections_pooled": conn_line(pooled_conn, "pooler")}
