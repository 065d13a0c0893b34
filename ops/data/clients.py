"""Many clients at once, as they see it: the data plane of the connections drill.

Opens N client connections at once (asyncio, one process); each then runs a light query on a
fixed schedule (every 1/rate seconds from a random first slot) until the load ends. Every
connection set-up time, refusal (by class), query latency and query error is kept, and which
scheduled slots of the load's window were served. Through a PgBouncer, SHOW POOLS on its admin
console is sampled four times a second.

A query abandoned (no answer in time, or the drill interrupted) has its connection's socket shut
down, never a cancel request sent: a cancel goes through a pooler to a server that may not answer,
and PgBouncer 1.18 can die of a cancel whose client has gone — taking every application's pool
with it. Shut down, the connection ends the query as a client that went away does.
"""

from __future__ import annotations

import asyncio
import math
import os
import random
import signal
import socket
import threading
import time
from collections import Counter
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Awaitable, Callable, Iterator, TypeVar

import psycopg

TOO_MANY = ("53300",)  # too_many_connections
T = TypeVar("T")


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
    query_overhead_p95_ms: float = 50.0  # query time beyond its own work (--query-ms), p95
    pool_wait_max_ms: float = 100.0  # the longest a client waited in the pool for a server connection


class Echo:
    """Where progress lines go (a drill's journal)."""

    def __init__(self, event: Callable[[str, str], None]) -> None:
        self.event = event


@dataclass
class Window:
    """The load's measured window: from the moment every client has tried to connect, for --time."""

    start: float | None = None
    end: float = math.inf
    over: bool = False  # every client has stopped
    aborted: bool = False  # interrupted: clients stop at once
    stopped: str | None = None  # why the load was stopped before its end (its drill lost its lease), if it was


@dataclass
class Tally:
    setup_s: list[float] = field(default_factory=list)
    refused: Counter = field(default_factory=Counter)
    query_s: list[float] = field(default_factory=list)
    query_errors: Counter = field(default_factory=Counter)
    pool_samples: list[dict[str, float]] = field(default_factory=list)
    first_slots: list[float] = field(default_factory=list)  # per connected client: its schedule's first slot
    served: int = 0  # queries of a slot inside the window that completed
    window: Window = field(default_factory=Window)

    def scheduled(self, period_s: float) -> int:
        """Slots of the connected clients' schedules that fell inside the window."""
        w = self.window
        if w.start is None:
            return 0
        return sum(_slots_in(first, period_s, w.start, w.end) for first in self.first_slots)


def _slots_in(first: float, period: float, start: float, end: float) -> int:
    """How many of first, first+period, first+2·period... lie in [start, end)."""
    def before(t: float) -> int:  # slots strictly before t
        return 0 if t <= first else math.ceil((t - first) / period)

    return max(0, before(end) - before(start))


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


def ramp_s(opts: ConnectionsOptions) -> float:
    """Clients arrive at a steady rate, as an application's processes do, rather than in one instant
    that would measure this load generator's own event loop instead of the server."""
    return opts.ramp_s if opts.ramp_s is not None else opts.clients / 250.0


QUERY_TIMEOUT_S = 10.0  # beyond the query's own work: longer is an error, counted, not a wait
LATE_S = 1.0  # a slot of the window not started within this long after the window's end was not served
STOP_POLL_S = 0.25  # how often a load asks its drill whether it must stop (a lost lease)


def sever(conn: psycopg.AsyncConnection) -> None:
    """End the connection from this side without a word to the server or pooler: no cancel request.

    The socket is shut down, not closed, so a coroutine waiting on it wakes with an error rather
    than waiting on a descriptor that is gone."""
    try:
        fd = conn.pgconn.socket
    except psycopg.OperationalError:
        return  # already closed
    try:
        with socket.socket(fileno=os.dup(fd)) as sock:
            sock.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass  # already shut down by the other side


