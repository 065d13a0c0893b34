"""Shared fixtures: real parts, started once per session.

In CI (CI=true) a missing PostgreSQL, provider mirror or emulator is a failure, never a skip.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import pytest
from click.testing import CliRunner

from ops import config as config_mod
from ops.cli import cli
from ops.lab import lab as lab_core
from ops.lab.pg import pgbin
from ops.terraform import mirror

REPO = Path(__file__).resolve().parents[1]
IN_CI = os.environ.get("CI", "").lower() == "true"
# A price catalog a user refreshed into their cache must not change what the tests price.
os.environ["XDG_CACHE_HOME"] = tempfile.mkdtemp(prefix="dbops-test-cache-")


def require(condition: bool, reason: str) -> None:
    if condition:
        return
    if IN_CI:
        pytest.fail(f"required in CI: {reason}")
    pytest.skip(reason)


def traversable_tmpdir(prefix: str) -> Path:
    """A temp dir the postgres OS user can enter (pytest's tmp_path is 0700 under root)."""
    path = Path(tempfile.mkdtemp(prefix=prefix))
    path.chmod(0o755)
    return path


def write_config(root: Path, extra: str = "", lab_dir: Path | None = None, endpoint: str = "embedded",
                 account_id: str | None = None) -> Path:
    text = f"""
[defaults]
env = "lab"
report_dir = "{root / 'reports'}"

[policy]
rto_seconds = 60
max_lost_writes = 0

[envs.lab]
region = "us-east-1"
endpoint = "{endpoint}"
terraform_dir = "{REPO / 'terraform/envs/lab'}"
protected = false
{f'account_id = "{account_id}"' if account_id else ""}

[envs.prod]
region = "us-east-1"
terraform_dir = "{REPO / 'terraform/envs/prod'}"
protected = true
{extra}
"""
    path = root / "dbops.toml"
    path.write_text(text)
    return path


class Cli:
    """Runs dbops in-process against one config, as a user would from a shell."""

    def __init__(self, config_path: Path, lab_dir: Path) -> None:
        self.config_path = config_path
        self.lab_dir = lab_dir

    def env(self, **extra: str) -> dict[str, str]:
        return {"DBOPS_CONFIG": str(self.config_path), "DBOPS_LAB_DIR": str(self.lab_dir), "AWS_ENDPOINT_URL": "", **extra}

    def __call__(self, *args: str, **env: str):  # type: ignore[no-untyped-def]
        runner = CliRunner()
        environ = self.env(**env)
        saved = os.environ.get("AWS_ENDPOINT_URL")
        os.environ.pop("AWS_ENDPOINT_URL", None)
        try:
            return runner.invoke(cli, list(args), env={k: v for k, v in environ.items() if v != ""}, catch_exceptions=False)
        finally:
            if saved is not None:
                os.environ["AWS_ENDPOINT_URL"] = saved

    @property
    def config(self) -> config_mod.Config:
        return config_mod.load(self.config_path, environ={"DBOPS_LAB_DIR": str(self.lab_dir)})


@pytest.fixture(autouse=True)
def signal_handlers_restored() -> Iterator[None]:
    """A stopped drill keeps its interrupt handler installed (ops.proc.interruptible), as the dbops process it is
    meant for exits soon after; in this process the next test would inherit it. Each test gets pytest's back."""
    import signal
    import threading

    if threading.current_thread() is not threading.main_thread():
        yield
        return
    saved = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM)}
    yield
    for s, handler in saved.items():
        if handler is not None:
            signal.signal(s, handler)


@pytest.fixture(scope="session")
def pg_available() -> None:
    require(pgbin.available(), "PostgreSQL server binaries are not installed")


@pytest.fixture(scope="session")
def provider_mirror() -> None:
    require(mirror.installed(mirror.find_root(REPO)), "the Terraform provider mirror is not installed (make install)")


@pytest.fixture(scope="session")
def lab(pg_available) -> Iterator[Cli]:  # type: ignore[no-untyped-def]
    """One running lab (emulator + lab-pg, async) for the whole session."""
    root = traversable_tmpdir("dbops-lab-")
    lab_dir = root / ".lab"
    cli_ = Cli(write_config(root), lab_dir)
    lab_core.up(cli_.config, lab_core.LabOptions(), lambda _: None)
    yield cli_
    lab_core.down(cli_.config, lambda _: None)
    shutil.rmtree(root, ignore_errors=True)


