"""What every drill shares: ids, tags, interrupt handling, timed waits."""

from __future__ import annotations

import secrets
import signal
import threading
from contextlib import contextmanager
from datetime import datetime, timedelta, timezone
from typing import Iterator


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

