"""Many clients at once, as they see it: the data plane of the connections drill.

Opens N client connections at once (asyncio, one process); each then runs a light query at
a set rate until the load ends. Every connection set-up time, refusal (by class), query
latency and query error is kept. Through a PgBouncer, SHOW POOLS on its admin console is
sampled four times a second.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Callable

import psycopg

TOO_MANY = ("53300",)  # too_many_connections


@dataclass(frozen=True)
class ConnectionsOptions:
    clients: int
    rate_per_client: float = 1.0  # queries per second per client
    duration_s: float = 10.0
    query_ms: float = 0.0  # server-side work per query (pg_sleep), 0 for SELECT 1
    connect_timeout_s: float = 10.0
    ramp_s: float | None = None  # clients connect evenly over this many seconds (None: 250 a second)
    setup_p95_ms: float = 500.0
    pool_utilization_min: float = 0.8


class Echo:
    """Where progress lines go (a drill's journal)."""

    def __init__(self, event: Callable[[str, str], None]) -> None:
        self.event = event


@dataclass
class Tally:
    setup_s: list[float] = field(default_factory=list)
    refused: Counter = field(default_factory=Counter)
    query_s: list[float] = field(default_factory=list)
    query_errors: Counter = field(default_factory=Counter)
    pool_samples: list[dict[str, int]] = field(default_factory=list)


def error_class(exc: BaseException) -> str:
    state = getattr(exc, "sqlstate", None)
    text = str(exc).lower()
    if state in TOO_MANY or "too many" in text or "no more connections allowed" in text:
        return "too many connections"
    if isinstance(exc, (asyncio.TimeoutError, psycopg.errors.ConnectionTimeout)) or "timeout" in text or "timed out" in text:
        return "timeout"
    if "password authentication failed" in text:
        return "authentication"
    if "connection refused" in text:
        return "connection refused"
    # The last clause of the first line names the cause without the per-connection details before it.
    cause = str(exc).strip().splitlines()[0].rsplit(": ", 1)[-1][:60] if str(exc).strip() else ""
    return f"other: {type(exc).__name__}" + (f" ({cause})" if cause else "")


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, int(round(q * (len(ordered) - 1)))))]


def ramp_s(opts: ConnectionsOptions) -> float:
    """Clients arrive at a steady rate, as an application's processes do, rather than in one instant
    that would measure this load generator's own event loop instead of the server."""
    return opts.ramp_s if opts.ramp_s is not None else opts.clients / 250.0


QUERY_TIMEOUT_S = 10.0  # beyond the query's own work: longer is an error, counted, not a wait


async def _query(conn: psycopg.AsyncConnection, query: str, params: tuple | None) -> None:
    await (await conn.execute(query, params)).fetchall()


async def _client(dsn: str, opts: ConnectionsOptions, tally: Tally, start: asyncio.Event, stop_at: list[float],
                  attempted: asyncio.Queue, delay_s: float) -> None:
    await start.wait()
    await asyncio.sleep(delay_s)
    t0 = time.monotonic()
    try:
        # No server-side prepared statements: a pooler in transaction mode hands each one a different server.
        conn = await asyncio.wait_for(psycopg.AsyncConnection.connect(dsn, autocommit=True, prepare_threshold=None),
                                      opts.connect_timeout_s)
    except Exception as exc:  # noqa: BLE001 — every refusal is data
        tally.refused[error_class(exc)] += 1
        attempted.put_nowait(None)
        return
    tally.setup_s.append(time.monotonic() - t0)
    attempted.put_nowait(None)
    query = "SELECT pg_sleep(%s)" if opts.query_ms else "SELECT 1"
    params = (opts.query_ms / 1000.0,) if opts.query_ms else None
    try:
        await asyncio.sleep(random.uniform(0, 1.0 / opts.rate_per_client))  # spread the clients' first queries
        while time.monotonic() < stop_at[0]:
            q0 = time.monotonic()
            try:
                # A server that stops answering must fail the drill, not hold it (and its verdict) open.
                await asyncio.wait_for(_query(conn, query, params), QUERY_TIMEOUT_S + (opts.query_ms or 0) / 1000.0)
                tally.query_s.append(time.monotonic() - q0)
            except Exception as exc:  # noqa: BLE001
                tally.query_errors[error_class(exc)] += 1
                if conn.closed or isinstance(exc, asyncio.TimeoutError):
                    return  # a timed-out connection is in no known state: this client stops
            await asyncio.sleep(max(0.0, 1.0 / opts.rate_per_client - (time.monotonic() - q0)))
    finally:
        try:
            await asyncio.wait_for(conn.close(), 2.0)
        except Exception:  # noqa: BLE001 — a hung server's socket goes with the process
            pass


