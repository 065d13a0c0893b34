"""Running dbops as a user does in a shell: a real process, real signals."""

from __future__ import annotations

import os
import subprocess
import sys
from typing import IO

from tests.conftest import REPO, Cli


def spawn(cli: Cli, *args: str, **env: str) -> subprocess.Popen:
    environ = {**os.environ, **cli.env(), **env}
    environ.pop("AWS_ENDPOINT_URL", None)
    return subprocess.Popen([sys.executable, "-m", "ops", *args], env=environ, cwd=REPO,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def run(cli: Cli, *args: str, timeout: float = 300, **env: str) -> subprocess.CompletedProcess:
    proc = spawn(cli, *args, **env)
    out, err = proc.communicate(timeout=timeout)
    return subprocess.CompletedProcess(proc.args, proc.returncode, out, err)


def read_until(stream: IO[str], marker: str, seen: list[str]) -> bool:
    for line in stream:
        seen.append(line)
        if marker in line:
            return True
    return False


def one_line(stderr: str) -> str:
    lines = [ln for ln in stderr.splitlines() if ln.strip()]
    assert len(lines) == 1, stderr
    assert "Traceback" not in stderr
    return lines[0]
