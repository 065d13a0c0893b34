"""What every drill shares: ids, tags, interrupt handling, timed waits."""

from __future__ import annotations

import secrets
import signal
import threading
import time
from contextlib import contextmanager
from datetime import datetime, timedelta, timezone
from typing import Callable, Iterator

from ops.errors import Aborted

DRILL_TAG = "dbops:drill-id"
EXPIRES_TAG = "dbops:expires-at"


def new_drill_id(kind: str) -> str:
    return f"{kind}-{datetime.now(timezone.utc):%Y%m%dT%H%M%SZ}-{secrets.token_hex(3)}"


def expiry(hours: float = 6.0, now: datetime | None = None) -> str:
    return ((now or datetime.now(timezone.utc)) + timedelta(hours=hours)).strftime("%Y-%m-%dT%H:%M:%SZ")


@contextmanager
def interruptible() -> Iterator[None]:
    """SIGTERM behaves like SIGINT (KeyboardInterrupt) inside the block, on the main thread."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def _raise(signum, frame):  # type: ignore[no-untyped-def]
        raise KeyboardInterrupt(f"signal {signum}")

    previous = signal.signal(signal.SIGTERM, _raise)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def run_with_deadline(fn: Callable[[], object], timeout: float) -> tuple[bool, BaseException | None]:
    """Run fn in a worker thread; wait at most timeout. Returns (finished, error)."""
    box: dict[str, BaseException] = {}

    def work() -> None:
        try:
            fn()
        except BaseException as exc:  # noqa: BLE001 — reported to the caller
            box["error"] = exc

    worker = threading.Thread(target=work, name="dbops-action", daemon=True)
    worker.start()
    worker.join(timeout)
    return (not worker.is_alive(), box.get("error"))


def wait_until(predicate: Callable[[], bool], timeout: float, interval: float = 0.1) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(interval)
    return predicate()


__all__ = ["Aborted", "DRILL_TAG", "EXPIRES_TAG", "expiry", "interruptible", "new_drill_id", "run_with_deadline", "wait_until"]
