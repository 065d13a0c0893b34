"""Small process helpers for the lab: free ports, graceful stops (pid checks live in ops.proc)."""

from __future__ import annotations

import os
import signal
import socket
import time
from pathlib import Path

from ops.proc import is_running, port_open, start_time  # noqa: F401 — re-exported for the lab


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


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


def children(pid: int) -> list[int]:
    """The processes whose parent is pid (a postmaster's backends and auxiliary processes)."""
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            ppid = int(stat.read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, ValueError, IndexError):
            continue
        if ppid == pid:
            found.append(int(stat.parent.name))
    return found


def runs_from(pid: int, comm: str, own: Path) -> bool:
    """Whether pid is a `comm` process started on `own` (postgres -D DATADIR, pgbouncer INI): a pid file
    left by a killed lab may name a pid that now belongs to another server on this host."""
    try:
        if Path(f"/proc/{pid}/comm").read_text().strip() != comm:
            return False
        args = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except OSError:
        return False
    target = own.resolve()
    return any(arg and Path(os.fsdecode(arg)).resolve() == target for arg in args)
