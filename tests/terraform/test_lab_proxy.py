"""The lab env scaled out — three readers and its RDS Proxy switched on: read back with boto3,
planned again without changes to the proxy, planned switched off, and read scaling drilled."""

from __future__ import annotations

import json
import shutil
from typing import Any, Iterator

import pytest

from ops.aws import Aws
from ops.lab import lab as lab_core
from ops.terraform.envs import engine_for_env
from tests.conftest import SCALE_READERS, SCALE_VARS, Cli, traversable_tmpdir, write_config

pytestmark = pytest.mark.slow

PROXY = "lab-aurora-proxy"
ON = ("--var", "rds_proxy_enabled=true")


@pytest.fixture(scope="module")
def applied(provider_mirror, pg_available) -> Iterator[tuple[Cli, Aws]]:  # type: ignore[no-untyped-def]
    """The lab scaled out: three readers and the RDS Proxy."""
    root = traversable_tmpdir("dbops-scale-")
    cli = Cli(write_config(root), root / ".lab")
    lab_core.up(cli.config, lab_core.LabOptions(), lambda _: None)
    try:
        for args in (("plan", "--env", "lab", *SCALE_VARS), ("apply", "--env", "lab")):
            result = cli("tf", *args)
            assert result.exit_code == 0, result.output
        cfg = cli.config
        yield cli, Aws.for_env(cfg, cfg.env("lab"))
    finally:
        lab_core.down(cli.config, lambda _: None)
        shutil.rmtree(root, ignore_errors=True)


def _proxy(aws: Aws) -> dict[str, Any]:
    return aws.client("rds").describe_db_proxies(DBProxyName=PROXY)["DBProxies"][0]


def test_proxy_requires_tls_and_logs_in_with_the_master_secret(applied) -> None:  # type: ignore[no-untyped-def]
    _, aws = applied
    proxy = _proxy(aws)
    secret = aws.client("secretsmanager").describe_secret(SecretId="lab-aurora/master")["ARN"]
    assert proxy["EngineFamily"] == "POSTGRESQL"
    assert proxy["RequireTLS"] is True
    assert proxy["DebugLogging"] is False
    assert proxy["IdleClientTimeout"] == 1800
    assert [(a["AuthScheme"], a["IAMAuth"], a["SecretArn"]) for a in proxy["Auth"]] == [("SECRETS", "DISABLED", secret)]


def test_proxy_pools_connections_for_the_cluster(applied) -> None:  # type: ignore[no-untyped-def]
    _, aws = applied
    rds = aws.client("rds")
    group = rds.describe_db_proxy_target_groups(DBProxyName=PROXY)["TargetGroups"][0]
    pool = group["ConnectionPoolConfig"]
    assert (pool["MaxConnectionsPercent"], pool["MaxIdleConnectionsPercent"], pool["ConnectionBorrowTimeout"]) == (90, 45, 120)
    targets = rds.describe_db_proxy_targets(DBProxyName=PROXY)["Targets"]
    assert [(t["Type"], t["RdsResourceId"]) for t in targets] == [("TRACKED_CLUSTER", "lab-aurora")]


def test_proxy_role_reads_only_the_master_secret(applied) -> None:  # type: ignore[no-untyped-def]
    _, aws = applied
    iam = aws.client("iam")
    role = iam.get_role(RoleName=f"{PROXY}-role")["Role"]
    assert role["Arn"] == _proxy(aws)["RoleArn"]
    trust = role["AssumeRolePolicyDocument"]
    trust = json.loads(trust) if isinstance(trust, str) else trust
    assert [s["Principal"] for s in trust["Statement"]] == [{"Service": "rds.amazonaws.com"}]
    names = iam.list_role_policies(RoleName=role["RoleName"])["PolicyNames"]
    assert iam.list_attached_role_policies(RoleName=role["RoleName"])["AttachedPolicies"] == []
    policy = iam.get_role_policy(RoleName=role["RoleName"], PolicyName=names[0])["PolicyDocument"]
    policy = json.loads(policy) if isinstance(policy, str) else policy
    secret = aws.client("secretsmanager").describe_secret(SecretId="lab-aurora/master")
    key = aws.client("kms").describe_key(KeyId=secret["KmsKeyId"])["KeyMetadata"]["Arn"]
    grants = {(s["Action"][0] if isinstance(s["Action"], list) else s["Action"], s["Resource"]): s.get("Condition")
              for s in policy["Statement"]}
    assert grants == {
        ("secretsmanager:GetSecretValue", secret["ARN"]): None,
        ("kms:Decrypt", key): {"StringEquals": {"kms:ViaService": "secretsmanager.us-east-1.amazonaws.com"}},
    }


