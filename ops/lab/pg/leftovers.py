"""The janitor's sources in the lab: lab-pg's local restores, stale drill rows and workload roles.

Each is a janitor source (ops.plugins.JanitorSource): it finds nothing outside the embedded env.
"""

from __future__ import annotations

import json
from datetime import datetime

from ops.config import Config, EnvConfig
from ops.janitor import Leftover, judge, stale_rows
from ops.proc import machine


def local_restores(cfg: Config, env: EnvConfig, include_unexpired: bool, now: datetime, recorded: set[str]) -> list[Leftover]:
    """Restore directories of lab-pg with their owner.json; those a drill record names are the record's."""
    from ops.lab.pg import pgcluster, pgrestore

    cluster = pgcluster.get(cfg.lab_dir) if env.is_embedded else None
    if cluster is None:
        return []
    found = []
    for path in sorted(pgrestore.restores_dir(cluster).glob("*")):
        try:
            owner = json.loads((path / "owner.json").read_text())
            owner_tag = f"{machine()}:{owner['pid']}:{owner.get('started')}" if owner.get("pid") else None
            why = judge(owner["drill_id"], owner.get("expires_at"), owner_tag, include_unexpired, now)
        except (OSError, ValueError, KeyError):
            owner, why = {"drill_id": path.name}, "no readable owner.json"
        if why and owner["drill_id"] not in recorded:
            def delete(p=path) -> bool:  # type: ignore[no-untyped-def]
                pgrestore.delete(p)
                return not p.exists()

            found.append(Leftover("localpg-restore", str(path), owner["drill_id"], why, delete))
    return found


def drill_rows(cfg: Config, env: EnvConfig, include_unexpired: bool, now: datetime, recorded: set[str]) -> list[Leftover]:
    from ops.lab.pg import pgcluster

    dsn = pgcluster.writer_dsn(cfg.lab_dir) if env.is_embedded else None
    return stale_rows(dsn, f"localpg:{pgcluster.NAME}", recorded, now) if dsn else []


def workload_roles(cfg: Config, env: EnvConfig, include_unexpired: bool, now: datetime, recorded: set[str]) -> list[Leftover]:
    """Latency drills' read-only roles their drill could not drop (killed): once their validity ends."""
    from ops.lab.pg import pgcluster
    from ops.query import workload_role

    dsn = pgcluster.writer_dsn(cfg.lab_dir) if env.is_embedded else None
    if not dsn:
        return []
    with workload_role.connect_admin(dsn) as conn:
        names = workload_role.expired(conn)

    def delete(name: str) -> bool:
        with workload_role.connect_admin(dsn) as conn:
            workload_role.drop(conn, name)
            return not conn.execute("SELECT count(*) FROM pg_roles WHERE rolname = %s", (name,)).fetchone()[0]

    return [Leftover("workload-role", f"localpg:{pgcluster.NAME} role {n}", n, "its validity ended and it has no session",
                     lambda n=n: delete(n)) for n in names]
