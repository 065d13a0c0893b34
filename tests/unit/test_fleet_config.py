"""A fleet env's regions and accounts in dbops.toml, target names that carry them, and the bounded reads."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest

from ops import config
from ops.aws import bounded_map
from ops.errors import ConfigError, UsageError
from ops.scopes import Scope, scope_of, scopes
from ops.targets import TargetRef, parse_target

ROLE = "arn:aws:iam::222222222222:role/dbops-read"
BASE = '[envs.prod]\nregion = "us-east-1"\naccount_id = "111111111111"\n'


def load_text(tmp_path: Path, text: str) -> config.Config:
    path = tmp_path / "dbops.toml"
    path.write_text(text)
    return config.load(path, environ={})


def test_regions_and_accounts_are_read_and_scoped_home_first(tmp_path: Path) -> None:
    text = BASE + f'regions = ["us-east-1", "eu-west-1"]\n[[envs.prod.accounts]]\nid = "222222222222"\nrole_arn = "{ROLE}"\n'
    env = load_text(tmp_path, text).env("prod")
    assert env.all_regions == ("us-east-1", "eu-west-1") and env.is_fleet
    assert scopes(env) == [Scope("111111111111", "us-east-1"), Scope("111111111111", "eu-west-1"),
                           Scope("222222222222", "us-east-1", ROLE), Scope("222222222222", "eu-west-1", ROLE)]
    assert scope_of(env, "222222222222", "eu-west-1").role_arn == ROLE
    assert scope_of(env, None, None) == Scope("111111111111", "us-east-1")
    with pytest.raises(UsageError, match="not a region of an account env 'prod' reads"):
        scope_of(env, "222222222222", "ap-southeast-2")
    with pytest.raises(UsageError):
        scope_of(env, "999999999999", "us-east-1")


def test_an_env_without_regions_or_accounts_is_not_a_fleet(tmp_path: Path) -> None:
    env = load_text(tmp_path, BASE).env("prod")
    assert not env.is_fleet and env.all_regions == ("us-east-1",) and scopes(env) == [Scope("111111111111", "us-east-1")]


@pytest.mark.parametrize("extra, said", [
    ('regions = ["us-east-1", "mars-1"]\n', "envs.prod.regions"),
    ('regions = []\n', "envs.prod.regions"),
    ('regions = ["eu-west-1", "eu-west-1"]\n', "envs.prod.regions"),
    (f'[[envs.prod.accounts]]\nid = "333333333333"\nrole_arn = "{ROLE}"\n', "is a role of account 222222222222, not of account 333333333333"),
    ('[[envs.prod.accounts]]\nid = "222222222222"\n', "envs.prod.accounts[0].role_arn' is required"),
    ('[[envs.prod.accounts]]\nid = "222222222222"\nrole_arn = "dbops-read"\n', "envs.prod.accounts[0].role_arn' must be an IAM role ARN"),
    ('[[envs.prod.accounts]]\nid = "111111111111"\nrole_arn = "arn:aws:iam::111111111111:role/x"\n', "listed twice"),
    (f'[[envs.prod.accounts]]\nid = "222222222222"\nrole_arn = "{ROLE}"\nregion = "x"\n', "unknown key 'envs.prod.accounts[0].region'"),
])
def test_bad_fleet_config_names_the_key(tmp_path: Path, extra: str, said: str) -> None:
    with pytest.raises(ConfigError, match=said.replace("[", r"\[").replace("]", r"\]")):
        load_text(tmp_path, BASE + extra)


def test_accounts_need_the_envs_own_account(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="needs 'envs.prod.account_id'"):
        load_text(tmp_path, f'[envs.prod]\n[[envs.prod.accounts]]\nid = "222222222222"\nrole_arn = "{ROLE}"\n')


def test_target_names_carry_account_and_region() -> None:
    ref = parse_target("dynamodb:orders@222222222222/eu-west-1")
    assert ref == TargetRef("dynamodb", "orders", "222222222222", "eu-west-1")
    assert str(ref) == "dynamodb:orders@222222222222/eu-west-1"
    assert str(parse_target("aurora:db")) == "aurora:db"
    for bad in ("dynamodb:orders@2222/eu-west-1", "dynamodb:orders@222222222222", "dynamodb:@222222222222/eu-west-1"):
        with pytest.raises(UsageError, match="KIND:NAME@ACCOUNT/REGION"):
            parse_target(bad)


def test_bounded_map_keeps_the_items_order_and_never_runs_more_than_asked() -> None:
    running, peak, lock = 0, 0, threading.Lock()

    def slow(i: int) -> int:
        nonlocal running, peak
        with lock:
            running += 1
            peak = max(peak, running)
        time.sleep(0.05 * (i % 3))  # later items end first
        with lock:
            running -= 1
        return i * i

    heard: list[str] = []
    assert bounded_map(slow, range(24), 4, heard.append, every_s=0.05) == [i * i for i in range(24)]
    assert peak == 4
    assert heard and all("/24 target(s)" in h and "4 at a time" in h for h in heard)
    peak = 0
    assert bounded_map(slow, range(5), 1) == [i * i for i in range(5)] and peak == 1


def test_bounded_map_raises_what_an_item_raised() -> None:
    def boom(i: int) -> int:
        if i == 3:
            raise ValueError("item 3")
        return i

    with pytest.raises(ValueError, match="item 3"):
        bounded_map(boom, range(10), 4)


@pytest.mark.parametrize("command", [("status",), ("backup", "verify")])
@pytest.mark.parametrize("value", ["0", "257", "many"])
def test_a_bad_concurrency_is_one_line_exit_2(tmp_path: Path, command: tuple[str, ...], value: str) -> None:
    from click.testing import CliRunner

    from ops.cli import cli

    (tmp_path / "dbops.toml").write_text(BASE)
    result = CliRunner().invoke(cli, [*command, "--env", "prod", "--concurrency", value],
                                env={"DBOPS_CONFIG": str(tmp_path / "dbops.toml")})
    assert result.exit_code == 2
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and "--concurrency" in lines[0] and "Traceback" not in result.output


def test_an_env_without_account_id_reads_its_regions_in_whatever_account_it_is(tmp_path: Path) -> None:
    env = load_text(tmp_path, '[envs.stage]\nregion = "us-east-1"\nregions = ["eu-west-1"]\n').env("stage")
    assert scopes(env) == [Scope(None, "us-east-1"), Scope(None, "eu-west-1")]
    assert scope_of(env, "444444444444", "eu-west-1") == Scope(None, "eu-west-1")  # its targets carry the account read
    with pytest.raises(UsageError):
        scope_of(env, "444444444444", "ap-southeast-2")


def test_only_the_fleet_reads_slow_their_own_rate_after_a_throttle() -> None:
    """Drills keep botocore's standard mode (their load must meet the service's throttles); backup verify and
    status read inside adaptive_retries, and the mode is the standard one again after."""
    from ops.aws import Aws, adaptive_retries

    aws = Aws(region="us-east-1", endpoint_url="http://127.0.0.1:1")
    assert aws.client("dynamodb").meta.config.retries["mode"] == "standard"
    with adaptive_retries():
        assert aws.client("dynamodb").meta.config.retries["mode"] == "adaptive"
    assert aws.client("dynamodb").meta.config.retries["mode"] == "standard"
