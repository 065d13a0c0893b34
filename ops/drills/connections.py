"""The connections drill: N concurrent clients, measured as each of them sees it.

N client connections are opened at once (asyncio, one process), each then runs a light query
at a set rate for a set time. Measured: connection set-up time (p50/p95/max, of those that
connected), connections refused by class (too many connections, timeout, other), query
errors by class and query latency p95. Through a pooler (PgBouncer's admin console answers
SHOW POOLS, sampled four times a second), the server connections it opened, how many served a
client at once, the clients waiting for one and the pool utilization: server connections busy
with a client over server connections open, over the load's window (not while clients still
connect or leave).

Before the load, one connection is made: an endpoint that nobody can reach is an error (exit 2),
not a drill of N refusals. Over it the server's room is read, and what the clients may open on the
server must fit in it (ops.data.server_room): straight to the server one connection a client;
through a PgBouncer the drill's pool; through RDS Proxy its MaxConnectionsPercent of max_connections;
through anything else one a client. Room is max_connections less the reserved, less a tenth kept for
the application, less the sessions open now (pg_stat_activity, or CloudWatch DatabaseConnections when
higher). Through RDS Proxy the proxy's own pool must have room too: MaxConnectionsPercent of
max_connections less the connections it holds now for its other clients (CloudWatch
DatabaseConnectionsCurrentlyInUse); a pool whose use is not measured is refused, since the drill could
leave the application's clients of the proxy waiting for a connection. A load that does not fit is
refused before it starts: it would otherwise refuse the application's own connections.
--allow-exhaustion runs it anyway (and through a proxy whose use is not measured), to measure
exhaustion on purpose.

Objectives:
- CONN-SETUP-P95 (<= connection_setup_p95_ms).
- CONN-ERRORS: no client refused and no query failed (exhaustion is measured and fails the drill,
  it never crashes it).
- CONN-QUERIES-SERVED: every query the connected clients' schedules put in the load's window was
  served. Each client keeps a fixed schedule (every 1/--rate seconds from a random first slot), so
  the slots in the window are counted exactly and no statistical allowance is needed: a client of
  a server or pool that keeps up serves every one of its slots (starting a late one up to a second
  after the window), a client left queueing falls behind and serves fewer.
- CONN-QUERY-OVERHEAD: the p95 of query time beyond the query's own work (--query-ms) <=
  query_overhead_p95_ms: a wait for a pooled server connection, or a server that cannot keep up,
  shows here as the client sees it.
- Through a PgBouncer whose admin console answers:
  - POOL-WAIT: the longest a client waited for a server connection (SHOW POOLS maxwait, from the
    first connection to the last) <= pool_wait_max_ms.
  - POOL-UTILIZATION: server connections busy with a client over those open, >= pool_utilization_min,
    and judged with the three above: a pool busy because clients queue for it is saturated, a failure.
  - POOL-ALIVE: after the load, the pooler's console answers on a new connection. The drill never
    sends a cancel request (an abandoned query's connection is shut down instead), so a pooler that
    does not answer afterwards is one the load harmed.
"""

from __future__ import annotations

import statistics
from typing import Any, Callable

from ops.data.clients import ConnectionsOptions, Tally, pooler_answer, run_load
from ops.data import server_room
from ops.drills.common import stand_down
from ops.percentiles import percentile
from ops.errors import CannotRun
from ops.report import Journal, Report, headline, measured
from ops.targets.base import ClientEndpoint

__all__ = ["ConnectionsOptions", "preflight", "run_connections", "summary"]


