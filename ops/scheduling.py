"""`dbops schedule apply`: the env's Aurora clusters run only in its weekly window.

Inside the window (or within `LEAD` before it opens) a stopped cluster is started (StartDBCluster);
outside it an available cluster is stopped (StopDBCluster). A cluster already in the wanted state, or
on its way there, is left; so is one in any other state (failing over, modifying...), with a warning:
StopDBCluster takes only an `available` cluster and StartDBCluster only a `stopped` one (anything else
is InvalidDBClusterStateFault, RDS API reference). Run again, it changes nothing: that is what lets a
scheduler run it at the window's start, at its end and once a day (AWS starts a cluster that has been
stopped for 7 days by itself; the daily run stops it again).

A cluster is stopped only while `schedule apply` holds its drill lease (the ledger drills take, for a few
minutes): a drill's cluster is `available` long before the drill ends measuring (after a failover, say), and a
stop then would be counted as the drill's downtime. One that a drill holds is left running, with a warning
naming the drill; the end-of-window or daily run stops it later.

Before it stops a cluster it tags it (`dbops:stopped-by` = `schedule`, `dbops:stopped-at`), and it removes
those tags when it starts it, or finds it running: status calls a stopped cluster `stopped-by-schedule` only
with them. A cluster it could not tag is left running (an error): a stop without the evidence would read as
a person's.

Each cluster is a check `SCHED[aurora:NAME]`: pass when it is in, or going to, the state the window
wants; warn when it was left in another state or to a drill; error when the call failed (never a pass).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from ops.aws import Aws, describe_aws_error
from ops.config import Config, EnvConfig
from ops.drills.common import new_drill_id
from ops.errors import Busy
from ops.lease import Ledger, ledger_for
from ops.permissions import declare, need
from ops.report import Journal
from ops.targets import parse_target
from ops.window import LEAD, SCHEDULE_TAGS, STOPPED_AT, STOPPED_BY, Window, tags_of

# Start and stop the env's Aurora clusters by its weekly window.
CALLS = declare(
    "schedule.apply",
    need("rds:DescribeDBClusters", on="rds-cluster"),
    need("rds:StartDBCluster", on="rds-cluster", when="estate-env"),
    need("rds:StopDBCluster", on="rds-cluster", when="estate-env"),
    need("rds:AddTagsToResource", on="rds-cluster", when="estate-env", why="dbops:stopped-by and dbops:stopped-at, before a stop"),
    need("rds:RemoveTagsFromResource", on="rds-cluster", when="estate-env", why="those tags, once the cluster runs again"),
)


@dataclass(frozen=True)
class Decision:
    call: str | None  # "start" | "stop" | None: nothing to call
    status: str  # the check's status when the call (if any) succeeds
    why: str


def decide(cluster_status: str, inside: bool) -> Decision:
    """What the window wants of a cluster in this state."""
    if inside:
        if cluster_status == "stopped":
            return Decision("start", "pass", "stopped inside its window: started")
        if cluster_status in ("available", "starting"):
            return Decision(None, "pass", f"{cluster_status} inside its window: left running")
        if cluster_status == "stopping":
            return Decision(None, "warn", "stopping inside its window: it can be started once stopped; run again then")
        return Decision(None, "warn", f"{cluster_status} inside its window: neither stopped nor running, left as it is")
    if cluster_status == "available":
        return Decision("stop", "pass", "available outside its window: stopped")
    if cluster_status in ("stopped", "stopping"):
        return Decision(None, "pass", f"{cluster_status} outside its window: left stopped")
    if cluster_status == "starting":
        return Decision(None, "warn", "starting outside its window: it can be stopped once available; run again then")
    return Decision(None, "warn", f"{cluster_status} outside its window: neither stopped nor running, left as it is")


def where(window: Window, now: datetime) -> tuple[bool, str]:
    """Whether the clusters should run now, and why in words."""
    opening = window.current(now, LEAD)
    if opening is not None:
        opens, closes = opening
        early = " (starts 20 minutes before it opens)" if now < opens else ""
        return True, f"inside the window {window.describe()}: open {opens:%a %H:%M} to {closes:%a %H:%M} UTC{early}"
    return False, f"outside the window {window.describe()}: next opens {window.next_opening(now):%a %Y-%m-%d %H:%M} UTC"


def clusters(cfg: Config, env: EnvConfig) -> list[str]:
    """The env's Aurora clusters, as the estate lists them."""
    from ops.estate import inventory

    return [t["name"] for t in inventory(cfg, env) if parse_target(t["id"]).kind == "aurora"]


# How long a stop holds the cluster's drill lease: the StopDBCluster call, not the stop itself (a drill
# refuses a stopping cluster on its own).
STOP_LEASE_HOURS = 0.1


def rds_clients(aws: Aws) -> tuple[Any, Any]:
    """(reads, calls): reads retried as any read is; StartDBCluster and StopDBCluster sent once, since a refused
    call is reported, not retried into a race with the state it found."""
    return aws.client("rds"), aws.client("rds", attempts=1)


