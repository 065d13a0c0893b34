"""Every AWS call each command makes is declared for it: the commands run against a lab of their own as a
user runs them (subprocesses, DBOPS_RECORD_AWS_CALLS set), a botocore event handler records each call
with the command that made it, and the record is held to `dbops permissions`' declarations.

A call not declared for its command fails; a declared call no run made is printed (a command's options
and targets reach more than one run can).
"""

from __future__ import annotations

import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import pytest

from ops import callrecord
from ops.aws import Aws
from ops.cli.permissions import command_calls, compare
from ops.lab import lab as lab_core
from ops.lab.aws import emulator
from ops.lab.aws import settings as lab_settings
from tests.conftest import Cli, traversable_tmpdir, write_config
from tests.faults.helpers import run
from tests.integration.test_lab_backup import CLUSTER, build

# Quick options: each command runs its AWS path once, bounded in time (loopback only, the lab's emulator).
QUICK_THROUGHPUT = ("--baseline-wcu", "1", "--baseline-rcu", "1", "--ramp", "1", "--time", "4", "--metrics-wait", "10")


@dataclass
class Recorded:
    calls: set[tuple[str, str]]
    exits: dict[str, list[int]]
    outputs: dict[str, str]


@pytest.fixture(scope="module")
def recorded(pg_available) -> Iterator[Recorded]:  # type: ignore[no-untyped-def]
    root = traversable_tmpdir("dbops-perm-")
    record_dir = root / "calls"
    record_dir.mkdir()
    # The emulator's account named, so every command reads the account as it does on AWS.
    cli = Cli(write_config(root, account_id="123456789012"), root / ".lab")
    lab_core.up(cli.config, lab_core.LabOptions(with_postgres=False), lambda _: None)
    try:
        cfg = cli.config
        aws = Aws.for_env(cfg, cfg.env("lab"))
        made = build(aws)  # a CMK, a vault, plans covering `orders` and `sessions`, lab-aurora and its secret
        aws.client("rds").create_db_instance(DBInstanceIdentifier=f"{CLUSTER}-2", DBClusterIdentifier=CLUSTER,
                                             Engine="aurora-postgresql", DBInstanceClass="db.t3.medium", PromotionTier=2)
        # A stop condition a drill watches: its DescribeAlarms is recorded with the drill's other calls.
        aws.client("cloudwatch").put_metric_alarm(AlarmName="dbops-lab-errors", Namespace="dbops/test", MetricName="Errors",
                                                  Statistic="Sum", Period=60, EvaluationPeriods=1, Threshold=1,
                                                  ComparisonOperator="GreaterThanThreshold")
        lab_settings.remote(emulator.endpoint(cli.lab_dir), {"ddb_restorable_lag_s": 0.2})  # type: ignore[arg-type]
        time.sleep(3)  # markers written now are after the tables' first restorable second
        aurora, secret = f"aurora:{CLUSTER}", ("--secret-arn", made["secret"])
        runs = [
            ("status",),
            ("runbook", "show", "aurora-failover", "--target", aurora),
            ("backup", "verify", aurora, "dynamodb:sessions"),
            ("backup", "verify", "dynamodb:orders", "--restore-latest"),
            ("drill", "failover", aurora, *secret, "--publish-metrics"),
            ("drill", "restore", aurora, "--latest", *secret),
            ("drill", "restore", "dynamodb:orders", "--latest"),
            ("drill", "throughput", "dynamodb:sessions", *QUICK_THROUGHPUT),
            ("drill", "connections", aurora, *secret, "--clients", "2", "--time", "1", "--stop-on-alarm", "dbops-lab-errors"),
            ("query", "audit", aurora, *secret),
            ("failover", aurora),  # the writer is left down (no healing): after every run that writes to the cluster
            ("cost", "check"),
            ("janitor",),
        ]
        exits: dict[str, list[int]] = {}
        outputs: dict[str, str] = {}
        for args in runs:
            result = run(cli, *args, timeout=300, DBOPS_RECORD_AWS_CALLS=str(record_dir))
            name = " ".join(args)
            exits.setdefault(name, []).append(result.returncode)
            outputs[name] = result.stderr[-2000:]
        yield Recorded(callrecord.read(record_dir), exits, outputs)
    finally:
        lab_core.down(cli.config, lambda _: None)
        shutil.rmtree(root, ignore_errors=True)


def test_every_command_ran_its_aws_path(recorded: Recorded) -> None:
    """The runs reached a verdict (no usage or run error) and each command's calls were recorded: an empty
    record would make the comparison below pass on nothing."""
    for name, codes in recorded.exits.items():
        assert all(code in (0, 1, 4) for code in codes), (name, codes, recorded.outputs[name])
    commands = {command for command, _ in recorded.calls}
    assert {"runbook show", "backup verify", "drill failover", "failover", "drill restore", "drill throughput",
            "drill connections", "query audit", "cost check", "janitor"} <= commands, commands
    assert ("drill failover", "rds:FailoverDBCluster") in recorded.calls
    assert ("drill failover", "cloudwatch:PutMetricData") in recorded.calls
    assert ("drill restore", "rds:RestoreDBClusterToPointInTime") in recorded.calls
    assert ("backup verify", "backup:StartRestoreJob") in recorded.calls


def test_every_recorded_call_is_declared_for_its_command(recorded: Recorded) -> None:
    undeclared, unused = compare(recorded.calls)
    for command, calls in unused.items():
        print(f"declared for `{command}`, not made by its runs here: {', '.join(calls)}")
    assert undeclared == [], "AWS calls made but not declared for their command:\n" + "\n".join(undeclared)


def test_the_table_covers_every_command_recorded(recorded: Recorded) -> None:
    table = command_calls()
    assert {command for command, _ in recorded.calls} <= set(table)


def test_a_declaration_taken_away_fails_the_record(recorded: Recorded, monkeypatch: pytest.MonkeyPatch) -> None:
    """Negative control on the real record: without the failover's declaration, its call is undeclared."""
    from ops.cli import permissions as perm
    from ops.targets import aurora

    table = perm.command_calls()
    monkeypatch.setattr(perm, "command_calls",
                        lambda: {**table, "drill failover": tuple(c for c in table["drill failover"] if c is not aurora.FAILOVER)})
    undeclared, _ = perm.compare(recorded.calls)
    assert undeclared == ["drill failover: rds:FailoverDBCluster"]
