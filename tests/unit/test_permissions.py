"""`dbops permissions`: the policy derived from the declared calls, its scoping, its errors, its Terraform form,
the runner's policy file, and the recorder and comparison the recorded-calls test relies on."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest
from botocore.stub import Stubber

from ops import callrecord
from ops.aws import Aws
from ops.cli.permissions import command_calls, compare
from ops.permissions import policy
from tests.conftest import REPO, Cli, require

RUNNER_COMMANDS = ("drill", "failover", "drill", "restore", "backup", "verify", "cost", "check", "schedule", "apply")
RUNNER_POLICY = REPO / "terraform/envs/lab/runner-policy.json"


def document(cli: Cli, *args: str) -> dict:
    result = cli("permissions", *args)
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def actions(doc: dict) -> set[str]:
    return {a for s in doc["Statement"] for a in s["Action"]}


def test_arns_name_the_env_s_account_and_region(cli_at: Cli) -> None:
    cli_at.config_path.write_text(cli_at.config_path.read_text().replace(
        '[envs.prod]\nregion = "us-east-1"', '[envs.prod]\nregion = "eu-west-1"\naccount_id = "111122223333"'))
    doc = document(cli_at, *RUNNER_COMMANDS, "--env", "prod")
    arns = [r for s in doc["Statement"] for r in ([s["Resource"]] if isinstance(s["Resource"], str) else s["Resource"])]
    assert arns and all(r == "*" or ":111122223333:" in r for r in arns), arns
    regional = [r for r in arns if r != "*" and not r.startswith(("arn:aws:iam::", "arn:aws:budgets::"))]
    assert regional and all(":eu-west-1:" in r for r in regional), regional
    conditions = json.dumps([s.get("Condition") for s in doc["Statement"]])
    assert "secretsmanager.eu-west-1.amazonaws.com" in conditions and "us-east-1" not in conditions


def test_an_env_without_account_id_is_any_account_in_its_region(cli_at: Cli) -> None:
    doc = document(cli_at, "failover", "--env", "prod")
    cluster = next(s for s in doc["Statement"] if "rds:FailoverDBCluster" in s["Action"])
    assert cluster["Resource"] == "arn:aws:rds:us-east-1:*:cluster:*"


def test_deletes_reach_only_what_drills_created_and_tagged(cli_at: Cli) -> None:
    doc = document(cli_at)
    deletes = [s for s in doc["Statement"] if any(":Delete" in a and a != "dynamodb:DeleteItem" for a in s["Action"])
               and not s["Sid"].startswith(("Lake", "GlueTable"))]
    assert {a for s in deletes for a in s["Action"]} >= {"rds:DeleteDBCluster", "rds:DeleteDBInstance", "dynamodb:DeleteTable",
                                                          "backup:DeleteRecoveryPoint"}
    # The analytics export re-points its own tables' partitions: the catalog's entries, in the lake's databases only.
    # and deletes stray files of a killed attempt under a batch's own prefix: objects of the lake's buckets only.
    lake = [s for s in doc["Statement"] if {"glue:BatchDeletePartition", "s3:DeleteObject"} & set(s["Action"])]
    assert lake and all(r.endswith((":catalog", ":database/dbops_*", ":table/dbops_*/*")) or ":s3:::dbops-" in r and "-lake" in r
                        for s in lake for r in ([s["Resource"]] if isinstance(s["Resource"], str) else s["Resource"]))
    for s in deletes:
        assert s["Condition"] == {"Null": {"aws:ResourceTag/dbops:drill-id": "false"}}, s
        if not s["Sid"].startswith("RecoveryPoint"):  # a recovery point's ARN does not carry its resource's name
            assert s["Resource"].endswith("-restore-*"), s


def resources(statement: dict) -> list[str]:
    return [statement["Resource"]] if isinstance(statement["Resource"], str) else statement["Resource"]


def with_prod(cli: Cli, lines: str) -> None:
    cli.config_path.write_text(cli.config_path.read_text().replace('[envs.prod]\nregion = "us-east-1"', f"[envs.prod]\n{lines}"))


ESTATE_WRITES = {"rds:StopDBCluster", "rds:StartDBCluster", "rds:FailoverDBCluster"}


def test_writes_on_the_estate_s_clusters_reach_only_the_env_s_tagged_clusters(cli_at: Cli) -> None:
    """Stop, start, fail over and restore-from act on any cluster ARN: each is held to the env's dbops:env tag,
    while the same ARN's reads are not."""
    for env in ("lab", "prod"):
        doc = document(cli_at, *RUNNER_COMMANDS, "--env", env)
        on_clusters = [s for s in doc["Statement"] if any(r.endswith(":cluster:*") for r in resources(s))]
        writes = [s for s in on_clusters if not all(a.startswith("rds:Describe") for a in s["Action"])]
        assert {a for s in writes for a in s["Action"]} >= ESTATE_WRITES | {"rds:RestoreDBClusterToPointInTime"}, writes
        for s in writes:
            assert s["Condition"] == {"StringEquals": {"aws:ResourceTag/dbops:env": env}}, s
        reads = [s for s in on_clusters if s not in writes]
        assert reads and all("Condition" not in s for s in reads), reads
    # the new cluster of a restore is one a drill names and tags, not one of the estate's
    restored = next(s for s in doc["Statement"] if s["Sid"] == "RestoredClusterDrillTagging")
    assert "rds:RestoreDBClusterToPointInTime" in restored["Action"]