def test_cluster_admits_the_proxy_and_clients_reach_it_on_5432(applied) -> None:  # type: ignore[no-untyped-def]
    _, aws = applied
    ec2 = aws.client("ec2")
    proxy_sg = _proxy(aws)["VpcSecurityGroupIds"][0]
    groups = {g["GroupName"]: g for g in ec2.describe_security_groups()["SecurityGroups"]}
    cluster_sources = {p["GroupId"] for rule in groups["lab-aurora-aurora"]["IpPermissions"]
                       for p in rule.get("UserIdGroupPairs", []) if rule.get("FromPort") == 5432}
    assert proxy_sg in cluster_sources
    proxy_in = [(r["FromPort"], r["ToPort"], [c["CidrIp"] for c in r.get("IpRanges", [])])
                for r in groups[PROXY]["IpPermissions"]]
    assert proxy_in == [(5432, 5432, ["10.42.0.0/16"])]


def test_outputs_give_the_drills_the_proxy_endpoint(applied) -> None:  # type: ignore[no-untyped-def]
    cli, aws = applied
    outputs = json.loads(cli("tf", "output", "--env", "lab", "--json").stdout)
    details = outputs["dbops_target_details"]
    assert details["aurora:lab-aurora"]["proxy_endpoint"] == f"{_proxy(aws)['Endpoint']}:5432"
    assert details["dynamodb:orders"]["proxy_endpoint"] == ""
    shown = json.loads(cli("estate", "show", "--env", "lab", "--json").stdout)
    aurora = next(t for t in shown["targets"] if t["id"] == "aurora:lab-aurora")
    assert aurora["proxy_endpoint"].endswith(":5432")


def test_a_second_plan_changes_nothing_of_the_proxy(applied) -> None:  # type: ignore[no-untyped-def]
    cli, _ = applied
    engine = engine_for_env(cli.config, cli.config.env("lab"), {"rds_proxy_enabled": "true", "aurora_reader_count": str(SCALE_READERS)})
    out = cli.lab_dir.parent / "again.tfplan"
    engine.plan(out=out)
    changed = [rc["address"] for rc in engine.show_json(out)["resource_changes"]
               if ".module.proxy[0]." in rc["address"] and rc["change"]["actions"] != ["no-op"]]
    assert changed == []


def test_switching_the_proxy_off_removes_only_the_proxy(applied) -> None:  # type: ignore[no-untyped-def]
    """Planned, not applied (the session shares this lab): off deletes the proxy's resources and nothing else."""
    cli, _ = applied
    engine = engine_for_env(cli.config, cli.config.env("lab"), {"aurora_reader_count": str(SCALE_READERS)})
    out = cli.lab_dir.parent / "off.tfplan"
    engine.plan(out=out)
    plan = engine.show_json(out)
    deleted = {rc["address"] for rc in plan["resource_changes"] if "delete" in rc["change"]["actions"]}
    # The runner's task definitions carry the env's outputs (the proxy endpoint among them) and are immutable:
    # replaced, not deleted for good.
    replaced = {rc["address"] for rc in plan["resource_changes"] if rc["change"]["actions"] in (["delete", "create"], ["create", "delete"])}
    runner = {a for a in deleted if a.startswith("module.runner.aws_ecs_task_definition.")}
    assert runner <= replaced, runner - replaced
    assert deleted and all(".module.proxy[0]." in a or "proxy" in a for a in deleted - runner), deleted - runner
    assert not [rc["address"] for rc in plan["resource_changes"]
                if "aws_rds_cluster" in rc["type"] and rc["change"]["actions"] not in (["no-op"], ["update"])]
    details = plan["planned_values"]["outputs"]["dbops_target_details"]["value"]
    assert details["aurora:lab-aurora"]["proxy_endpoint"] == ""


