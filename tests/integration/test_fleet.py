"""Fleet reads against the lab's emulator: `backup verify` and `status` over the regions and accounts an env
lists (another account through an assumed role, moto keeping each account's resources apart), read
concurrently with the same findings as one at a time, throttled reads retried, a role that cannot be
assumed refused in one line while the other accounts are read.

One lab for the module (the emulator; no lab-pg). The env `fleet` is account 123456789012 in us-east-1
and eu-west-1, and accounts 222222222222 (its role assumed) and 333333333333 (its role refused by the
lab's sts_denied_roles).
"""

from __future__ import annotations

import json
import re
import shutil
import time
import urllib.request
from functools import lru_cache
from typing import Any, Iterator

import pytest

from ops.aws import Aws
from ops.checks.verify import verify
from ops.lab import lab as lab_core
from ops.lab.aws import emulator, settings
from ops.report import Journal
from tests.conftest import REPO, Cli, traversable_tmpdir, write_config

HOME, OTHER, DENIED = "123456789012", "222222222222", "333333333333"
DENIED_ROLE = f"arn:aws:iam::{DENIED}:role/dbops-read"
FLEET = f"""
[envs.fleet]
region = "us-east-1"
endpoint = "embedded"
terraform_dir = "{REPO / 'terraform/envs/lab'}"
protected = false
account_id = "{HOME}"
regions = ["us-east-1", "eu-west-1"]

[[envs.fleet.accounts]]
id = "{OTHER}"
role_arn = "arn:aws:iam::{OTHER}:role/dbops-read"

[[envs.fleet.accounts]]
id = "{DENIED}"
role_arn = "{DENIED_ROLE}"
"""
# What each account and region holds; ap-southeast-2 is a region the env does not list.
EXPECTED = [f"dynamodb:home-eu@{HOME}/eu-west-1",
            f"aurora:other-db@{OTHER}/us-east-1", f"dynamodb:other-orders@{OTHER}/us-east-1",
            f"dynamodb:other-sessions@{OTHER}/us-east-1", f"dynamodb:other-eu@{OTHER}/eu-west-1"]


def make_table(aws: Aws, name: str, pitr: bool) -> None:
    ddb = aws.client("dynamodb")
    ddb.create_table(TableName=name, KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
                     AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}], BillingMode="PAY_PER_REQUEST")
    if pitr:
        ddb.update_continuous_backups(TableName=name, PointInTimeRecoverySpecification={"PointInTimeRecoveryEnabled": True})
        ddb.create_backup(TableName=name, BackupName=f"{name}-1")


@pytest.fixture(scope="module")
def fleet(pg_available) -> Iterator[Cli]:  # type: ignore[no-untyped-def]
    root = traversable_tmpdir("dbops-fleet-")
    cli = Cli(write_config(root, extra=FLEET, account_id=HOME), root / ".lab")
    lab_core.up(cli.config, lab_core.LabOptions(with_postgres=False), lambda _: None)
    try:
        cfg = cli.config
        env = cfg.env("fleet")
        make_table(Aws.for_env(cfg, env, region="eu-west-1"), "home-eu", pitr=True)
        other = Aws.for_env(cfg, env, role_arn=f"arn:aws:iam::{OTHER}:role/dbops-read")
        make_table(other, "other-orders", pitr=True)
        make_table(other, "other-sessions", pitr=False)
        # aurora-mysql: moto's Aurora alone (the lab backs only aurora-postgresql with PostgreSQL servers)
        other.client("rds").create_db_cluster(DBClusterIdentifier="other-db", Engine="aurora-mysql", MasterUsername="admin",
                                              MasterUserPassword="fleet-Pa55word", BackupRetentionPeriod=7, StorageEncrypted=True)
        make_table(Aws.for_env(cfg, env, region="eu-west-1", role_arn=f"arn:aws:iam::{OTHER}:role/dbops-read"), "other-eu", pitr=True)
        make_table(Aws.for_env(cfg, env, region="ap-southeast-2", role_arn=f"arn:aws:iam::{OTHER}:role/dbops-read"),
                   "unlisted-region", pitr=True)
        settings.remote(emulator.endpoint(cli.lab_dir), {"sts_denied_roles": DENIED_ROLE})  # type: ignore[arg-type]
        yield cli
    finally:
        lab_core.down(cli.config, lambda _: None)
        shutil.rmtree(root, ignore_errors=True)


