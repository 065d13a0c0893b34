"""The AWS emulator: moto in server mode, one loopback port for every service."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from ops.errors import LabError
from ops.lab import process, state

KEY = "emulator"
HOST = "127.0.0.1"


def running(lab_dir: Path) -> dict[str, Any] | None:
    """The emulator's state entry if its process is alive, else None."""
    entry = state.read(lab_dir).get(KEY)
    if entry and process.is_running(entry["pid"], entry.get("started")):
        return entry
    return None


def endpoint(lab_dir: Path) -> str | None:
    entry = running(lab_dir)
    return entry["endpoint"] if entry else None


def start(lab_dir: Path, timeout: float = 30.0) -> tuple[dict[str, Any], bool]:
    """Start the emulator unless it runs already. Returns (entry, started_now)."""
    entry = running(lab_dir)
    if entry:
        return entry, False
    lab_dir.mkdir(parents=True, exist_ok=True)
    # A fresh emulator is an empty world: Terraform state of the previous one no longer describes it,
    # and the servers behind its Aurora clusters belong to nothing any more.
    shutil.rmtree(lab_dir / "terraform", ignore_errors=True)
    from ops.lab.aws import aurora_servers

    aurora_servers.discard_all(lab_dir.resolve())
    port = process.free_port()
    log = open(lab_dir / "emulator.log", "ab")
    proc = subprocess.Popen(
        [sys.executable, "-m", "ops.lab.aws.emulator_server", "-H", HOST, "-p", str(port)],
        stdout=log,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
        start_new_session=True,  # a Ctrl-C in the shell that ran `lab up` must not kill it
        # AWS managed policies exist in AWS; the lab dir is where the Aurora clusters' servers live.
        env={**os.environ, "MOTO_IAM_LOAD_MANAGED_POLICIES": "true", "DBOPS_LAB_DIR": str(lab_dir.resolve())},
    )
    log.close()
    deadline = time.monotonic() + timeout
    while not process.port_open(HOST, port):
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            raise LabError(f"the AWS emulator did not start on {HOST}:{port}; see {lab_dir / 'emulator.log'}")
        time.sleep(0.1)
    entry = {
        "pid": proc.pid,
        "started": process.start_time(proc.pid),
        "port": port,
        "endpoint": f"http://{HOST}:{port}",
        "started_at": time.time(),
    }
    state.update(lab_dir, KEY, entry)
    return entry, True


def stop(lab_dir: Path) -> bool:
    entry = state.read(lab_dir).get(KEY)
    stopped = False
    if entry:
        stopped = process.stop(entry["pid"], entry.get("started"))
        state.update(lab_dir, KEY, None)
    return stopped