def test_the_estate_module_tags_every_resource_with_its_env() -> None:
    """What the policy's dbops:env condition needs of Terraform: every module of the estate gets the env's tag."""
    import re

    main = (REPO / "terraform/modules/estate/main.tf").read_text()
    assert re.search(r'tags\s*=\s*merge\(var\.tags,\s*\{\s*"dbops:env"\s*=\s*var\.env\s*\}\)', main), "no dbops:env tag in locals"
    modules = re.findall(r'^module "(\w+)" \{(.*?)^\}', main, flags=re.S | re.M)
    assert len(modules) >= 7
    untagged = [name for name, body in modules if "tags" in body and not re.search(r"^\s*tags\s*=\s*local\.tags$", body, re.M)]
    assert untagged == [], untagged
    assert "var.tags" not in main.replace("merge(var.tags", "")


def test_a_restore_is_granted_the_cluster_parameter_group_it_passes(cli_at: Cli) -> None:
    """RestoreDBClusterToPointInTime with DBClusterParameterGroupName is authorized on that cluster-pg too."""
    doc = document(cli_at, "drill", "restore", "--env", "prod")
    granted = [r for s in doc["Statement"] if "rds:RestoreDBClusterToPointInTime" in s["Action"] for r in resources(s)]
    assert "arn:aws:rds:us-east-1:*:cluster-pg:*" in granted, granted


def test_a_fleet_env_s_arns_name_each_of_its_regions(cli_at: Cli) -> None:
    with_prod(cli_at, 'region = "us-east-1"\nregions = ["eu-west-1", "ap-southeast-2"]\naccount_id = "111122223333"')
    doc = document(cli_at, *RUNNER_COMMANDS, "backup", "verify", "--env", "prod")
    regions = ("us-east-1", "eu-west-1", "ap-southeast-2")
    for s in doc["Statement"]:
        regional = [r for r in resources(s) if r != "*" and not r.startswith(("arn:aws:iam::", "arn:aws:budgets::"))]
        for region in regions:
            assert any(f":{region}:" in r for r in regional) or not regional, (region, s)
    cluster = next(s for s in doc["Statement"] if s["Sid"] == "RdsCluster")
    assert resources(cluster) == [f"arn:aws:rds:{r}:111122223333:cluster:*" for r in regions]
    secrets = next(s for s in doc["Statement"] if s["Sid"] == "KmsKeyViaSecretsmanager")
    assert secrets["Condition"]["StringEquals"]["kms:ViaService"] == [f"secretsmanager.{r}.amazonaws.com" for r in regions]


@pytest.mark.parametrize("region, prefix", [("cn-north-1", "arn:aws-cn:"), ("us-gov-west-1", "arn:aws-us-gov:"),
                                            ("eu-west-1", "arn:aws:")])
def test_arns_are_in_the_region_s_partition(cli_at: Cli, region: str, prefix: str) -> None:
    with_prod(cli_at, f'region = "{region}"')
    doc = document(cli_at, "--env", "prod")
    arns = [r for s in doc["Statement"] for r in resources(s) if r != "*"]
    assert arns and all(r.startswith(prefix) for r in arns), [r for r in arns if not r.startswith(prefix)]


def test_backup_jobs_pass_only_the_estate_s_backup_role(cli_at: Cli) -> None:
    """terraform/modules/backup names the plan's role <name>-backup; the estate names the plan dbops-<env>."""
    doc = document(cli_at, "backup", "verify", "--env", "prod")
    (passrole,) = [s for s in doc["Statement"] if "iam:PassRole" in s["Action"]]
    assert passrole["Resource"] == "arn:aws:iam::*:role/dbops-prod-backup"
    assert passrole["Condition"] == {"StringEquals": {"iam:PassedToService": "backup.amazonaws.com"}}
    backup = (REPO / "terraform/modules/backup/main.tf").read_text()
    assert 'name = "${var.name}-backup"' in backup
    assert 'name               = "dbops-${var.env}"' in (REPO / "terraform/modules/estate/main.tf").read_text()


