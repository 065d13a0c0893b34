"""Recording of the AWS calls a dbops command makes, for the test that holds them to their declarations.

With DBOPS_RECORD_AWS_CALLS=<dir> set, every call made through ops.aws's sessions appends one JSON line
`{"command": "drill failover", "call": "rds:FailoverDBCluster"}` to `<dir>/<pid>.jsonl` (one file per
process: subprocesses inherit the variable and write their own). The command is the one the CLI is
running (`set_command`); a call made outside any command (a test's own setup) is not recorded.
"""

from __future__ import annotations

import json
import os
import threading
from pathlib import Path
from typing import Any

ENV_VAR = "DBOPS_RECORD_AWS_CALLS"
IAM_PREFIX = {"monitoring": "cloudwatch"}  # botocore signing names that are not their IAM prefix
_command: str | None = None
_lock = threading.Lock()


def set_command(words: str | None) -> None:
    """The command now running in this process ("drill failover"), or None once it ended."""
    global _command
    _command = words


def current_command() -> str | None:
    return _command


def on_call(model: Any = None, **_: Any) -> None:
    """botocore `provide-client-params` handler, emitted to every handler once per API call (`before-call` stops
    at the first handler that answers, as botocore's Stubber does): one line per call made while a command
    runs and recording is on. Returns None, which leaves the call's parameters as they are."""
    where = os.environ.get(ENV_VAR)
    if not where or _command is None or model is None:
        return
    signing = model.service_model.signing_name
    line = json.dumps({"command": _command, "call": f"{IAM_PREFIX.get(signing, signing)}:{model.name}"})
    with _lock:
        path = Path(where) / f"{os.getpid()}.jsonl"
        with path.open("a") as out:
            out.write(line + "\n")


def read(where: Path) -> set[tuple[str, str]]:
    """Every (command, call) recorded under a directory, by any process."""
    out: set[tuple[str, str]] = set()
    for path in sorted(Path(where).glob("*.jsonl")):
        for text in path.read_text().splitlines():
            if text.strip():
                row = json.loads(text)
                out.add((row["command"], row["call"]))
    return out