def apply(cfg: Config, env: EnvConfig, window: Window, now: datetime, journal: Journal) -> None:
    reads, calls = rds_clients(Aws.for_env(cfg, env))
    apply_to(reads, clusters(cfg, env), window, now, journal, calls=calls, ledger=ledger_for(cfg, env))


def apply_to(rds: Any, names: list[str], window: Window, now: datetime, journal: Journal, calls: Any = None,
             ledger: Ledger | None = None) -> None:
    """`rds` reads, `calls` (rds when None) starts and stops; a stop holds the cluster's lease in `ledger`."""
    calls = calls if calls is not None else rds
    inside, said = where(window, now)
    journal.details.update(schedule=window.describe(), inside_window=inside, at=now.isoformat())
    journal.event("window", said)
    for name in names:
        check_id = f"SCHED[aurora:{name}]"
        try:
            cluster = rds.describe_db_clusters(DBClusterIdentifier=name)["DBClusters"][0]
            status, arn, tags = cluster["Status"], cluster["DBClusterArn"], tags_of(cluster.get("TagList"))
        except Exception as exc:  # noqa: BLE001 — a failed read is an error, never "nothing to do"
            journal.check(check_id, "error", f"cannot read its state: {describe_aws_error(exc) or exc}", objective=True)
            continue
        decision = decide(status, inside)
        if decision.call == "start":
            after = _call(calls.start_db_cluster, name, status, decision, check_id, journal)
        elif decision.call == "stop":
            after = _stop(calls, ledger, name, arn, status, decision, now, check_id, journal)
        if decision.call is not None:
            if after is None:
                continue  # left as it was: a check says why
            journal.event(decision.call, f"aurora:{name}: {status} -> {after}")
        running = decision.call == "start" or (decision.call is None and status not in ("stopped", "stopping"))
        if running and any(k in tags for k in SCHEDULE_TAGS):
            # Running again (started here, by a drill, or by AWS after 7 days): the stop's evidence goes, so a later
            # stop by anyone else is not taken for the schedule's.
            try:
                calls.remove_tags_from_resource(ResourceName=arn, TagKeys=list(SCHEDULE_TAGS))
            except Exception as exc:  # noqa: BLE001 — said, the cluster's state is still as the window wants
                journal.check(check_id, "warn", f"{decision.why}; its {STOPPED_BY} tag could not be removed: "
                                                f"{describe_aws_error(exc) or exc}", objective=True)
                continue
        journal.check(check_id, decision.status, decision.why, objective=True)


def _stop(calls: Any, ledger: Ledger | None, name: str, arn: str, status: str, decision: Decision, now: datetime,
          check_id: str, journal: Journal) -> str | None:
    """Tag the cluster as stopped by the schedule and stop it, holding its drill lease; its status after the
    call, or None when it was left running (said in a check)."""
    try:
        lease = ledger.acquire(f"aurora:{name}", new_drill_id("schedule"), hours=STOP_LEASE_HOURS) if ledger else None
    except Busy as busy:
        held = str(busy).split(";")[0]  # "aurora:NAME is held by drill ID (pid ...)"
        journal.check(check_id, "warn", f"{status} outside its window: left running, {held}; the next "
                                        "schedule apply (end of window or daily) stops it", objective=True)
        return None
    except Exception as exc:  # noqa: BLE001 — a lease not taken is no licence to stop: an error, left running
        journal.check(check_id, "error", f"{status} outside its window: left running, its drill lease could not be "
                                         f"taken: {describe_aws_error(exc) or exc}", objective=True)
        return None
    try:
        calls.add_tags_to_resource(ResourceName=arn, Tags=[{"Key": STOPPED_BY, "Value": "schedule"},
                                                          {"Key": STOPPED_AT, "Value": f"{now:%Y-%m-%dT%H:%M:%SZ}"}])
    except Exception as exc:  # noqa: BLE001 — untagged, its stop would read as a person's: not stopped
        journal.check(check_id, "error", f"{status} outside its window: left running, it could not be tagged as "
                                         f"stopped by the schedule: {describe_aws_error(exc) or exc}", objective=True)
        return None
    else:
        return _call(calls.stop_db_cluster, name, status, decision, check_id, journal)
    finally:
        if lease is not None:
            lease.release()


def _call(call: Any, name: str, status: str, decision: Decision, check_id: str, journal: Journal) -> str | None:
    """The cluster's status after the call; None when it was refused (said as an error check)."""
    try:
        return str(call(DBClusterIdentifier=name)["DBCluster"]["Status"])
    except Exception as exc:  # noqa: BLE001 — said in the check, the other clusters still get theirs
        journal.check(check_id, "error", f"{status}: {decision.call} refused: {describe_aws_error(exc) or exc}", objective=True)
        return None