def test_key_grants_are_only_for_aws_resources(cli_at: Cli) -> None:
    doc = document(cli_at, "drill", "restore", "backup", "verify")
    grants = [s for s in doc["Statement"] if "kms:CreateGrant" in s["Action"]]
    assert grants and all(s["Condition"].get("Bool") == {"kms:GrantIsForAWSResource": "true"} for s in grants), grants
    assert all(s["Condition"]["StringEquals"]["kms:ViaService"] for s in grants)


def test_a_policy_held_to_the_env_s_tag_needs_an_env() -> None:
    from ops.permissions import need

    with pytest.raises(ValueError, match="no env named"):
        policy([need("rds:StopDBCluster", on="rds-cluster", when="estate-env")], "us-east-1", None, "locks")


def test_a_restore_s_item_writes_and_scans_reach_only_restored_tables(cli_at: Cli) -> None:
    """A restore writes the new table's items as its caller: those actions must not reach the application's tables
    (the lease table, dbops' own, is scanned for records and its lease items updated)."""
    doc = document(cli_at, "drill", "restore")
    wide = [s for s in doc["Statement"] if s["Sid"] != "LeaseTable"
            and {"dynamodb:Scan", "dynamodb:Query", "dynamodb:BatchWriteItem", "dynamodb:UpdateItem"} & set(s["Action"])]
    assert wide and all(s["Resource"].endswith(":table/*-restore-*") for s in wide), wide


def test_star_only_where_no_resource_level_permission_exists_and_the_sid_says_so(cli_at: Cli) -> None:
    doc = document(cli_at)
    sids = [s["Sid"] for s in doc["Statement"]]
    assert len(sids) == len(set(sids)), sids
    star = [s for s in doc["Statement"] if s["Resource"] == "*"]
    # AnyAlarm: DescribeAlarms has resource-level permissions, but answers composite alarms only on "*".
    assert star and all(s["Sid"].startswith(("NoResourceLevelPermissions", "AnyAlarm")) for s in star)
    starred = {a for s in star for a in s["Action"]}
    assert not starred & {"rds:DescribeDBClusters", "rds:FailoverDBCluster", "dynamodb:DescribeTable", "dynamodb:DeleteTable",
                          "secretsmanager:GetSecretValue", "backup:StartRestoreJob"}, starred


def test_actions_not_named_after_their_call_are_included(cli_at: Cli) -> None:
    got = actions(document(cli_at, "drill", "failover", "drill", "restore", "cost", "check"))
    assert {"kms:Decrypt", "rds:AddTagsToResource", "rds:CreateDBInstance", "budgets:ViewBudget", "kms:CreateGrant"} <= got
    assert "budgets:DescribeBudgets" not in got, "DescribeBudgets is authorized as budgets:ViewBudget"


def test_commands_get_only_what_they_reach(cli_at: Cli) -> None:
    failover = actions(document(cli_at, "drill", "failover"))
    assert "rds:FailoverDBCluster" in failover and "rds:RestoreDBClusterToPointInTime" not in failover
    cost = actions(document(cli_at, "cost", "check"))
    assert "ce:GetCostAndUsage" in cost and not any(a.startswith("rds:") for a in cost)
    assert actions(document(cli_at, "drill", "failover", "cost", "check")) == failover | cost
    everything = actions(document(cli_at))
    assert failover | cost < everything and "pricing:GetProducts" in everything