def preflight(endpoint: ClientEndpoint, clients: int, allow_exhaustion: bool, via: str | None = None) -> str:
    """Connect once and bound the load by what it may open on the server (ops.data.server_room): one
    connection a client straight to the server (the target's own endpoint, or a --via that turns out to
    be the server, or one whose limit cannot be read), the drill's pool through a PgBouncer, or
    MaxConnectionsPercent of max_connections through an RDS Proxy — and then also the proxy's free pool:
    that limit less what the proxy holds now (DatabaseConnectionsCurrentlyInUse); a pool whose use is not
    measured is refused unless --allow-exhaustion. Returns what was found, for the report."""
    from ops.data.clients import pool_of

    found, addr, port = server_room.read_room(endpoint.dsn, endpoint.label, endpoint.connections_metric)
    pool = None  # through an RDS Proxy: its own pool, which the application's clients of the proxy share
    if via is None or _dialled_the_server(endpoint.dsn, addr, port):
        share = server_room.per_client(clients, "straight to the server")
    elif endpoint.pool_admin_dsn:
        share = server_room.pgbouncer_share(endpoint.pool_admin_dsn, *pool_of(endpoint.dsn), clients)
    elif endpoint.proxy is not None and endpoint.proxy[1] is not None:
        share = server_room.proxy_share(endpoint.proxy[1], endpoint.proxy[0], found.max_connections, clients)
        pool = server_room.proxy_pool(endpoint.proxy[1], endpoint.proxy[0], found.max_connections, endpoint.proxy_in_use)
    elif endpoint.proxy is not None:
        share = server_room.per_client(clients, f"RDS Proxy {endpoint.proxy[0]}'s MaxConnectionsPercent could not be read")
    else:
        share = server_room.per_client(clients, f"what {endpoint.label} may open on the server is not known")
    if allow_exhaustion:
        return (f"--allow-exhaustion: {share.most} server connection(s) ({share.why}); the server has {found.describe()}"
                + (f"; {pool.describe()}" if pool is not None else ""))
    advice = "lower --clients, lower the pool's or proxy's limit, or pass --allow-exhaustion"
    bound = server_room.refuse_beyond(share, found, endpoint.label, advice)
    if pool is not None:
        bound += "; " + server_room.refuse_beyond_pool(share, pool, endpoint.label, advice)
    return bound


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


def run_connections(dsn: str, admin_dsn: str | None, opts: ConnectionsOptions, journal: Journal, label: str,
                    should_stop: Callable[[], str | None] | None = None, guard: Any = None) -> Report:
    """`guard` (ops.drills.guard.Guard) stands down once the load has stopped. should_stop: polled while the load runs (the lease's loss_reason); once it names a reason the load
    stops at once and the drill ends in error, saying why: the target may be another drill's by then."""
    journal.require("CONN-SETUP-P95", "CONN-ERRORS", "CONN-QUERIES-SERVED", "CONN-QUERY-OVERHEAD",
                    *(("POOL-WAIT", "POOL-UTILIZATION", "POOL-ALIVE") if admin_dsn else ()))
    journal.objectives.update({"setup_p95_ms": opts.setup_p95_ms, "refused_connections": 0, "query_errors": 0,
                               "query_overhead_p95_ms": opts.query_overhead_p95_ms})
    if admin_dsn:
        journal.objectives.update({"pool_wait_max_ms": opts.pool_wait_max_ms, "pool_utilization_min": opts.pool_utilization_min})
    from ops.data.clients import ramp_s

    journal.event("load", f"{opts.clients} clients to {label} over {ramp_s(opts):g}s, "
                          f"{opts.rate_per_client:g} queries/s each for {opts.duration_s:g}s"
                          + (f", {opts.query_ms:g} ms of work per query" if opts.query_ms else ""))
    try:
        tally = run_load(dsn, admin_dsn, opts, journal.event, should_stop)
    finally:
        stand_down(guard)  # the load has stopped (its clients severed on an interrupt): what follows only reads
    judge(tally, opts, journal, pooled=admin_dsn is not None)
    if admin_dsn:
        _judge_pooler_alive(admin_dsn, journal)
    if tally.window.stopped:
        journal.details["stopped_early"] = tally.window.stopped
        return journal.finish("error", f"ERROR: the load was stopped before its end: {tally.window.stopped}")
    return journal.finish()