async def _sample_pool(admin_dsn: str, tally: Tally, stop_at: list[float], echo: Echo) -> None:
    """SHOW POOLS of a PgBouncer four times a second: server connections open and serving."""
    try:
        # The admin console speaks only the simple query protocol: a client-side cursor uses it.
        conn = await psycopg.AsyncConnection.connect(admin_dsn, autocommit=True, cursor_factory=psycopg.AsyncClientCursor)
    except Exception as exc:  # noqa: BLE001
        echo.event("pool", f"pooler statistics not read: {exc}")
        return
    try:
        while time.monotonic() < stop_at[0]:
            cur = conn.cursor()
            await cur.execute("SHOW POOLS")
            names = [d.name for d in cur.description or []]
            rows = [dict(zip(names, r)) for r in await cur.fetchall()]
            pools = [r for r in rows if r.get("database") != "pgbouncer"]
            tally.pool_samples.append({k: sum(int(r.get(k) or 0) for r in pools)
                                       for k in ("cl_active", "cl_waiting", "sv_active", "sv_idle", "sv_used")})
            await asyncio.sleep(0.25)
    except Exception as exc:  # noqa: BLE001 — the load goes on; the pool figures stop here
        echo.event("pool", f"pooler statistics stopped: {exc}")
    finally:
        await conn.close()


async def _run(dsn: str, admin_dsn: str | None, opts: "ConnectionsOptions", tally: Tally, echo: "Echo") -> None:
    start = asyncio.Event()
    stop_at = [float("inf")]
    attempted: asyncio.Queue = asyncio.Queue()
    spacing = ramp_s(opts) / opts.clients
    tasks = [asyncio.create_task(_client(dsn, opts, tally, start, stop_at, attempted, i * spacing)) for i in range(opts.clients)]
    sampler = asyncio.create_task(_sample_pool(admin_dsn, tally, stop_at, echo)) if admin_dsn else None
    start.set()
    progress = asyncio.create_task(_progress(tally, opts, stop_at, echo))
    for _ in range(opts.clients):  # the load runs for its duration once every client has tried to connect
        await attempted.get()
    stop_at[0] = time.monotonic() + opts.duration_s
    echo.event("load", f"{len(tally.setup_s)} of {opts.clients} clients connected; load for {opts.duration_s:g}s")
    await asyncio.gather(*tasks)
    stop_at[0] = 0.0
    for t in (sampler, progress):
        if t is not None:
            await t


async def _progress(tally: Tally, opts: ConnectionsOptions, stop_at: list[float], echo: Echo) -> None:
    started = time.monotonic()
    while time.monotonic() < stop_at[0]:
        await asyncio.sleep(min(5.0, max(0.1, stop_at[0] - time.monotonic())))
        if time.monotonic() < stop_at[0]:
            echo.event("load", f"{time.monotonic() - started:.0f}s: {len(tally.setup_s)} connected, "
                                  f"{sum(tally.refused.values())} refused, {len(tally.query_s)} queries, "
                                  f"{sum(tally.query_errors.values())} query errors")




def run_load(dsn: str, admin_dsn: str | None, opts: ConnectionsOptions, echo: Callable[[str, str], None]) -> Tally:
    tally = Tally()
    asyncio.run(_run(dsn, admin_dsn, opts, tally, Echo(echo)))
    return tally