def set_lab(cli: Cli, **values: Any) -> None:
    settings.remote(emulator.endpoint(cli.lab_dir), values)  # type: ignore[arg-type]


def fault_counts(cli: Cli) -> dict[str, int]:
    with urllib.request.urlopen(emulator.endpoint(cli.lab_dir) + "/moto-api/dbops-lab/api-faults", timeout=10) as answer:  # type: ignore[operator]
        return json.loads(answer.read())


def checks(result: Any) -> list[tuple[str, str, str]]:
    return [(c["id"], c["status"], c["detail"]) for c in json.loads(result.stdout)["checks"]]


def same(found: list[tuple[str, str, str]]) -> list[tuple[str, str, str]]:
    """Findings as two runs a few seconds apart must agree on them: ages and lags in the details are masked."""
    return [(i, s, re.sub(r"\d+(\.\d+)?", "#", d)) for i, s, d in found]


def targets_of(found: list[tuple[str, str, str]]) -> list[str]:
    return list(dict.fromkeys(i.split("[", 1)[1][:-1] for i, _, _ in found if not i.startswith("SCOPE[")))


def test_backup_verify_reads_every_listed_region_and_account_and_refuses_the_unassumable_one_in_one_line(fleet: Cli) -> None:
    result = fleet("backup", "verify", "--env", "fleet", "--json")
    found = checks(result)
    assert targets_of(found) == EXPECTED, "each listed account and region, in order; ap-southeast-2 is not listed"
    assert not any("unlisted-region" in i for i, _, _ in found)
    refused = [(i, s, d) for i, s, d in found if i.startswith("SCOPE[")]
    assert [i for i, _, _ in refused] == [f"SCOPE[{DENIED}/us-east-1]", f"SCOPE[{DENIED}/eu-west-1]"]
    assert all(s == "error" and "AccessDenied" in d and DENIED_ROLE in d for _, s, d in refused)
    said = [line for line in result.stderr.splitlines() if line.startswith("dbops:") and DENIED in line]
    assert len(said) == 2 and all("AccessDenied" in line for line in said), result.stderr  # one line a refused scope
    # fail outranks error (DESIGN's status set): other-sessions fails; the refused scopes are errors, never a pass
    assert result.exit_code == 1 and json.loads(result.stdout)["status"] == "fail"
    by_id = {i: (s, d) for i, s, d in found}
    assert by_id[f"BKP-DDB-PITR[dynamodb:other-orders@{OTHER}/us-east-1]"][0] == "pass"
    assert by_id[f"BKP-DDB-PITR[dynamodb:other-sessions@{OTHER}/us-east-1]"][0] == "fail", "the other account's own state, judged"


def test_named_target_in_an_unlisted_region_is_a_usage_error(fleet: Cli) -> None:
    result = fleet("backup", "verify", "--env", "fleet", f"dynamodb:unlisted-region@{OTHER}/ap-southeast-2")
    assert result.exit_code == 2 and "not a region of an account env 'fleet' reads" in result.stderr
    assert "Traceback" not in result.output
    named = fleet("backup", "verify", "--env", "fleet", "--json", f"dynamodb:other-eu@{OTHER}/eu-west-1")
    assert targets_of(checks(named)) == [f"dynamodb:other-eu@{OTHER}/eu-west-1"]


def test_concurrent_read_gives_the_sequential_findings_in_the_same_order(fleet: Cli) -> None:
    # 40 ms an answer: reads end in another order than they started, and concurrency is what makes it faster.
    set_lab(fleet, api_latency_ms=40)
    try:
        started = time.monotonic()
        one_at_a_time = fleet("backup", "verify", "--env", "fleet", "--json", "--concurrency", "1")
        middle = time.monotonic()
        concurrent = fleet("backup", "verify", "--env", "fleet", "--json", "--concurrency", "16")
        times = [middle - started, time.monotonic() - middle]
    finally:
        set_lab(fleet, api_latency_ms=0)
    assert same(checks(concurrent)) == same(checks(one_at_a_time))
    assert len(checks(concurrent)) > 30
    assert times[1] < times[0], times


