"""The connections drill: N concurrent clients, measured as each of them sees it.

N client connections are opened at once (asyncio, one process), each then runs a light query
at a set rate for a set time. Measured: connection set-up time (p50/p95/max, of those that
connected), connections refused by class (too many connections, timeout, other), query
errors by class and query latency p95. Through a pooler (PgBouncer's admin console answers
SHOW POOLS), the server connections it opened, how many served a client at once, and the
pool utilization: server connections busy with a client over server connections open,
sampled four times a second while the load runs.

Before the load, one connection is made: an endpoint that nobody can reach is an error (exit 2),
not a drill of N refusals. When it reaches the server it dialled (no pooler or proxy between,
whether or not --via named it), the clients
must fit in the connections the server has free, less a tenth kept for the application, or the
drill is refused before it starts: it would otherwise refuse the application's own connections.
--allow-exhaustion runs it anyway, to measure exhaustion on purpose.

Objectives: CONN-SETUP-P95 (<= connection_setup_p95_ms), CONN-ERRORS (no client refused and
no query failed: exhaustion is measured and fails the drill, it never crashes it) and, through
a pooler, POOL-UTILIZATION (>= pool_utilization_min).
"""

from __future__ import annotations

import statistics

from ops.data.clients import ConnectionsOptions, Tally, percentile, run_load
from ops.errors import CannotRun
from ops.report import Journal, Report, headline, measured

__all__ = ["ConnectionsOptions", "preflight", "run_connections", "summary"]

HEADROOM = 0.1  # of the server's usable connections, left to the application


def preflight(dsn: str, label: str, clients: int, allow_exhaustion: bool, via: str | None = None) -> None:
    """Connect once; when that reaches the server itself (the target's own endpoint, or a --via that turns
    out to be the server), refuse a load that would take the application's connections."""
    import psycopg

    try:
        with psycopg.connect(dsn, connect_timeout=5, autocommit=True) as conn:
            limit, reserved, in_use, addr, port = conn.execute(
                "SELECT current_setting('max_connections')::int, current_setting('superuser_reserved_connections')::int"
                " + coalesce(current_setting('reserved_connections', true)::int, 0),"
                # Sessions of other users show a NULL backend_type without pg_read_all_stats: counted, not missed.
                " (SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'client backend' OR backend_type IS NULL),"
                " host(inet_server_addr()), inet_server_port()").fetchone()
    except psycopg.Error as exc:
        first = (str(exc).strip().splitlines() or ["connection failed"])[0].strip()
        raise CannotRun(f"cannot connect to {label}: {first}") from None
    if allow_exhaustion or (via is not None and not _dialled_the_server(dsn, addr, port)):
        return  # a pooler or proxy between: it queues clients rather than handing each a server connection
    free = int((limit - reserved) * (1 - HEADROOM)) - in_use
    if clients > free:
        raise CannotRun(f"{clients} clients straight to the server would leave the application no connections: "
                        f"max_connections {limit}, {reserved} reserved, {in_use} in use, {free} free after a "
                        f"{100 * HEADROOM:.0f}% margin; go --via a pooler or proxy, or pass --allow-exhaustion")


def _dialled_the_server(dsn: str, addr: str | None, port: int | None) -> bool:
    """Whether the address and port dialled are the server's own (a Unix socket is the server's)."""
    import socket

    from psycopg.conninfo import conninfo_to_dict

    params = conninfo_to_dict(dsn)
    host, dialled_port = str(params.get("host") or ""), int(params.get("port") or 5432)
    if addr is None or not host or host.startswith("/"):
        return True
    try:
        resolved = {info[4][0] for info in socket.getaddrinfo(host, dialled_port, proto=socket.IPPROTO_TCP)}
    except OSError:
        return True  # cannot tell: judged as the server, the safe side
    return addr in resolved and port == dialled_port


