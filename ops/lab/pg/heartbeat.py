"""The lab heartbeat: one marker row a second on the writer of lab-pg.

A real estate always has rows being written; the lab gets them from this process, so a
restore to any past time of the lab's life has rows on both sides of it.

    python -m ops.lab.pg.heartbeat DSN
"""

from __future__ import annotations

import signal
import sys
import time

from ops.data import markers

SOURCE = "heartbeat"


def run(dsn: str, interval_s: float = 1.0) -> None:
    stop = False

    def _stop(*_: object) -> None:
        nonlocal stop
        stop = True

    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    conn = None
    while not stop:
        try:
            if conn is None or conn.closed:
                conn = markers.connect(dsn)
                markers.ensure_table(conn)
            markers.write(conn, SOURCE, 1, interval_s=0)
        except Exception:  # noqa: BLE001 — the writer moves during failovers; try again next beat
            conn = None
        time.sleep(interval_s)


if __name__ == "__main__":
    run(sys.argv[1])
