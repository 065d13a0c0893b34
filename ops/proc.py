"""Processes and sockets on this host: pid start times (so a recycled pid is never taken
for ours), the owner id a drill leaves on what it creates, port probes, and how this process
takes SIGINT and SIGTERM while it has something to clean up."""

from __future__ import annotations

import os
import signal
import socket
import threading
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Callable, Iterator


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


class _Interrupts:
    """Signals seen by this process: the first one stops the drill, later ones only wait for its cleanup."""

    count = 0


def _note(message: str) -> None:
    import sys

    print(message, file=sys.stderr, flush=True)


@contextmanager
def interruptible(echo: Callable[[str], None] = _note) -> Iterator[None]:
    """Inside the block, the first SIGINT or SIGTERM raises KeyboardInterrupt (on the main thread);
    every later one is noted and ignored, so a second Ctrl-C never cuts a cleanup short."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def _first_only(signum, frame):  # type: ignore[no-untyped-def]
        _Interrupts.count += 1
        if _Interrupts.count == 1:
            raise KeyboardInterrupt(f"signal {signum}")
        echo(f"dbops: already stopping (signal {signum}): cleaning up first")

    _Interrupts.count = 0
    previous = {s: signal.signal(s, _first_only) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        # Once stopping, a later Ctrl-C must not cut the aborted report and exit 3 short: the handler stays.
        if not _Interrupts.count:
            for s, handler in previous.items():
                signal.signal(s, handler)


def ignore_interrupts_on_the_way_out() -> None:
    """After an interrupted run has done its cleanup: SIGINT and SIGTERM are ignored while the process exits.
    Python puts the default handlers back as it finalizes, and a second Ctrl-C in those last milliseconds would
    kill the process by signal (exit 130) instead of the exit 3 that says it stopped cleanly."""
    if threading.current_thread() is threading.main_thread():
        for s in (signal.SIGINT, signal.SIGTERM):
            signal.signal(s, signal.SIG_IGN)


def interrupted() -> bool:
    """Whether this process received SIGINT or SIGTERM inside `interruptible` or `deferred_interrupts`."""
    return _Interrupts.count > 0


class Deferred:
    """Interrupts received inside `deferred_interrupts`: counted, acted on after the block."""

    def __init__(self) -> None:
        self.count = 0


@contextmanager
def deferred_interrupts(echo: Callable[[str], None], what: str) -> Iterator[Deferred]:
    """SIGINT and SIGTERM are held back while `what` runs (a half-done heal is worse than a late stop).

    Each one received prints a line saying so; the caller decides what to do afterwards, and
    `interruptible` counts it, so one after the block does not raise either.
    """
    box = Deferred()
    if threading.current_thread() is not threading.main_thread():
        yield box
        return

    def _hold(signum, frame):  # type: ignore[no-untyped-def]
        box.count += 1
        _Interrupts.count += 1
        echo(f"interrupt deferred: {what} is in progress and finishes first (signal {signum})")

    previous: dict[int, Any] = {}
    try:
        for s in (signal.SIGINT, signal.SIGTERM):  # inside the try: an interrupt between the two still restores both
            previous[s] = signal.signal(s, _hold)
        yield box
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)


@contextmanager
def held_interrupts(echo: Callable[[str], None], what: str) -> Iterator[None]:
    """`deferred_interrupts`, then one KeyboardInterrupt once `what` is done when an interrupt came meanwhile: a
    step that must not be cut in half, inside work that still stops."""
    with deferred_interrupts(echo, what) as deferred:
        try:
            yield
        except BaseException as exc:
            if deferred.count:  # the interrupt is not lost behind the step's own error: the run still stops as asked
                raise KeyboardInterrupt(f"interrupted while {what} ran") from exc
            raise
    if deferred.count:
        raise KeyboardInterrupt(f"interrupted while {what} ran")
