"""Find and delete what drills left behind.

A leftover is a resource tagged `dbops:drill-id` (or a local restore directory) whose
`dbops:expires-at` has passed, or whose owning drill process is gone from this host, as
after a SIGKILL. A resource whose drill still runs is never touched.
"""

from __future__ import annotations

import json
import socket
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any, Callable

from ops.config import Config, EnvConfig
from ops.drills.common import DRILL_TAG, EXPIRES_TAG
from ops.drills.restore import OWNER_TAG
from ops.lab import process


@dataclass(frozen=True)
class Leftover:
    kind: str
    name: str
    drill_id: str
    why: str
    delete: Callable[[], None]

    def as_dict(self) -> dict[str, str]:
        return {"kind": self.kind, "name": self.name, "drill_id": self.drill_id, "why": self.why}


def _expired(expires_at: str | None, now: datetime) -> bool:
    if not expires_at:
        return False
    try:
        return datetime.strptime(expires_at, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=timezone.utc) <= now
    except ValueError:
        return True  # an unreadable expiry is not a reason to keep something forever


def _owner_state(owner: str | None) -> str:
    """alive | gone | unknown (another host, or no owner recorded)."""
    if not owner:
        return "unknown"
    try:
        host, pid, started = owner.rsplit(":", 2)
        if host != socket.gethostname():
            return "unknown"
        return "alive" if process.is_running(int(pid), int(started) if started not in ("", "None") else None) else "gone"
    except ValueError:
        return "unknown"


def judge(drill_id: str, expires_at: str | None, owner: str | None, include_unexpired: bool, now: datetime) -> str | None:
    """Why a drill resource should go, or None to keep it."""
    state = _owner_state(owner)
    if state == "alive":
        return None
    if _expired(expires_at, now):
        return f"expired at {expires_at}"
    if state == "gone":
        return "its drill process is gone"
    if include_unexpired:
        return f"not expired ({expires_at}) but removal of unexpired leftovers was asked for"
    return None


def local_leftovers(cfg: Config, include_unexpired: bool, now: datetime) -> list[Leftover]:
    from ops.lab import pgcluster, pgrestore

    cluster = pgcluster.get(cfg.lab_dir)
    if cluster is None:
        return []
    found = []
    for path in sorted(pgrestore.restores_dir(cluster).glob("*")):
        try:
            owner = json.loads((path / "owner.json").read_text())
            owner_tag = f"{socket.gethostname()}:{owner['pid']}:{owner.get('started')}" if owner.get("pid") else None
            why = judge(owner["drill_id"], owner.get("expires_at"), owner_tag, include_unexpired, now)
        except (OSError, ValueError, KeyError):
            owner, why = {"drill_id": path.name}, "no readable owner.json"
        if why:
            found.append(Leftover("localpg-restore", str(path), owner["drill_id"], why, lambda p=path: pgrestore.delete(p)))
    return found


def _tags(tag_list: list[dict[str, str]]) -> dict[str, str]:
    return {t["Key"]: t["Value"] for t in tag_list or []}


def aws_leftovers(aws: Any, include_unexpired: bool, now: datetime) -> list[Leftover]:
    found: list[Leftover] = []
    rds = aws.client("rds")
    for page in rds.get_paginator("describe_db_clusters").paginate():
        for c in page["DBClusters"]:
            tags = _tags(c.get("TagList", []))
            if DRILL_TAG not in tags:
                continue
            why = judge(tags[DRILL_TAG], tags.get(EXPIRES_TAG), tags.get(OWNER_TAG), include_unexpired, now)
            if why:
                members = [m["DBInstanceIdentifier"] for m in c.get("DBClusterMembers", [])]

                def delete(cid: str = c["DBClusterIdentifier"], instances: list[str] = members) -> None:
                    for iid in instances:
                        try:
                            rds.delete_db_instance(DBInstanceIdentifier=iid, SkipFinalSnapshot=True)
                        except rds.exceptions.DBInstanceNotFoundFault:
                            pass
                    rds.delete_db_cluster(DBClusterIdentifier=cid, SkipFinalSnapshot=True)

                found.append(Leftover("aurora-cluster", c["DBClusterIdentifier"], tags[DRILL_TAG], why, delete))
    ddb = aws.client("dynamodb")
    for page in ddb.get_paginator("list_tables").paginate():
        for name in page["TableNames"]:
            arn = ddb.describe_table(TableName=name)["Table"]["TableArn"]
            tags = _tags(ddb.list_tags_of_resource(ResourceArn=arn).get("Tags", []))
            if DRILL_TAG not in tags:
                continue
            why = judge(tags[DRILL_TAG], tags.get(EXPIRES_TAG), tags.get(OWNER_TAG), include_unexpired, now)
            if why:
                found.append(Leftover("dynamodb-table", name, tags[DRILL_TAG], why, lambda n=name: ddb.delete_table(TableName=n)))
    return found


def sweep(cfg: Config, env: EnvConfig, include_unexpired: bool, dry_run: bool,
          echo: Callable[[str], None], now: datetime | None = None) -> list[Leftover]:
    now = now or datetime.now(timezone.utc)
    found = local_leftovers(cfg, include_unexpired, now) if env.is_embedded else []
    from ops.aws import Aws, resolve_endpoint

    if env.is_embedded and not _lab_emulator_running(cfg):
        echo("the lab emulator is not running: only local leftovers were looked for")
    else:
        resolve_endpoint(cfg, env)
        found += aws_leftovers(Aws.for_env(cfg, env), include_unexpired, now)
    for item in found:
        echo(f"{'would delete' if dry_run else 'deleting'} {item.kind} {item.name} (drill {item.drill_id}): {item.why}")
        if not dry_run:
            item.delete()
    echo(f"{len(found)} leftover(s) {'found' if dry_run else 'deleted'}")
    return found


def _lab_emulator_running(cfg: Config) -> bool:
    from ops.lab import emulator

    return emulator.running(cfg.lab_dir) is not None


