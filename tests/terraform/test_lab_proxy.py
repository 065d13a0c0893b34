"""The lab env with its RDS Proxy switched on: applied to a fresh emulator, read back with boto3,
planned again without changes to the proxy, then switched off again."""

from __future__ import annotations

import json
import shutil
from typing import Any, Iterator

import pytest

from ops.aws import Aws
from ops.lab import lab as lab_core
from ops.terraform.envs import engine_for_env
from tests.conftest import Cli, traversable_tmpdir, write_config

pytestmark = pytest.mark.slow

PROXY = "lab-aurora-proxy"
ON = ("--var", "rds_proxy_enabled=true")


@pytest.fixture(scope="module")
def applied(provider_mirror, pg_available) -> Iterator[tuple[Cli, Aws]]:  # type: ignore[no-untyped-def]
    root = traversable_tmpdir("dbops-proxy-")
    cli = Cli(write_config(root), root / ".lab")
    lab_core.up(cli.config, lab_core.LabOptions(), lambda _: None)
    try:
        result = cli("tf", "apply", "--env", "lab", *ON)
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
    engine = engine_for_env(cli.config, cli.config.env("lab"), {"rds_proxy_enabled": "true"})
    out = cli.lab_dir.parent / "again.tfplan"
    engine.plan(out=out)
    changed = [rc["address"] for rc in engine.show_json(out)["resource_changes"]
               if ".module.proxy[0]." in rc["address"] and rc["change"]["actions"] != ["no-op"]]
    assert changed == []


def test_switching_the_proxy_off_removes_it_and_keeps_the_cluster(applied) -> None:  # type: ignore[no-untyped-def]
    cli, aws = applied
    result = cli("tf", "apply", "--env", "lab")  # the lab's default: no proxy
    assert result.exit_code == 0, result.output
    rds = aws.client("rds")
    assert rds.describe_db_proxies()["DBProxies"] == []
    assert [c["DBClusterIdentifier"] for c in rds.describe_db_clusters()["DBClusters"]] == ["lab-aurora"]
    groups = {g["GroupName"]: g for g in aws.client("ec2").describe_security_groups()["SecurityGroups"]}
    assert PROXY not in groups
    assert all(not rule.get("UserIdGroupPairs") for rule in groups["lab-aurora-aurora"]["IpPermissions"])
    assert [r["RoleName"] for r in aws.client("iam").list_roles()["Roles"] if r["RoleName"] == f"{PROXY}-role"] == []
    details = json.loads(cli("tf", "output", "--env", "lab", "--json").stdout)["dbops_target_details"]
    assert details["aurora:lab-aurora"]["proxy_endpoint"] == ""