class Load:
    """One load's shared state: what is measured, and what must be severed if it is cut short."""

    def __init__(self, dsn: str, admin_dsn: str | None, opts: ConnectionsOptions, echo: Echo) -> None:
        self.dsn, self.admin_dsn, self.opts, self.echo = dsn, admin_dsn, opts, echo
        self.tally = Tally()
        self.live: set[psycopg.AsyncConnection] = set()  # open connections, the admin console's included
        self.inflight: set[asyncio.Task] = set()  # queries running as their own tasks (see bounded)
        self.clients: list[asyncio.Task] = []
        self.attempted = 0  # clients that have tried to connect
        self.ramped = asyncio.Event()  # every client has tried to connect (or the load was aborted)

    def tried_to_connect(self) -> None:
        self.attempted += 1
        if self.attempted == self.opts.clients:
            self.ramped.set()

    def abort(self) -> None:
        """Interrupted: every connection severed, every client stopped; no query is cancelled."""
        self.tally.window.aborted = True
        for conn in list(self.live):
            sever(conn)
        for task in self.clients:
            task.cancel()  # a client waits in a sleep or on its query's task, never inside psycopg itself
        self.ramped.set()

    def stop(self, why: str) -> None:
        """Stopped before its end (the drill may no longer load the target): as an interrupt, every connection
        severed and every client stopped, with the reason kept for the report."""
        self.tally.window.stopped = why
        self.echo.event("stop", f"load stopped: {why}")
        self.abort()

    async def bounded(self, work: Awaitable[T], conn: psycopg.AsyncConnection, timeout_s: float) -> T:
        """work's result, or asyncio.TimeoutError after timeout_s with conn severed. The work runs as its own
        task, which is never cancelled: cancelled inside a query, psycopg sends the server a cancel request."""
        task = asyncio.ensure_future(work)
        self.inflight.add(task)
        task.add_done_callback(self._settled)
        done, _ = await asyncio.wait({task}, timeout=timeout_s)
        if not done:
            sever(conn)
            await asyncio.wait({task}, timeout=2.0)  # ends at once: its socket is shut down
            raise asyncio.TimeoutError(f"no answer within {timeout_s:g}s")
        return task.result()

    def _settled(self, task: asyncio.Task) -> None:
        self.inflight.discard(task)
        if not task.cancelled():
            task.exception()  # retrieved: the caller judged it, or the connection was severed on purpose

    async def close(self, conn: psycopg.AsyncConnection) -> None:
        self.live.discard(conn)
        if conn.pgconn.transaction_status == psycopg.pq.TransactionStatus.ACTIVE:
            sever(conn)  # a query still runs on it (its client was stopped): it ends with the socket
        try:
            await asyncio.wait_for(conn.close(), 2.0)  # closing sends Terminate, never a cancel
        except BaseException:  # noqa: BLE001 — a hung endpoint's socket is shut down instead
            sever(conn)


async def _query(conn: psycopg.AsyncConnection, query: str, params: tuple | None) -> None:
    await (await conn.execute(query, params)).fetchall()


async def _client(load: Load, start: asyncio.Event, delay_s: float) -> None:
    opts, tally, window = load.opts, load.tally, load.tally.window
    await start.wait()
    await asyncio.sleep(delay_s)
    t0 = time.monotonic()
    try:
        # No server-side prepared statements: a pooler in transaction mode hands each one a different server.
        conn = await asyncio.wait_for(psycopg.AsyncConnection.connect(load.dsn, autocommit=True, prepare_threshold=None),
                                      opts.connect_timeout_s)
    except Exception as exc:  # noqa: BLE001 — every refusal is data
        tally.refused[error_class(exc)] += 1
        load.tried_to_connect()
        return
    load.live.add(conn)
    tally.setup_s.append(time.monotonic() - t0)
    period = 1.0 / opts.rate_per_client
    slot = time.monotonic() + random.uniform(0, period)  # the clients' first queries spread over a period
    tally.first_slots.append(slot)
    load.tried_to_connect()
    query = "SELECT pg_sleep(%s)" if opts.query_ms else "SELECT 1"
    params = (opts.query_ms / 1000.0,) if opts.query_ms else None
    try:
        while slot < window.end:
            await asyncio.sleep(max(0.0, slot - time.monotonic()))
            if slot >= window.end or time.monotonic() > window.end + LATE_S:
                return  # this late after the window's end, a slot is work not done: counted short, not waited for
            q0 = time.monotonic()
            try:
                # A server that stops answering must fail the drill, not hold it (and its verdict) open.
                await load.bounded(_query(conn, query, params), conn, QUERY_TIMEOUT_S + opts.query_ms / 1000.0)
                tally.query_s.append(time.monotonic() - q0)
                if window.start is not None and window.start <= slot < window.end:
                    tally.served += 1
            except Exception as exc:  # noqa: BLE001
                tally.query_errors[error_class(exc)] += 1
                if conn.closed or isinstance(exc, asyncio.TimeoutError):
                    return  # a severed connection is in no known state: this client stops
            # Slots keep to the schedule (a late query does not push the next ones back): a client that fell
            # behind runs its queries back to back until it catches up or the window ends.
            slot += period
    finally:
        await load.close(conn)


