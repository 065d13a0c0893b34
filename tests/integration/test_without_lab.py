"""With the lab deleted, the tool still works on AWS: a copy of ops without ops/lab, run against a plain moto
server this test starts (not the lab's emulator), with credentials from the standard chain."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
from pathlib import Path
from typing import Iterator

import boto3
import pytest

ROOT = Path(__file__).resolve().parents[2]
REGION = "us-east-1"
MOTO_ACCOUNT = "123456789012"  # the account moto answers STS GetCallerIdentity with
CREDENTIALS = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing"}

# The work tree's editable install answers for any ops.* the copy lacks: it is taken out, so that the copy,
# first on the path, is the only ops there is.
WITHOUT_WORK_TREE = """
import sys
sys.meta_path = [f for f in sys.meta_path if "__editable__" not in getattr(f, "__module__", "")]
"""

IMPORT_ALL = """
import importlib, json, pkgutil, sys
import ops
modules = [m.name for m in pkgutil.walk_packages(ops.__path__, "ops.") if not m.name.endswith("__main__")]
for name in modules:
    importlib.import_module(name)
from ops.plugins import seams
try:
    import ops.lab
    lab = "importable"
except ModuleNotFoundError:
    lab = "absent"
print(json.dumps({"file": ops.__file__, "modules": modules, "lab": lab, "kinds": sorted(seams().kinds),
                  "lab_loaded": any(m == "ops.lab" or m.startswith("ops.lab.") for m in sys.modules)}))
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def endpoint() -> Iterator[str]:
    from moto.server import ThreadedMotoServer

    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    yield f"http://127.0.0.1:{port}"
    server.stop()


@pytest.fixture(scope="module")
def without_lab(tmp_path_factory: pytest.TempPathFactory, endpoint: str) -> Path:
    """A copy of the package with ops/lab deleted, and a config with an AWS env on the moto server."""
    root = tmp_path_factory.mktemp("nolab")
    shutil.copytree(ROOT / "ops", root / "ops", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.rmtree(root / "ops" / "lab")
    (root / "dbops.toml").write_text(
        '[defaults]\nenv = "aws"\nreport_dir = "reports"\n\n'
        f'[envs.aws]\nregion = "{REGION}"\nendpoint = "{endpoint}"\nprotected = false\naccount_id = "{MOTO_ACCOUNT}"\n\n'
        f'[envs.lab]\nregion = "{REGION}"\nendpoint = "embedded"\nprotected = false\n')
    return root


def run(root: Path, code: str, *args: str, environ: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    # The copy comes first on the path; no AWS variable of the shell, and the standard chain's keys.
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "DBOPS_"))}
    env.update(CREDENTIALS, PYTHONPATH=str(root), AWS_CONFIG_FILE=os.devnull, AWS_SHARED_CREDENTIALS_FILE=os.devnull)
    env.update(environ or {})
    return subprocess.run([sys.executable, "-c", WITHOUT_WORK_TREE + code, *args], cwd=root, env=env, capture_output=True, text=True, timeout=120)


