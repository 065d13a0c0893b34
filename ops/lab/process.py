"""Small process helpers for the lab: free ports, owned pids, graceful stops."""

from __future__ import annotations

import os
import signal
import socket
import time
from pathlib import Path


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def port_open(host: str, port: int, timeout: float = 0.5) -> bool:
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def start_time(pid: int) -> int | None:
    """The kernel's start time of pid (clock ticks since boot); None if it is gone.

    Stored next to a pid so that a recycled pid is never taken for ours.
    """
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # Field 22; the command name (field 2) may contain spaces, so split after ')'.
    return int(stat.rsplit(")", 1)[1].split()[19])


def is_running(pid: int | None, started: int | None = None) -> bool:
    if not pid:
        return False
    current = start_time(pid)
    if current is None:
        return False
    state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    if state == "Z":
        return False
    return started is None or current == started


def stop(pid: int, started: int | None = None, timeout: float = 10.0) -> bool:
    """SIGTERM, then SIGKILL after timeout. Returns True if it was running."""
    if not is_running(pid, started):
        return False
    for sig, wait in ((signal.SIGTERM, timeout), (signal.SIGKILL, 5.0)):
        try:
            os.kill(pid, sig)
        except ProcessLookupError:
            return True
        deadline = time.monotonic() + wait
        while time.monotonic() < deadline:
            try:
                os.waitpid(pid, os.WNOHANG)
            except ChildProcessError:
                pass
            if not is_running(pid, started):
                return True
            time.sleep(0.05)
    return True