async def _sample_pool(load: Load) -> None:
    """SHOW POOLS of a PgBouncer four times a second: server connections open and serving, clients
    waiting for one and the longest wait."""
    tally, window = load.tally, load.tally.window
    try:
        # The admin console speaks only the simple query protocol: a client-side cursor uses it.
        conn = await psycopg.AsyncConnection.connect(load.admin_dsn or "", autocommit=True, connect_timeout=5,
                                                     cursor_factory=psycopg.AsyncClientCursor)
    except Exception as exc:  # noqa: BLE001
        load.echo.event("pool", f"pooler statistics not read: {exc}")
        return
    load.live.add(conn)
    try:
        while not window.over and not window.aborted:
            rows = await load.bounded(_show_pools(conn), conn, 5.0)
            sample = pool_sample(rows, *pool_of(load.dsn))
            sample["t"] = time.monotonic()
            tally.pool_samples.append(sample)
            await asyncio.sleep(0.25)
    except Exception as exc:  # noqa: BLE001 — the load goes on; the pool figures stop here
        load.echo.event("pool", f"pooler statistics stopped: {exc}")
    finally:
        await load.close(conn)


def pool_of(dsn: str) -> tuple[str, str]:
    """The (database, user) pool a client of the DSN is given: PgBouncer keeps one pool per pair, and
    libpq's defaults name them when the DSN does not (the user: $PGUSER, else the OS user; the
    database: $PGDATABASE, else the user)."""
    import getpass
    import os

    from psycopg.conninfo import conninfo_to_dict

    params = conninfo_to_dict(dsn)
    user = str(params.get("user") or os.environ.get("PGUSER") or getpass.getuser())
    return str(params.get("dbname") or os.environ.get("PGDATABASE") or user), user


def pool_sample(rows: list[dict], database: str, user: str) -> dict[str, float]:
    """What SHOW POOLS says of the one pool the drill's clients use: other pools (other databases, other
    users, the application's own) are not the drill's, and their clients and connections are not counted."""
    pools = [r for r in rows if r.get("database") == database and r.get("user") == user]
    sample: dict[str, float] = {k: sum(int(r.get(k) or 0) for r in pools)
                                for k in ("cl_active", "cl_waiting", "sv_active", "sv_idle", "sv_used")}
    if pools and all("maxwait" in r for r in pools):  # the oldest waiting client's wait in that pool
        sample["maxwait_ms"] = max(int(r["maxwait"] or 0) * 1000 + int(r.get("maxwait_us") or 0) / 1000 for r in pools)
    return sample


async def _show_pools(conn: psycopg.AsyncConnection) -> list[dict]:
    cur = conn.cursor()
    await cur.execute("SHOW POOLS")
    names = [d.name for d in cur.description or []]
    return [dict(zip(names, r)) for r in await cur.fetchall()]


