"""`dbops status`: the on-call overview, one row per target, from the estate and the report history."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Callable

from ops import live
from ops.clock import utcnow
from ops.config import Config, EnvConfig
from ops.errors import EndpointUnreachable
from ops.targets import parse_target
from ops.window import Window, stopped_label

COLUMNS = ("target", "health", "writer", "replica_lag", "connections", "newest_backup", "restorable_lag", "last_drill", "budget_burn")


def rows(cfg: Config, env: EnvConfig, concurrency: int | None = None, progress: Callable[[str], None] | None = None) -> list[dict[str, Any]]:
    """One row per target, in the estate's order, `concurrency` targets read at once; in a fleet env, every
    account and region it reads, and one row for each that could not be read."""
    from ops.aws import bounded_map
    from ops.estate import fleet_targets

    burn = live.budget(cfg, env=env)["burn"]
    fleet = fleet_targets(cfg, env, concurrency)
    now = utcnow()
    out = bounded_map(lambda t: _row(cfg, env, t, burn, now), fleet.targets, concurrency, progress)
    for label, why in fleet.refused:
        out.append({c: "?" for c in COLUMNS} | {"target": label, "health": f"error: not read: {why}"})  # its budget: not read either
    return out


def _row(cfg: Config, env: EnvConfig, target: str, burn: str, now: datetime) -> dict[str, Any]:
    ref = parse_target(target)
    row: dict[str, Any] = {"target": target, "budget_burn": burn}
    try:
        if ref.kind in ("aurora", "localpg"):
            v = live.cluster_values(cfg, env, ref)
            row.update(health=_health(v, env.schedule, now), writer=v["writer"], replica_lag=v["lag"], connections=v["connections"])
            if v["status"] in ("stopped", "stopping", "starting"):
                # CloudWatch's last points are of servers that no longer run: nothing is measured now.
                row.update(replica_lag=f"not measured ({v['status']})", connections=f"not measured ({v['status']})")
        else:
            v = live.table_values(cfg, env, ref)
            row.update(health="ok" if v["status"] == "ACTIVE" else v["status"].lower(), writer="-", replica_lag="-", connections="-")
        row.update(newest_backup=v["backup"]["newest_backup_age"], restorable_lag=v["backup"]["restorable_lag"])
    except EndpointUnreachable:
        raise  # every other target is behind the same endpoint: one line, not a table of the same error
    except Exception as exc:  # noqa: BLE001 — one unreachable target must not hide the others
        row.update(health=f"error: {str(exc).splitlines()[0][:60]}", writer="?", replica_lag="?", connections="?",
                   newest_backup="?", restorable_lag="?")
    drills = live.drills(cfg, target, env)
    newest = max((d for d in (drills["failover"], drills["restore"]) if d["started_at"]),
                 key=lambda d: d["started_at"], default=None)
    row["last_drill"] = f"{newest['verdict']} {newest['age']}" if newest else "never run"
    return {c: row.get(c, "-") for c in COLUMNS}


def _health(v: dict[str, Any], window: Window | None, now: datetime) -> str:
    if v["status"] == "stopped":
        # Outside its window a cluster the schedule stopped (its tag says so) is as meant; one stopped otherwise,
        # inside its window, or with no window, is a finding.
        label = stopped_label("stopped", window, now, v.get("tags", {}))
        if label == "stopped" and window is not None:
            return f"stopped: inside its window ({window.describe()}), it should run"
        return label
    if v["status"] != "available":
        return v["status"]
    if v["readers"] and not v["healthy_readers"]:
        return "degraded: no healthy reader"
    if v["backup"].get("archive_gap"):
        return f"degraded: WAL segment {v['backup']['archive_gap']} missing from the archive"
    return "ok"


def table(data: list[dict[str, Any]]) -> str:
    widths = {c: max(len(c), *(len(str(r[c])) for r in data)) if data else len(c) for c in COLUMNS}
    lines = ["  ".join(c.upper().ljust(widths[c]) for c in COLUMNS)]
    lines += ["  ".join(str(r[c]).ljust(widths[c]) for c in COLUMNS) for r in data]
    return "\n".join(lines)