def test_read_scaling_every_reader_serves_and_a_named_one_takes_over(applied) -> None:  # type: ignore[no-untyped-def]
    """Each reader has a server of its own streaming from the writer; a failover to a named reader moves the writer there."""
    import psycopg

    cli, aws = applied
    rds = aws.client("rds")
    cluster = rds.describe_db_clusters(DBClusterIdentifier="lab-aurora")["DBClusters"][0]
    readers = sorted(m["DBInstanceIdentifier"] for m in cluster["DBClusterMembers"] if not m["IsClusterWriter"])
    assert len(readers) == SCALE_READERS
    secret = json.loads(aws.client("secretsmanager").get_secret_value(SecretId="lab-aurora/master")["SecretString"])
    for iid in readers:
        address = rds.describe_db_instances(DBInstanceIdentifier=iid)["DBInstances"][0]["Endpoint"]["Address"]
        with psycopg.connect(host=address, port=cluster["Port"], user=secret["username"], password=secret["password"],
                             dbname=secret["dbname"], sslmode="require", connect_timeout=5) as conn:
            assert conn.execute("SELECT pg_is_in_recovery()").fetchone()[0] is True, iid
    status = cli("status", "--env", "lab", "--json")
    assert status.exit_code == 0, status.output
    row = next(r for r in json.loads(status.stdout)["targets"] if r["target"] == "aurora:lab-aurora")
    assert row["health"] == "ok", row
    chosen = readers[-1]
    result = cli("drill", "failover", "aurora:lab-aurora", "--to", chosen, "--json")
    assert result.exit_code == 0, result.output
    members = rds.describe_db_clusters(DBClusterIdentifier="lab-aurora")["DBClusters"][0]["DBClusterMembers"]
    assert next(m["DBInstanceIdentifier"] for m in members if m["IsClusterWriter"]) == chosen


def test_clients_through_the_proxy_reach_the_writer_and_follow_a_failover(applied) -> None:  # type: ignore[no-untyped-def]
    """The lab's RDS Proxy is a PgBouncer in front of the writer: clients connect to its endpoint over TLS
    with the master secret, and it follows the writer at once on a failover (no DNS delay)."""
    cli, aws = applied
    endpoint = json.loads(cli("tf", "output", "--env", "lab", "--json").stdout)["dbops_target_details"]["aurora:lab-aurora"]["proxy_endpoint"]
    # The env's proxy may open 90% of the writer's 100 connections: more than the writer has free after its tenth kept
    # for the application, so a load of 200 clients through it is refused before any connects ...
    refused = cli("drill", "connections", "aurora:lab-aurora", "--via", endpoint, "--clients", "200", "--time", "3")
    assert refused.exit_code == 2 and "MaxConnectionsPercent 90% of max_connections 100" in refused.stderr, refused.output
    # ... and runs when exhausting the server is the point.
    conns = cli("drill", "connections", "aurora:lab-aurora", "--via", endpoint, "--clients", "200", "--time", "3", "--ramp", "4",
                "--allow-exhaustion", "--json")
    data = json.loads(conns.stdout)
    assert {c["id"]: c["status"] for c in data["checks"]}["CONN-ERRORS"] == "pass", conns.output  # set-up time is the machine's
    assert data["measurements"]["connected"] == 200 and data["measurements"]["refused_connections"] == 0
    assert "POOL-UTILIZATION" not in {c["id"] for c in data["checks"]}, "RDS Proxy shows no pooler console, in the lab as on AWS"
    # The cluster endpoint moves 15 s after the promotion here (DNS), far beyond a failover's own seconds and the
    # machine's noise: the proxy's clients, which do not wait for it, must see the shorter outage.
    from ops.lab.aws import emulator, settings

    url = emulator.endpoint(cli.lab_dir)
    assert url is not None
    settings.remote(url, {"aurora_endpoint_delay_s": 15})
    try:
        direct = cli("drill", "failover", "aurora:lab-aurora", "--json")
        proxied = cli("drill", "failover", "aurora:lab-aurora", "--via", endpoint, "--json")
    finally:
        settings.remote(url, {"aurora_endpoint_delay_s": 5})
    assert direct.exit_code == 0, direct.output
    assert proxied.exit_code == 0, proxied.output
    d = json.loads(direct.stdout)["measurements"]["client_write_downtime_s"]
    p = json.loads(proxied.stdout)["measurements"]["client_write_downtime_s"]
    assert p < d, (p, d)  # the proxy does not wait for the cluster endpoint's DNS to move
