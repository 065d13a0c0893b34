"""Processes and sockets on this host: pid start times (so a recycled pid is never taken
for ours), the owner id a drill leaves on what it creates, and port probes."""

from __future__ import annotations

import os
import socket
from pathlib import Path


def start_time(pid: int) -> int | None:
    """The kernel's start time of pid (clock ticks since boot); None if it is gone."""
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
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    if state == "Z":
        return False
    return started is None or current == started


def machine() -> str:
    """Where a pid means this process table: the host name, this boot and this PID namespace. Containers that
    share a host name (or a host rebooted since) have other process tables, where the same pid is another process."""
    try:
        boot = Path("/proc/sys/kernel/random/boot_id").read_text().strip()[:8]
    except OSError:
        boot = "-"
    try:
        namespace = "".join(ch for ch in os.readlink("/proc/self/ns/pid") if ch.isdigit())
    except OSError:
        namespace = "-"
    return f"{socket.gethostname()}/{boot}/{namespace}"


def owner_id() -> str:
    """machine:pid:start of this process."""
    pid = os.getpid()
    return f"{machine()}:{pid}:{start_time(pid)}"


def owner_alive(owner: str | None) -> bool | None:
    """Whether the process an owner id names still runs; None when it cannot be told (another host, boot or PID
    namespace, or no owner)."""
    if not owner:
        return None
    try:
        host, pid, started = owner.rsplit(":", 2)
        if host != machine():
            return None
        return is_running(int(pid), int(started) if started not in ("", "None") else None)
    except ValueError:
        return None


def port_open(host: str, port: int, timeout: float = 0.5) -> bool:
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False