def run_connections(dsn: str, admin_dsn: str | None, opts: ConnectionsOptions, journal: Journal, label: str) -> Report:
    journal.require("CONN-SETUP-P95", "CONN-ERRORS", *(("POOL-UTILIZATION",) if admin_dsn else ()))
    journal.objectives.update({"setup_p95_ms": opts.setup_p95_ms, "refused_connections": 0, "query_errors": 0})
    from ops.data.clients import ramp_s

    journal.event("load", f"{opts.clients} clients to {label} over {ramp_s(opts):g}s, "
                          f"{opts.rate_per_client:g} queries/s each for {opts.duration_s:g}s"
                          + (f", {opts.query_ms:g} ms of work per query" if opts.query_ms else ""))
    tally = run_load(dsn, admin_dsn, opts, journal.event)
    connected, refused = len(tally.setup_s), sum(tally.refused.values())
    journal.measure("clients", opts.clients)
    journal.measure("connected", connected)
    journal.measure("refused_connections", refused)
    for cls, n in sorted(tally.refused.items()):
        journal.measure(f"refused_{cls.split(':')[0].replace(' ', '_')}", n)
    journal.measure("queries", len(tally.query_s))
    journal.measure("query_errors", sum(tally.query_errors.values()))
    journal.details["refused_by_class"] = dict(tally.refused)
    journal.details["query_errors_by_class"] = dict(tally.query_errors)
    if tally.setup_s:
        ms = [s * 1000 for s in tally.setup_s]
        journal.measure("setup_p50_ms", statistics.median(ms))
        journal.measure("setup_p95_ms", percentile(ms, 0.95))
        journal.measure("setup_max_ms", max(ms))
        p95 = journal.measurements["setup_p95_ms"]
        journal.check("CONN-SETUP-P95", "pass" if p95 <= opts.setup_p95_ms else "fail",
                      f"connection set-up p95 {p95:.1f} ms over {connected} connections (objective {opts.setup_p95_ms:g} ms)")
    else:
        journal.mark_not_measured("setup_p95_ms", "no client connected")
        journal.check("CONN-SETUP-P95", "fail", f"no client of {opts.clients} could connect: {dict(tally.refused)}")
    if tally.query_s:
        journal.measure("query_p95_ms", percentile([s * 1000 for s in tally.query_s], 0.95))
    errors = refused + sum(tally.query_errors.values())
    detail = ", ".join(f"{n} {cls}" for cls, n in sorted((tally.refused + tally.query_errors).items())) or "none"
    journal.check("CONN-ERRORS", "pass" if errors == 0 else "fail",
                  f"{refused} of {opts.clients} clients refused, {sum(tally.query_errors.values())} queries failed ({detail})")
    if admin_dsn:
        _judge_pool(tally, opts, journal)
    return journal.finish()


def _judge_pool(tally: Tally, opts: ConnectionsOptions, journal: Journal) -> None:
    busy = [s for s in tally.pool_samples if s["cl_active"] or s["cl_waiting"]]  # samples while clients were on
    if not busy:
        journal.check("POOL-UTILIZATION", "unknown", "the pooler's statistics could not be read under load (SHOW POOLS)")
        return
    opened = [s["sv_active"] + s["sv_idle"] + s["sv_used"] for s in busy]
    ratios = [s["sv_active"] / o for s, o in zip(busy, opened) if o]
    journal.measure("pool_server_connections_max", max(opened))
    journal.measure("pool_server_active_max", max(s["sv_active"] for s in busy))
    journal.measure("pool_clients_waiting_max", max(s["cl_waiting"] for s in busy))
    if not ratios:
        journal.check("POOL-UTILIZATION", "unknown", "the pooler opened no server connection while clients were on")
        return
    utilization = statistics.mean(ratios)
    journal.measure("pool_utilization", utilization)
    journal.check("POOL-UTILIZATION", "pass" if utilization >= opts.pool_utilization_min else "fail",
                  f"server connections busy with a client {100 * utilization:.0f}% of the time they were open "
                  f"(objective {100 * opts.pool_utilization_min:.0f}%), at most {max(opened)} open for {opts.clients} clients")


def figures(m: dict) -> str:
    """What a connections drill measured, each figure or "not measured" (a drill cut short measured little)."""
    if m.get("connected") is not None and m.get("clients") is not None:
        text = f"{m['connected']} of {m['clients']} clients connected"
    else:
        text = "clients connected not measured"
    text += f", set-up p95 {measured(m.get('setup_p95_ms'), '{:.1f} ms')}"
    text += f", {m['refused_connections']} refused" if m.get("refused_connections") is not None else ", refusals not measured"
    text += f", {m['query_errors']} query errors" if m.get("query_errors") is not None else ", query errors not measured"
    if m.get("pool_utilization") is not None:
        text += f", pool utilization {100 * m['pool_utilization']:.0f}%"
    return text


def summary(report: Report) -> str:
    return headline(report, figures(report.measurements))