def test_throttled_reads_are_retried_and_change_no_finding(fleet: Cli) -> None:
    cfg = fleet.config
    env = cfg.env("fleet")
    targets = [t.split("@")[0] for t in EXPECTED if t.endswith(f"{OTHER}/us-east-1")]
    other = Aws.for_env(cfg, env, role_arn=f"arn:aws:iam::{OTHER}:role/dbops-read")

    def run(aws: Aws) -> list[tuple[str, str, str]]:
        report = verify(cfg, env, targets, Journal("backup", "fleet", "fleet", echo=None),
                        client_for=lru_cache(maxsize=None)(aws.client), concurrency=8)
        return [(c.id, c.status, c.detail) for c in report.checks]

    calm = run(other)
    set_lab(fleet, api_throttle_every=3)
    try:
        before = fault_counts(fleet)["throttled"]
        throttled = run(other)
        assert fault_counts(fleet)["throttled"] > before + 5, "the lab throttled the reads"
        # Negative control: a client that does not retry sees the throttles as failed reads.
        no_retry = Aws(region=other.region, endpoint_url=other.endpoint_url, role_arn=other.role_arn, max_attempts=1)
        unretried = run(no_retry)
    finally:
        set_lab(fleet, api_throttle_every=0)
    assert same(throttled) == same(calm)
    errors = [(i, d) for i, s, d in unretried if s == "error"]
    assert any("Throttling" in d for _, d in errors), unretried
    assert all("Throttling" in d or "could not be read" in d for _, d in errors), unretried


def test_status_reads_the_fleet_and_shows_the_refused_account(fleet: Cli) -> None:
    result = fleet("status", "--env", "fleet", "--json", "--concurrency", "4")
    assert result.exit_code == 4, result.output  # not whole: an account was not read
    said = [line for line in result.stderr.splitlines() if line.startswith("dbops:") and "not read" in line]
    assert len(said) == 2 and all(DENIED in line for line in said), result.stderr
    rows = json.loads(result.stdout)["targets"]
    assert [r["target"] for r in rows if "@" in r["target"]] == EXPECTED
    health = {r["target"]: r["health"] for r in rows}
    assert health[f"dynamodb:other-eu@{OTHER}/eu-west-1"] == "ok"
    assert health[f"aurora:other-db@{OTHER}/us-east-1"] == "ok"
    assert health[f"{DENIED}/us-east-1"].startswith("error: not read:") and "AccessDenied" in health[f"{DENIED}/us-east-1"]
    assert next(r for r in rows if r["target"] == f"{DENIED}/us-east-1")["budget_burn"] == "?", "its budget was not read"


def test_a_command_that_writes_refuses_another_accounts_target(fleet: Cli) -> None:
    result = fleet("drill", "restore", "--env", "fleet", f"dynamodb:other-orders@{OTHER}/us-east-1")
    assert result.exit_code == 2 and "acts on env 'fleet''s own account and region only" in result.stderr
    assert "Traceback" not in result.output


def test_a_role_that_acts_in_another_account_than_declared_is_refused(fleet: Cli) -> None:
    # dbops.toml refuses a role ARN of another account than its id; an env built past that check shows the
    # run-time one: GetCallerIdentity through the role names the account it acts in.
    from dataclasses import replace

    from ops.config import Account
    from ops.errors import ConfigError
    from ops.scopes import Scope, aws_for

    role = "arn:aws:iam::555555555555:role/dbops-read"
    env = replace(fleet.config.env("fleet"), accounts=(Account("444444444444", role),))
    with pytest.raises(ConfigError, match="acts in account 555555555555, not the declared 444444444444"):
        aws_for(fleet.config, env, Scope("444444444444", "us-east-1", role))
    good = replace(env, accounts=(Account("555555555555", role),))
    assert aws_for(fleet.config, good, Scope("555555555555", "us-east-1", role)).account() == "555555555555"