def judge(tally: Tally, opts: ConnectionsOptions, journal: Journal, pooled: bool) -> None:
    """Every objective but POOL-ALIVE, from what the load measured (pooled: SHOW POOLS was sampled)."""
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
    errors = refused + sum(tally.query_errors.values())
    detail = ", ".join(f"{n} {cls}" for cls, n in sorted((tally.refused + tally.query_errors).items())) or "none"
    journal.check("CONN-ERRORS", "pass" if errors == 0 else "fail",
                  f"{refused} of {opts.clients} clients refused, {sum(tally.query_errors.values())} queries failed ({detail})")
    _judge_served(tally, opts, journal)
    _judge_overhead(tally, opts, journal)
    if pooled:
        _judge_pool(tally, opts, journal)


def _judge_served(tally: Tally, opts: ConnectionsOptions, journal: Journal) -> None:
    scheduled = tally.scheduled(1.0 / opts.rate_per_client)
    journal.measure("queries_scheduled", scheduled)
    journal.measure("queries_served", tally.served)
    if not scheduled:
        journal.check("CONN-QUERIES-SERVED", "fail" if not tally.setup_s else "unknown",
                      "no client connected: no query was scheduled" if not tally.setup_s
                      else "no query of a connected client fell in the load's window")
        return
    journal.check("CONN-QUERIES-SERVED", "pass" if tally.served >= scheduled else "fail",
                  f"{tally.served} of {scheduled} queries scheduled in the {opts.duration_s:g}s window served "
                  f"({100 * tally.served / scheduled:.0f}%; {len(tally.setup_s)} clients at {opts.rate_per_client:g}/s, "
                  f"each slot counted, so a client that keeps up serves every one)")


def _judge_overhead(tally: Tally, opts: ConnectionsOptions, journal: Journal) -> None:
    if not tally.query_s:
        journal.mark_not_measured("query_p95_ms", "no query completed")
        journal.mark_not_measured("query_overhead_p95_ms", "no query completed")
        journal.check("CONN-QUERY-OVERHEAD", "unknown", "no query completed: the time beyond its work was not measured")
        return
    p95 = percentile([s * 1000 for s in tally.query_s], 0.95)
    overhead = max(0.0, p95 - opts.query_ms)
    journal.measure("query_p95_ms", p95)
    journal.measure("query_overhead_p95_ms", overhead)
    journal.check("CONN-QUERY-OVERHEAD", "pass" if overhead <= opts.query_overhead_p95_ms else "fail",
                  f"query p95 {p95:.1f} ms for {opts.query_ms:g} ms of work: {overhead:.1f} ms beyond it "
                  f"(objective {opts.query_overhead_p95_ms:g} ms) over {len(tally.query_s)} queries")