def dbops(root: Path, *args: str, environ: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    return run(root, "from ops.cli import main; sys.argv[0] = 'dbops'; main()", *args, environ=environ)


def test_every_module_but_the_lab_imports_without_it(without_lab: Path) -> None:
    proc = run(without_lab, IMPORT_ALL)
    assert proc.returncode == 0, proc.stderr
    found = json.loads(proc.stdout)
    assert found["file"].startswith(str(without_lab))  # the copy, not the work tree
    assert found["lab"] == "absent" and not found["lab_loaded"]
    assert found["kinds"] == []  # localpg is the lab's
    every = {".".join(p.relative_to(ROOT).with_suffix("").parts).removesuffix(".__init__") for p in (ROOT / "ops").rglob("*.py")}
    outside_lab = {m for m in every if not m.startswith("ops.lab") and m not in ("ops", "ops.__main__")}
    assert outside_lab - set(found["modules"]) == set()  # every drill, check, target kind and command imported
    assert {"ops.drills.failover", "ops.checks.verify", "ops.targets.aurora", "ops.targets.dynamodb"} <= outside_lab


def test_help_works_without_the_lab(without_lab: Path) -> None:
    proc = dbops(without_lab, "--help")
    assert proc.returncode == 0, proc.stderr
    assert "backup" in proc.stdout and "drill" in proc.stdout


def test_a_backup_check_of_a_dynamodb_table_runs_against_aws_without_the_lab(without_lab: Path, endpoint: str) -> None:
    ddb = boto3.client("dynamodb", region_name=REGION, endpoint_url=endpoint, aws_access_key_id="testing",
                       aws_secret_access_key="testing")
    for name in ("nolab-pitr", "nolab-plain"):
        ddb.create_table(TableName=name, BillingMode="PAY_PER_REQUEST", KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
                         AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}])
    ddb.update_continuous_backups(TableName="nolab-pitr", PointInTimeRecoverySpecification={"PointInTimeRecoveryEnabled": True})
    proc = dbops(without_lab, "backup", "verify", "dynamodb:nolab-pitr", "dynamodb:nolab-plain", "--json")
    assert proc.returncode in (1, 4), proc.stderr  # the plain table has no PITR: a failed finding, not a crash
    report = json.loads(proc.stdout)
    status = {c["id"]: c["status"] for c in report["checks"]}
    # Read from the moto server: the one table has point-in-time recovery, the other (the negative control) not.
    assert status["BKP-DDB-PITR[dynamodb:nolab-pitr]"] == "pass"
    assert status["BKP-DDB-PITR[dynamodb:nolab-plain]"] == "fail"


def test_the_embedded_env_and_localpg_are_refused_in_one_line_without_the_lab(without_lab: Path) -> None:
    proc = dbops(without_lab, "backup", "verify", "dynamodb:orders", "--env", "lab")
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines() == [
        "dbops: error: env 'lab' uses the embedded lab, which this installation does not have (no ops.lab)"], proc.stderr
    proc = dbops(without_lab, "drill", "failover", "localpg:lab-pg")
    assert proc.returncode == 2
    assert "unknown target kind 'localpg'" in proc.stderr and "Traceback" not in proc.stderr


OUTPUTS = {
    "dbops_targets": ["aurora:nolab-aurora", "dynamodb:nolab-orders"],
    "dbops_target_details": {
        "aurora:nolab-aurora": {"arn": f"arn:aws:rds:{REGION}:{MOTO_ACCOUNT}:cluster:nolab-aurora", "port": "5432",
                                "secret_arn": f"arn:aws:secretsmanager:{REGION}:{MOTO_ACCOUNT}:secret:nolab-master-AbCdEf"},
        "dynamodb:nolab-orders": {"arn": f"arn:aws:dynamodb:{REGION}:{MOTO_ACCOUNT}:table/nolab-orders", "port": ""},
    },
}


def test_the_targets_come_from_dbops_tf_outputs_where_terraform_cannot_run(without_lab: Path) -> None:
    """As in the runner's container: no terraform_dir, no provider mirror (the copy has no .tools)."""
    assert not (without_lab / ".tools").exists()
    control = dbops(without_lab, "estate", "show", "--env", "aws", "--json")
    assert control.returncode == 2 and "'envs.aws.terraform_dir' is not set" in control.stderr, control.stderr
    proc = dbops(without_lab, "estate", "show", "--env", "aws", "--json",
                 environ={"DBOPS_TF_OUTPUTS": json.dumps(OUTPUTS), "DBOPS_TF_OUTPUTS_ENV": "aws"})
    assert proc.returncode == 0, proc.stderr
    targets = {t["id"]: t for t in json.loads(proc.stdout)["targets"]}
    assert set(targets) == {"aurora:nolab-aurora", "dynamodb:nolab-orders"}
    assert targets["aurora:nolab-aurora"]["secret_arn"].endswith(":secret:nolab-master-AbCdEf")
    assert "port" not in targets["dynamodb:nolab-orders"]  # an empty detail is not a value
    said = [line for line in proc.stderr.splitlines() if "DBOPS_TF_OUTPUTS" in line]
    assert said == ["terraform outputs of env 'aws': 2 read from DBOPS_TF_OUTPUTS, Terraform not run"], proc.stderr


