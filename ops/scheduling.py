"""`dbops schedule apply`: the env's Aurora clusters run only in its weekly window.

Inside the window (or within `LEAD` before it opens) a stopped cluster is started (StartDBCluster);
outside it an available cluster is stopped (StopDBCluster). A cluster already in the wanted state, or
on its way there, is left; so is one in any other state (failing over, modifying...), with a warning:
StopDBCluster takes only an `available` cluster and StartDBCluster only a `stopped` one (anything else
is InvalidDBClusterStateFault, RDS API reference). Run again, it changes nothing: that is what lets a
scheduler run it at the window's start, at its end and once a day (AWS starts a cluster that has been
stopped for 7 days by itself; the daily run stops it again).

Each cluster is a check `SCHED[aurora:NAME]`: pass when it is in, or going to, the state the window
wants; warn when it was left in another state; error when the call failed (never a pass).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from ops.aws import Aws, describe_aws_error
from ops.config import Config, EnvConfig
from ops.permissions import declare, need
from ops.report import Journal
from ops.targets import parse_target
from ops.window import LEAD, Window

# Start and stop the env's Aurora clusters by its weekly window.
CALLS = declare(
    "schedule.apply",
    need("rds:DescribeDBClusters", on="rds-cluster"),
    need("rds:StartDBCluster", on="rds-cluster", when="estate-env"),
    need("rds:StopDBCluster", on="rds-cluster", when="estate-env"),
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


def apply(cfg: Config, env: EnvConfig, window: Window, now: datetime, journal: Journal) -> None:
    # A refused call is reported, not retried into a race with the state it found.
    apply_to(Aws.for_env(cfg, env).client("rds", attempts=1), clusters(cfg, env), window, now, journal)


def apply_to(rds: Any, names: list[str], window: Window, now: datetime, journal: Journal) -> None:
    inside, said = where(window, now)
    journal.details.update(schedule=window.describe(), inside_window=inside, at=now.isoformat())
    journal.event("window", said)
    for name in names:
        check_id = f"SCHED[aurora:{name}]"
        try:
            status = rds.describe_db_clusters(DBClusterIdentifier=name)["DBClusters"][0]["Status"]
        except Exception as exc:  # noqa: BLE001 — a failed read is an error, never "nothing to do"
            journal.check(check_id, "error", f"cannot read its state: {describe_aws_error(exc) or exc}", objective=True)
            continue
        decision = decide(status, inside)
        if decision.call is not None:
            try:
                call: Any = rds.start_db_cluster if decision.call == "start" else rds.stop_db_cluster
                after = call(DBClusterIdentifier=name)["DBCluster"]["Status"]
            except Exception as exc:  # noqa: BLE001 — said in the check, the other clusters still get theirs
                journal.check(check_id, "error", f"{status}: {decision.call} refused: {describe_aws_error(exc) or exc}", objective=True)
                continue
            journal.event(decision.call, f"aurora:{name}: {status} -> {after}")
        journal.check(check_id, decision.status, decision.why, objective=True)