@pytest.mark.parametrize("args, says", [
    (("drill", "nope"), "unknown command 'drill nope'"),
    (("backup",), "unknown command 'backup'"),
    (("tf", "apply"), "dbops tf: not derived"),
    (("cost", "check", "--format", "yaml"), "'yaml' is not one of"),
])
def test_bad_input_is_one_line_exit_2(cli_at: Cli, args: tuple[str, ...], says: str) -> None:
    result = cli_at("permissions", *args)
    assert result.exit_code == 2
    lines = [ln for ln in result.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1 and says in lines[0] and "Traceback" not in result.output, result.output
    assert result.stdout == ""


def test_the_terraform_form_evaluates_to_the_same_document(cli_at: Cli, tmp_path: Path) -> None:
    terraform = shutil.which("terraform")
    require(terraform is not None, "terraform is not installed")
    hcl = cli_at("permissions", "drill", "restore", "--format", "terraform")
    assert hcl.exit_code == 0, hcl.output
    (tmp_path / "main.tf").write_text(hcl.stdout)
    out = subprocess.run([str(terraform), "console"], input="local.dbops_policy\n", cwd=tmp_path, capture_output=True,
                         text=True, timeout=120, check=True).stdout
    assert json.loads(json.loads(out.strip().splitlines()[-1])) == document(cli_at, "drill", "restore")
    # Pasted into an env's Terraform, it passes `terraform fmt -check` (make lint, make plan).
    fmt = subprocess.run([str(terraform), "fmt", "-check", "-diff", "main.tf"], cwd=tmp_path, capture_output=True, text=True, timeout=60)
    assert fmt.returncode == 0, fmt.stdout


def test_commands_that_need_no_permission_print_no_empty_policy(cli_at: Cli) -> None:
    """IAM refuses a policy without a statement: one line on stderr, nothing on stdout."""
    result = cli_at("permissions", "report", "list")
    assert result.exit_code == 0 and result.stdout == "", result.stdout
    assert "no AWS permission is needed" in result.stderr


def test_the_runner_policy_file_is_the_current_output() -> None:
    """terraform/envs/lab/runner-policy.json is what the drill runner's task role gets: regenerate it with
    `dbops permissions drill failover drill restore backup verify cost check schedule apply --env lab`."""
    cli = Cli(REPO / "dbops.toml", REPO / ".lab")
    result = cli("permissions", *RUNNER_COMMANDS, "--env", "lab")
    assert result.exit_code == 0, result.output
    assert RUNNER_POLICY.read_text() == result.stdout


def test_an_undeclared_call_is_found_and_a_declared_one_not_made_is_reported() -> None:
    """Negative control of the recorded-calls test: a call outside a command's declarations is caught."""
    undeclared, unused = compare({("drill failover", "rds:FailoverDBCluster"), ("drill failover", "rds:DeleteDBCluster"),
                                  ("cost check", "ce:GetCostAndUsage"), ("lab up", "rds:CreateDBCluster")})
    assert undeclared == ["drill failover: rds:DeleteDBCluster", "lab up: rds:CreateDBCluster"]
    assert "rds:DescribeDBClusters" in unused["drill failover"] and "ce:GetCostForecast" in unused["cost check"]
    assert compare({("drill failover", "rds:FailoverDBCluster")})[0] == []


def test_every_declared_command_is_a_command_of_the_cli() -> None:
    import click

    from ops.cli import cli

    ctx = click.Context(cli)
    for command in command_calls():
        if command == "schedule apply" and cli.get_command(ctx, "schedule") is None:
            continue  # declared ahead of its command: the runner's policy carries it
        node = cli
        for word in command.split():
            node = node.get_command(ctx, word)  # type: ignore[union-attr]
            assert node is not None, command


def test_calls_are_recorded_with_their_command_only_while_recording(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    cw = Aws(region="us-east-1").client("cloudwatch")  # signing name "monitoring", IAM prefix "cloudwatch"
    with Stubber(cw) as stub:
        for _ in range(3):
            stub.add_response("describe_alarms", {"MetricAlarms": []})
        cw.describe_alarms()  # not recording
        monkeypatch.setenv(callrecord.ENV_VAR, str(tmp_path))
        cw.describe_alarms()  # recording, but no command runs
        callrecord.set_command("status")
        try:
            cw.describe_alarms()
        finally:
            callrecord.set_command(None)
    assert callrecord.read(tmp_path) == {("status", "cloudwatch:DescribeAlarms")}
    assert len((tmp_path / next(p.name for p in tmp_path.iterdir())).read_text().splitlines()) == 1


def test_policy_groups_actions_by_resource_and_condition() -> None:
    from ops.permissions import need

    doc = policy([need("rds:DescribeDBClusters", on="rds-cluster"), need("rds:FailoverDBCluster", on="rds-cluster"),
                  need("rds:DeleteDBCluster", on="restored-cluster", when="drill-tagged"),
                  need("sts:GetCallerIdentity", on="*")], "us-east-1", "123456789012", "locks")
    assert [(s["Sid"], s["Action"]) for s in doc["Statement"]] == [
        ("RdsCluster", ["rds:DescribeDBClusters", "rds:FailoverDBCluster"]),
        ("RestoredClusterDrillTagged", ["rds:DeleteDBCluster"]),
        ("NoResourceLevelPermissions", ["sts:GetCallerIdentity"])]
    with pytest.raises(ValueError):
        need("rds:DescribeDBClusters", on="rds-clusters")


def test_the_readme_shows_the_runner_policy_file() -> None:
    readme = (REPO / "README.md").read_text()
    block = readme.split("```json\n", 1)[1].split("```", 1)[0]
    assert json.loads(block) == json.loads(RUNNER_POLICY.read_text())


SERVICES = ("rds", "dynamodb", "backup", "ce", "budgets", "cloudwatch", "secretsmanager", "sts", "application-autoscaling", "s3", "glue", "athena",
            "pricing")


def aws_method_names() -> dict[str, set[str]]:
    """boto3 method name -> the calls ("rds:DescribeDBClusters") of the services dbops calls that have it."""
    import botocore.session
    from botocore import xform_name

    session = botocore.session.get_session()
    names: dict[str, set[str]] = {}
    for service in SERVICES:
        model = session.get_service_model(service)
        prefix = callrecord.IAM_PREFIX.get(model.signing_name, model.signing_name)
        for op in model.operation_names:
            names.setdefault(xform_name(op), set()).add(f"{prefix}:{op}")
    return names


def test_the_static_scan_finds_client_methods_and_paginated_operations() -> None:
    """Negative control of the scan below: the forms the code calls AWS in are found, other calls are not."""
    code = ('rds.copy_db_cluster_snapshot(X=1)\npaged(b, "list_backup_vaults", "BackupVaultList")\n'
            'client.get_paginator("describe_db_proxies")\njournal.event("query", "text")\n'
            'socket.create_connection(("127.0.0.1", 1))\nglue.create_connection(ConnectionInput={})\n')
    assert operations_called_in(code, aws_method_names()) == {"copy_db_cluster_snapshot", "list_backup_vaults",
                                                              "describe_db_proxies", "create_connection"}
    assert operations_called_in('socket.create_connection(("127.0.0.1", 1))', aws_method_names()) == set()


def _not_aws(receiver: object) -> bool:
    """A module of the standard library whose functions share a name with an AWS operation
    (socket.create_connection, Glue's CreateConnection)."""
    import ast

    return isinstance(receiver, ast.Name) and receiver.id in ("socket",)


def operations_called_in(source: str, names: dict[str, set[str]]) -> set[str]:
    """The AWS operations a module's code names: `x.describe_db_clusters(`, `get_paginator("list_tables")`,
    `paged(client, "list_backup_jobs", ...)`, by botocore's method names of the services dbops calls."""
    import ast

    found: set[str] = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Call):
            if isinstance(node.func, ast.Attribute) and node.func.attr in names and not _not_aws(node.func.value):
                found.add(node.func.attr)
            called = node.func.attr if isinstance(node.func, ast.Attribute) else getattr(node.func, "id", "")
            if called in ("get_paginator", "paged"):
                for arg in node.args:
                    if isinstance(arg, ast.Constant) and isinstance(arg.value, str) and arg.value in names:
                        found.add(arg.value)
    return found


def test_every_aws_operation_the_code_names_is_declared() -> None:
    """A static guard beside the recorded calls: an operation on a path the lab runs do not take (a janitor's
    delete, a proxy's endpoints) is declared too. Methods are matched by name, so a declared call of any
    service with that method name counts."""
    import ops
    from ops.permissions import REGISTRY

    command_calls()  # imports every declaring module
    names = aws_method_names()
    declared = {n.call for calls in REGISTRY.values() for n in calls.needs}
    root = Path(ops.__file__).parent
    missing = []
    for path in sorted(root.rglob("*.py")):
        if "lab" in path.relative_to(root).parts[:1] or path.name == "lab.py":
            continue  # the embedded lab's own calls never run on AWS
        for method in operations_called_in(path.read_text(), names):
            if not names[method] & declared:
                missing.append(f"{path.relative_to(root)}: {method} ({', '.join(sorted(names[method]))})")
    assert missing == [], "operations called but declared nowhere:\n" + "\n".join(missing)


def test_assume_role_is_granted_on_the_fleet_s_roles_only() -> None:
    """A fleet env's policy grants sts:AssumeRole on the roles it lists; an env that lists none gets no such grant."""
    from ops import assume_role

    roles = ("arn:aws:iam::222222222222:role/dbops-read", "arn:aws:iam::333333333333:role/dbops-read")
    doc = policy(assume_role.CALLS.needs, "us-east-1", "111122223333", "leases", roles)
    assert [s["Resource"] for s in doc["Statement"] if "sts:AssumeRole" in s["Action"]] == [list(roles)]
    assert policy(assume_role.CALLS.needs, "us-east-1", "111122223333", "leases")["Statement"] == []
