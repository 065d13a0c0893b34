"""A command acts on the region and endpoint its env names, whatever the shell says, or refuses."""

from __future__ import annotations

from pathlib import Path

import pytest

from ops.aws import Aws, refuse_disagreeing_variables
from ops.config import EnvConfig
from ops.errors import ConfigError
from tests.conftest import Cli

PROD = EnvConfig(name="prod", region="us-east-1", protected=True)
LAB_URL = "http://127.0.0.1:4566"


@pytest.mark.parametrize("environ, words", [
    ({"AWS_REGION": "eu-west-1"}, "AWS_REGION=eu-west-1 disagrees with env 'prod' (region us-east-1)"),
    ({"AWS_DEFAULT_REGION": "eu-west-1"}, "AWS_DEFAULT_REGION=eu-west-1 disagrees with env 'prod'"),
    ({"AWS_ENDPOINT_URL": LAB_URL}, f"AWS_ENDPOINT_URL={LAB_URL} disagrees with env 'prod' (AWS's own endpoints in us-east-1)"),
    ({"AWS_ENDPOINT_URL_RDS": LAB_URL}, "AWS_ENDPOINT_URL_RDS="),
])
def test_a_shell_variable_naming_another_region_or_endpoint_is_refused(environ: dict[str, str], words: str) -> None:
    with pytest.raises(ConfigError) as raised:
        refuse_disagreeing_variables(PROD, None, environ)
    assert words in str(raised.value)


def test_variables_that_agree_or_are_empty_are_accepted() -> None:
    refuse_disagreeing_variables(PROD, None, {"AWS_REGION": "us-east-1", "AWS_DEFAULT_REGION": "", "AWS_ENDPOINT_URL": ""})
    lab = EnvConfig(name="lab", region="us-east-1", endpoint=LAB_URL)
    refuse_disagreeing_variables(lab, LAB_URL, {"AWS_ENDPOINT_URL": LAB_URL + "/"})


def test_the_envs_region_is_used_even_when_the_shell_names_the_same_one(monkeypatch: pytest.MonkeyPatch) -> None:
    from ops.config import Config

    monkeypatch.setenv("AWS_REGION", "eu-west-1")
    cfg = Config(root=Path("."), path=None, default_env="prod", report_dir=Path("r"), lab_dir=Path("l"), envs={"prod": PROD})
    with pytest.raises(ConfigError):
        Aws.for_env(cfg, PROD)
    monkeypatch.setenv("AWS_REGION", "us-east-1")
    assert Aws.for_env(cfg, PROD).region == "us-east-1"


def test_an_endpoint_in_the_profiles_config_file_does_not_redirect_a_client(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import boto3

    config = tmp_path / "config"
    # A closed loopback port: no call is made, only the resolved endpoint is read.
    config.write_text("[profile ops]\nregion = us-east-1\nendpoint_url = http://127.0.0.1:9\n")
    monkeypatch.setenv("AWS_CONFIG_FILE", str(config))
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "x")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "x")
    assert Aws(region="us-east-1", profile="ops").client("dynamodb").meta.endpoint_url == "https://dynamodb.us-east-1.amazonaws.com"
    # Negative control: a plain boto3 client follows the file.
    assert boto3.Session(profile_name="ops").client("dynamodb").meta.endpoint_url == "http://127.0.0.1:9"


def test_a_failover_on_prod_with_another_region_in_the_shell_is_one_line_exit_2(cli_at: Cli) -> None:
    result = cli_at("drill", "failover", "aurora:prod-aurora", "--env", "prod", "--confirm", "prod:aurora:prod-aurora",
                    AWS_REGION="eu-west-1")
    assert result.exit_code == 2, result.output
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert len(lines) == 1 and "AWS_REGION=eu-west-1 disagrees with env 'prod'" in lines[0], result.output
    assert "Traceback" not in result.output


def test_terraform_acts_with_the_envs_region_and_profile_whatever_the_shell_holds(monkeypatch: pytest.MonkeyPatch) -> None:
    import os

    from ops.terraform.engine import _patched_environ
    from ops.terraform.envs import aws_environ

    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIA-OTHER-ACCOUNT")
    monkeypatch.setenv("AWS_REGION", "eu-west-1")
    env = EnvConfig(name="prod", region="us-east-1", profile="ops", account_id="123456789012")
    with _patched_environ(aws_environ(env)):
        assert (os.environ["AWS_REGION"], os.environ["AWS_PROFILE"]) == ("us-east-1", "ops")
        assert "AWS_ACCESS_KEY_ID" not in os.environ, "static keys would win over the profile in the provider"
    assert os.environ["AWS_ACCESS_KEY_ID"] == "AKIA-OTHER-ACCOUNT" and os.environ["AWS_REGION"] == "eu-west-1"
    # Without a profile, the credential chain is the shell's; only the region is the env's.
    assert aws_environ(EnvConfig(name="prod", region="us-east-1")) == {"AWS_REGION": "us-east-1", "AWS_DEFAULT_REGION": "us-east-1"}


@pytest.mark.parametrize("var", ["region=eu-west-1", "account_id=210987654321", "aws_endpoint=http://127.0.0.1:9"])
def test_a_var_that_would_override_what_the_env_pins_is_refused(cli_at: Cli, var: str) -> None:
    result = cli_at("tf", "plan", "--env", "prod", "--var", var)
    assert result.exit_code == 2 and f"--var {var.split('=')[0]} is the env's own" in result.output, result.output


@pytest.mark.parametrize("via, parsed", [("[::1]:6432", ("::1", 6432)), ("127.0.0.1:5432", ("127.0.0.1", 5432)),
                                         ("[fe80::1%lo]:1", ("fe80::1%lo", 1)), ("proxy.local:6432", ("proxy.local", 6432))])
def test_via_takes_a_bracketed_ipv6_host(via: str, parsed: tuple[str, int]) -> None:
    from ops.targets.base import parse_host_port

    assert parse_host_port(via) == parsed


@pytest.mark.parametrize("via", ["::1:6432", "[::1]", "[]:1", "[127.0.0.1]:1", "host:0", "host"])
def test_via_that_is_no_host_and_port_is_refused(via: str) -> None:
    from ops.errors import UsageError
    from ops.targets.base import parse_host_port

    with pytest.raises(UsageError, match="--via"):
        parse_host_port(via)