async def _run(load: Load, should_stop: Callable[[], str | None] | None = None) -> None:
    opts, tally, window = load.opts, load.tally, load.tally.window
    start = asyncio.Event()
    spacing = ramp_s(opts) / opts.clients
    load.clients = [asyncio.create_task(_client(load, start, i * spacing)) for i in range(opts.clients)]
    watchers = [asyncio.create_task(_progress(load))]
    if should_stop is not None:
        watchers.append(asyncio.create_task(_watch_stop(load, should_stop)))
    if load.admin_dsn:
        watchers.append(asyncio.create_task(_sample_pool(load)))
    start.set()
    await load.ramped.wait()  # the window opens once every client has tried to connect
    if not window.aborted:
        window.start = time.monotonic()
        window.end = window.start + opts.duration_s
        load.echo.event("load", f"{len(tally.setup_s)} of {opts.clients} clients connected; load for {opts.duration_s:g}s")
    await asyncio.gather(*load.clients, return_exceptions=True)
    window.over = True
    for task in watchers:
        task.cancel()  # each waits in a sleep or on its query's task, never inside psycopg itself
    await asyncio.gather(*watchers, return_exceptions=True)
    if load.inflight:  # queries of severed connections end on their own, promptly; none is cancelled
        await asyncio.wait(set(load.inflight), timeout=3.0)


async def _watch_stop(load: Load, should_stop: Callable[[], str | None]) -> None:
    """Polls the drill's stop condition four times a second; once it names a reason, the load stops."""
    window = load.tally.window
    while not window.over and not window.aborted:
        why = should_stop()
        if why:
            load.stop(why)
            return
        await asyncio.sleep(STOP_POLL_S)


async def _progress(load: Load) -> None:
    tally, window = load.tally, load.tally.window
    started = time.monotonic()
    while not window.over and not window.aborted:
        await asyncio.sleep(min(5.0, max(0.1, window.end - time.monotonic())))
        if time.monotonic() < window.end and not window.aborted:
            load.echo.event("load", f"{time.monotonic() - started:.0f}s: {len(tally.setup_s)} connected, "
                                    f"{sum(tally.refused.values())} refused, {len(tally.query_s)} queries, "
                                    f"{sum(tally.query_errors.values())} query errors")


def run_load(dsn: str, admin_dsn: str | None, opts: ConnectionsOptions, echo: Callable[[str, str], None],
             should_stop: Callable[[], str | None] | None = None) -> Tally:
    """Run the load; an interrupt (SIGINT, SIGTERM) severs every connection, stops the clients and is raised
    as KeyboardInterrupt once they have, with no cancel request sent. should_stop (e.g. a lease's
    loss_reason) is polled while it runs: once it names a reason the load stops the same way, within
    STOP_POLL_S and the severed queries' few seconds, and the tally's window says why."""
    load = Load(dsn, admin_dsn, opts, Echo(echo))
    with asyncio.Runner() as runner:
        with _interrupts_abort(runner.get_loop(), load):
            runner.run(_run(load, should_stop))
    return load.tally


@contextmanager
def _interrupts_abort(loop: asyncio.AbstractEventLoop, load: Load) -> Iterator[None]:
    """SIGINT and SIGTERM handled as loop callbacks, so none lands inside a query (psycopg answers an
    interrupt there with a cancel request). Once the load has stopped, the handlers before are put
    back and the first signal is handed to its own, as if it had come then."""
    received: list[int] = []
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def interrupted(signum: int) -> None:
        if not received:
            load.echo.event("abort", f"signal {signum}: severing every connection")
            load.abort()
        received.append(signum)

    previous = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM)}
    for s in previous:
        loop.add_signal_handler(s, interrupted, s)
    try:
        yield
    finally:
        for s, handler in previous.items():
            loop.remove_signal_handler(s)
            signal.signal(s, handler if handler is not None else signal.SIG_DFL)  # None: not set from Python
    if received:
        handler = previous[received[0]]
        if callable(handler):
            handler(received[0], None)  # the drill's own handler raises KeyboardInterrupt: an aborted report
        raise KeyboardInterrupt(f"signal {received[0]}")


def pooler_answer(admin_dsn: str, timeout_s: float = 5.0) -> str | None:
    """None when the pooler's admin console answers SHOW VERSION on a new connection within timeout_s;
    else the first line of what went wrong. PgBouncer answers its console itself: a server that does
    not answer does not make the pooler look dead."""
    try:
        with psycopg.connect(admin_dsn, autocommit=True, connect_timeout=max(1, int(timeout_s)),
                             cursor_factory=psycopg.ClientCursor) as conn:
            conn.execute("SHOW VERSION").fetchall()
        return None
    except psycopg.Error as exc:
        return (str(exc).strip().splitlines() or [type(exc).__name__])[0].strip()