def test_schedule_apply_reads_its_clusters_from_dbops_tf_outputs(without_lab: Path, endpoint: str) -> None:
    rds = boto3.client("rds", region_name=REGION, endpoint_url=endpoint, aws_access_key_id="testing",
                       aws_secret_access_key="testing")
    rds.create_db_cluster(DBClusterIdentifier="nolab-aurora", Engine="aurora-postgresql", MasterUsername="dbops",
                          MasterUserPassword="not-a-secret-1")
    config = without_lab / "scheduled.toml"
    config.write_text(
        '[defaults]\nenv = "aws"\nreport_dir = "reports"\n\n'
        f'[envs.aws]\nregion = "{REGION}"\nendpoint = "{endpoint}"\nprotected = false\naccount_id = "{MOTO_ACCOUNT}"\n\n'
        '[envs.aws.schedule]\ndays = ["SUN"]\nstart = "01:00"\nhours = 1\n')
    environ = {"DBOPS_CONFIG": str(config), "DBOPS_TF_OUTPUTS": json.dumps(OUTPUTS)}
    proc = dbops(without_lab, "schedule", "apply", "--env", "aws", "--json", environ=environ)
    report = json.loads(proc.stdout)
    assert "SCHED[aurora:nolab-aurora]" in {c["id"] for c in report["checks"]}, (proc.stdout, proc.stderr)
    rds.delete_db_cluster(DBClusterIdentifier="nolab-aurora", SkipFinalSnapshot=True)


SECRET_LOOKUP = """
from ops.config import load
from ops.errors import DbopsError
from ops.targets import parse_target
from ops.targets.registry import secret_from_outputs
cfg = load()
try:
    print(secret_from_outputs(cfg, cfg.env("aws"), parse_target("aurora:nolab-aurora")))
except DbopsError as exc:
    print(f"{type(exc).__name__}: {exc}")
"""


def test_a_drill_finds_the_master_secret_in_dbops_tf_outputs_and_never_reads_around_bad_ones(without_lab: Path) -> None:
    found = run(without_lab, SECRET_LOOKUP, environ={"DBOPS_TF_OUTPUTS": json.dumps(OUTPUTS)})
    assert found.returncode == 0, found.stderr
    assert found.stdout.strip() == OUTPUTS["dbops_target_details"]["aurora:nolab-aurora"]["secret_arn"]
    # the control: with no outputs and no Terraform, no secret is found (the RDS-managed secret is tried next)
    control = run(without_lab, SECRET_LOOKUP)
    assert control.stdout.strip() == "None", control.stderr
    bad = run(without_lab, SECRET_LOOKUP, environ={"DBOPS_TF_OUTPUTS": "{not json"})
    assert bad.stdout.startswith("OutputsInvalid: DBOPS_TF_OUTPUTS is not JSON"), (bad.stdout, bad.stderr)


def test_dbops_tf_outputs_that_are_not_an_object_of_this_env_exit_2_in_one_line(without_lab: Path) -> None:
    for environ, said in (({"DBOPS_TF_OUTPUTS": "{not json"}, "DBOPS_TF_OUTPUTS is not JSON"),
                          ({"DBOPS_TF_OUTPUTS": "[1, 2]"}, "must be a JSON object of output values by name, not list"),
                          ({"DBOPS_TF_OUTPUTS": json.dumps(OUTPUTS), "DBOPS_TF_OUTPUTS_ENV": "prod"},
                           "holds the outputs of env 'prod' (DBOPS_TF_OUTPUTS_ENV), not of env 'aws'")):
        proc = dbops(without_lab, "estate", "show", "--env", "aws", environ=environ)
        assert proc.returncode == 2, proc.stderr
        (line,) = proc.stderr.strip().splitlines()
        assert said in line and "Traceback" not in proc.stderr, proc.stderr


def test_with_the_lab_present_it_registers_localpg_and_the_embedded_endpoint() -> None:
    """The control: what the copy lacks is what deleting ops/lab removed."""
    from ops.plugins import seams
    from ops.targets import parse_target

    assert sorted(seams().kinds) == ["localpg"] and seams().embedded_endpoint is not None
    assert str(parse_target("localpg:lab-pg")) == "localpg:lab-pg"