def _judge_pool(tally: Tally, opts: ConnectionsOptions, journal: Journal) -> None:
    if tally.pool_samples:
        journal.measure("pool_clients_waiting_max", max(s["cl_waiting"] for s in tally.pool_samples))
    waits = [s["maxwait_ms"] for s in tally.pool_samples if "maxwait_ms" in s]
    if waits:
        journal.measure("pool_wait_max_ms", max(waits))
        queued = sum(1 for s in tally.pool_samples if s["cl_waiting"])
        journal.check("POOL-WAIT", "pass" if max(waits) <= opts.pool_wait_max_ms else "fail",
                      f"clients waited up to {max(waits):.0f} ms for a server connection (objective {opts.pool_wait_max_ms:g} ms); "
                      f"up to {journal.measurements['pool_clients_waiting_max']} waiting at once, some waiting in "
                      f"{queued} of {len(tally.pool_samples)} samples")
    else:
        journal.mark_not_measured("pool_wait_max_ms", "SHOW POOLS was not read under load or has no maxwait")
        journal.check("POOL-WAIT", "unknown", "the pooler's client waits could not be read under load (SHOW POOLS maxwait)")
    # Use is judged over the window only: while clients still connect, or leave one by one after it, the
    # pool holds connections that no load is asking for.
    w = tally.window
    busy = [s for s in tally.pool_samples if (s["cl_active"] or s["cl_waiting"])
            and w.start is not None and w.start <= s["t"] <= w.end]
    opened = [s["sv_active"] + s["sv_idle"] + s["sv_used"] for s in busy]
    ratios = [s["sv_active"] / o for s, o in zip(busy, opened) if o]
    if not ratios:
        journal.mark_not_measured("pool_utilization", "no server connection open while clients were on")
        journal.check("POOL-UTILIZATION", "unknown", "the pooler's statistics could not be read under load (SHOW POOLS)"
                      if not busy else "the pooler opened no server connection while clients were on")
        return
    journal.measure("pool_server_connections_max", max(opened))
    journal.measure("pool_server_active_max", max(s["sv_active"] for s in busy))
    utilization = statistics.mean(ratios)
    journal.measure("pool_utilization", utilization)
    busy_text = (f"server connections busy with a client {100 * utilization:.0f}% of the time they were open "
                 f"(objective {100 * opts.pool_utilization_min:.0f}%), at most {max(opened)} open for {opts.clients} clients")
    if utilization < opts.pool_utilization_min:
        journal.check("POOL-UTILIZATION", "fail", busy_text)
        return
    # A pool is busy because its work keeps it so or because clients queue for it: only the first is a pass.
    kept_up = {c.id: c.status for c in journal.checks if c.id in ("CONN-QUERIES-SERVED", "CONN-QUERY-OVERHEAD", "POOL-WAIT")}
    short = [cid for cid, status in kept_up.items() if status == "fail"]
    unknown = [cid for cid, status in kept_up.items() if status != "pass" and cid not in short]
    if short:
        journal.check("POOL-UTILIZATION", "fail", f"saturated: {busy_text}, but the work was not done ({', '.join(short)} failed)")
    elif unknown:
        journal.check("POOL-UTILIZATION", "unknown", f"{busy_text}; whether the pool kept up was not measured ({', '.join(unknown)})")
    else:
        journal.check("POOL-UTILIZATION", "pass", f"{busy_text}, with every scheduled query served and no client kept waiting")


def _judge_pooler_alive(admin_dsn: str, journal: Journal) -> None:
    error = pooler_answer(admin_dsn)
    journal.check("POOL-ALIVE", "pass" if error is None else "fail",
                  "the pooler's console answers after the load" if error is None
                  else f"the pooler does not answer after the load: {error}")


def figures(m: dict) -> str:
    """What a connections drill measured, each figure or "not measured" (a drill cut short measured little)."""
    if m.get("connected") is not None and m.get("clients") is not None:
        text = f"{m['connected']} of {m['clients']} clients connected"
    else:
        text = "clients connected not measured"
    text += f", set-up p95 {measured(m.get('setup_p95_ms'), '{:.1f} ms')}"
    text += f", {m['refused_connections']} refused" if m.get("refused_connections") is not None else ", refusals not measured"
    text += f", {m['query_errors']} query errors" if m.get("query_errors") is not None else ", query errors not measured"
    if m.get("queries_scheduled"):
        text += f", {measured(m.get('queries_served'))} of {m['queries_scheduled']} scheduled queries served"
    text += f", query time beyond its work p95 {measured(m.get('query_overhead_p95_ms'), '{:.1f} ms')}"
    if "pool_utilization" in m:
        utilization = m["pool_utilization"]
        text += f", pool utilization {100 * utilization:.0f}%" if utilization is not None else ", pool utilization not measured"
        text += f", pool wait up to {measured(m.get('pool_wait_max_ms'), '{:.1f} ms')}"
    return text


def summary(report: Report) -> str:
    return headline(report, figures(report.measurements))
