"""Before anything writes, the credentials act in the env's account, and --confirm names the env."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Iterator

import pytest

from tests.conftest import Cli, write_config


def test_a_protected_env_wants_the_env_in_the_confirm_token(cli_at: Cli) -> None:
    old_token = cli_at("drill", "failover", "aurora:prod-aurora", "--env", "prod", "--confirm", "aurora:prod-aurora")
    assert old_token.exit_code == 2 and "add --confirm prod:aurora:prod-aurora" in old_token.output, old_token.output
    other_env = cli_at("drill", "failover", "aurora:prod-aurora", "--env", "prod", "--confirm", "staging:aurora:prod-aurora")
    assert other_env.exit_code == 2 and "add --confirm prod:aurora:prod-aurora" in other_env.output


def test_an_env_without_account_id_refuses_to_write_in_one_line(cli_at: Cli) -> None:
    for args in (("drill", "failover", "aurora:prod-aurora", "--env", "prod", "--confirm", "prod:aurora:prod-aurora"),
                 ("janitor", "--env", "prod", "--confirm", "prod"),
                 ("tf", "apply", "--env", "prod", "--confirm", "prod")):
        result = cli_at(*args)
        lines = [line for line in result.output.splitlines() if line.strip()]
        assert result.exit_code == 2 and len(lines) == 1, (args, result.output)
        assert "env 'prod' names no account_id" in lines[0], (args, result.output)


@pytest.fixture
def emulator_url(fresh_root: Path) -> Iterator[str]:
    from ops.lab.aws import emulator

    emulator.start(fresh_root / ".lab")
    url = emulator.endpoint(fresh_root / ".lab")
    assert url is not None
    yield url
    emulator.stop(fresh_root / ".lab")


def staging(root: Path, url: str, account: str) -> Cli:
    """An env on the emulator by its URL, as an account would be: protected, with an account id of its own."""
    config_dir = root / f"cfg-{account}"
    config_dir.mkdir()
    extra = f'\n[envs.staging]\nregion = "us-east-1"\nendpoint = "{url}"\naccount_id = "{account}"\n'
    return Cli(write_config(config_dir, extra=extra), root / ".lab")


def test_credentials_of_another_account_refuse_the_write_and_the_right_one_passes_the_gate(
        fresh_root: Path, emulator_url: str) -> None:
    other = staging(fresh_root, emulator_url, "210987654321")
    for args in (("janitor", "--env", "staging", "--confirm", "staging"), ("cost", "check", "--env", "staging")):
        wrong = other(*args)  # a write, and a read whose report would pass for the env's
        lines = [line for line in wrong.output.splitlines() if line.strip()]
        assert wrong.exit_code == 2 and len(lines) == 1, (args, wrong.output)
        assert "env 'staging' is account 210987654321 in us-east-1, but the credentials act in account 123456789012" in lines[0]
    right = staging(fresh_root, emulator_url, "123456789012")
    swept = right("janitor", "--env", "staging", "--confirm", "staging", "--json")
    # Past the gate, the sweep needs the env's lease table, which this emulator has not.
    assert "credentials act in" not in swept.output and "lease table 'dbops-tfstate-lock' not found" in swept.output, swept.output
    # Every report names where it ran.
    checked = right("cost", "check", "--env", "staging", "--json")
    data = json.loads(checked.stdout)
    assert (data["region"], data["account"]) == ("us-east-1", "123456789012"), checked.output
    md = next((Path(right.config.report_dir) / "cost").glob("*.md")).read_text()
    assert "region `us-east-1`, account `123456789012`" in md