@pytest.fixture(scope="module")
def lease_table() -> Iterator[object]:
    """A DynamoDB client on an in-process emulator with an empty `leases` table.

    The emulator's backends live in the process, not in the server: a `leases` table another module of this
    worker created is still there, so it is dropped first.
    """
    import boto3
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    ddb = boto3.client("dynamodb", endpoint_url=f"http://{host}:{port}", region_name="us-east-1",
                       aws_access_key_id="testing", aws_secret_access_key="testing")
    if "leases" in ddb.list_tables()["TableNames"]:
        ddb.delete_table(TableName="leases")
    ddb.create_table(TableName="leases", KeySchema=[{"AttributeName": "LockID", "KeyType": "HASH"}],
                     AttributeDefinitions=[{"AttributeName": "LockID", "AttributeType": "S"}], BillingMode="PAY_PER_REQUEST")
    yield ddb
    server.stop()


@pytest.fixture
def fresh_root() -> Iterator[Path]:
    root = traversable_tmpdir("dbops-t-")
    yield root
    shutil.rmtree(root, ignore_errors=True)


@pytest.fixture
def cli_at(fresh_root: Path) -> Cli:
    """A dbops CLI on a fresh config and an empty lab dir (nothing running)."""
    return Cli(write_config(fresh_root), fresh_root / ".lab")


# The lab env applied once for the session with its defaults (a Terraform apply takes about 70 s):
# what Terraform built is tested once, Cost Explorer included; the last test destroys it.
SCALE_READERS = 3  # the scaled-out lab (tests/terraform/test_lab_proxy.py): three readers and the RDS Proxy
SCALE_VARS = ("--var", f"aurora_reader_count={SCALE_READERS}", "--var", "rds_proxy_enabled=true")


@dataclass
class AppliedLab:
    cli: Cli
    aws: "object"
    outputs: list[str]


def repo_lab_budget() -> float:
    return config_mod.load(REPO / "dbops.toml", environ={}).for_env("lab").policy.monthly_budget_usd


def repo_lab_schedule() -> str:
    """The repository's [envs.lab.schedule] as TOML: the applied lab runs by the same window."""
    window = config_mod.load(REPO / "dbops.toml", environ={}).env("lab").schedule
    if window is None:
        return ""
    days = ", ".join(f'"{d}"' for d in window.days)
    return f'\n[envs.lab.schedule]\ndays = [{days}]\nstart = "{window.start}"\nhours = {window.hours}\n'


@pytest.fixture(scope="session")
def applied_lab(provider_mirror, pg_available) -> Iterator[AppliedLab]:  # type: ignore[no-untyped-def]
    from ops.aws import Aws

    root = traversable_tmpdir("dbops-apply-")
    cli = Cli(write_config(root, extra=f"\n[envs.lab.policy]\nmonthly_budget_usd = {repo_lab_budget():g}\n{repo_lab_schedule()}"),
              root / ".lab")
    lab_core.up(cli.config, lab_core.LabOptions(), lambda _: None)
    outputs: list[str] = []
    try:
        for verb in ("plan", "apply"):
            result = cli("tf", verb, "--env", "lab")
            assert result.exit_code == 0, result.output
            outputs.append(result.output)
        cfg = cli.config
        yield AppliedLab(cli, Aws.for_env(cfg, cfg.env("lab")), outputs)
    finally:
        lab_core.down(cli.config, lambda _: None)
        shutil.rmtree(root, ignore_errors=True)


# What one pytest-xdist worker runs as a whole: a file, so its module fixtures (labs, applies) start once; and the
# applied lab's two files together, so the session's apply is made once and its destroying test (runs_last) runs
# after every other test of it. (Tests one by one spread a file over every worker: each worker then tears a file's
# lab down whenever its next test is another file's, and starts it again.)
SHARED_FIXTURE_UNITS = {
    "tests/terraform/test_lab_apply.py": "applied-lab",
    "tests/integration/test_lab_cost_estate.py": "applied-lab",
}


def work_unit(nodeid: str) -> str:
    path = nodeid.split("::")[0]
    return SHARED_FIXTURE_UNITS.get(path, path)


def pytest_xdist_make_scheduler(config, log):  # type: ignore[no-untyped-def]
    """Work units chosen by nodeid. (`--dist loadgroup`'s xdist_group marks rename a test's nodeid, which
    pytest 9 no longer lets a plugin do: they group nothing, and each test of a file could start its labs again.)"""
    from xdist.scheduler import LoadScopeScheduling

    class ByWorkUnit(LoadScopeScheduling):
        def _split_scope(self, nodeid: str) -> str:
            return work_unit(nodeid)

    return ByWorkUnit(config, log)


def pytest_collection_modifyitems(items: list) -> None:  # type: ignore[type-arg]
    """Tests marked runs_last (destroying the shared applied lab) run after every other test of their unit."""
    items.sort(key=lambda item: item.get_closest_marker("runs_last") is not None)
    for item in items:
        if "applied_lab" in item.fixturenames and work_unit(item.nodeid) != "applied-lab":
            raise pytest.UsageError(f"{item.nodeid} uses applied_lab: map its file to 'applied-lab' in SHARED_FIXTURE_UNITS (tests/conftest.py)")
