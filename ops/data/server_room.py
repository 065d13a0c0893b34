"""How many server connections a drill's clients may take, and whether the server has them to spare.

A PostgreSQL server accepts max_connections sessions, some of them reserved for superusers (and, from
PostgreSQL 16, for pg_use_reserved_connections). Those left are shared with the application: a drill
whose clients take them all has the application's next connection refused. So before a load:

- the server's room: max_connections less the reserved, less a tenth kept for the application, less
  the sessions open now — pg_stat_activity's client backends, read over the drill's own connection
  (the truth of the server it reached), or CloudWatch's DatabaseConnections (AWS/RDS, the highest
  one-minute Maximum of the last five) when that is higher; a metric the endpoint does not publish is
  said to be not measured, never taken as zero;
- the drill's share: what its clients can open on the server. Straight to the server, one connection a
  client. Through PgBouncer (its admin console answers), at most the pool of the drill's database and
  user: pool_size + reserve_pool, capped by max_db_connections and max_user_connections. Through RDS
  Proxy, at most MaxConnectionsPercent of max_connections (DescribeDBProxyTargetGroups,
  ConnectionPoolConfig). In front of the server but neither of those: one connection a client, the
  safe side.

Through RDS Proxy the proxy's own pool is bounded too: it opens at most MaxConnectionsPercent of
max_connections on the server for every client it serves, the application's included. What it holds
now is CloudWatch's DatabaseConnectionsCurrentlyInUse (AWS/RDS, dimension ProxyName: every target of
the proxy, the safe side; RDS publishes it per proxy instance, so each one-minute period is summed
over them, and the highest of the last five is taken). The drill's share must fit in the pool's limit
less that: otherwise the application's clients of the proxy wait for a connection and time out
(ConnectionBorrowTimeout). A pool whose use cannot be read is not measured, never taken as empty.

The load is refused (one line, exit 2) when its share is above the room or the proxy's free pool, or
when the proxy's pool is not measured, unless the drill is asked to exhaust the server on purpose.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

from ops.errors import CannotRun

HEADROOM = 0.1  # of the server's usable connections, never given to a drill: the application's


@dataclass(frozen=True)
class Room:
    """The server's connections as the drill found them."""

    max_connections: int
    reserved: int
    in_use: int  # the count that was judged: the higher of the server's and CloudWatch's
    in_use_from: str  # how it was counted, each source's figure or "not measured"
    server: str  # address:port of the server that answered

    @property
    def free(self) -> int:
        return int((self.max_connections - self.reserved) * (1 - HEADROOM)) - self.in_use

    def describe(self) -> str:
        return (f"max_connections {self.max_connections}, {self.reserved} reserved, {self.in_use} in use ({self.in_use_from}), "
                f"{self.free} free after a {100 * HEADROOM:.0f}% margin")


@dataclass(frozen=True)
class Share:
    """How many server connections the drill's clients may open, and why."""

    most: int
    why: str


# What the CloudWatch side answers: (connections, how it was read) or (None, why not measured).
ConnectionsMetric = Callable[[], "tuple[float | None, str]"]


def room(conn: Any, metric: ConnectionsMetric | None = None) -> Room:
    """The server's room, read over a connection the drill opened (through whatever the clients use)."""
    limit, reserved, sessions, server = conn.execute(
        "SELECT current_setting('max_connections')::int, current_setting('superuser_reserved_connections')::int"
        " + coalesce(current_setting('reserved_connections', true)::int, 0),"
        # Sessions of other users show a NULL backend_type without pg_read_all_stats: counted, not missed.
        " (SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'client backend' OR backend_type IS NULL),"
        " coalesce(host(inet_server_addr()), 'local') || ':' || current_setting('port')").fetchone()
    return counted_room(int(limit), int(reserved), int(sessions), str(server), metric)


def read_room(dsn: str, label: str, metric: ConnectionsMetric | None = None) -> tuple[Room, str | None, int | None]:
    """Connect once over dsn and read the room, and the address and port of the server that answered
    (None: a Unix socket). An endpoint that does not answer is one line (CannotRun)."""
    import psycopg

    try:
        with psycopg.connect(dsn, connect_timeout=5, autocommit=True) as conn:
            found = room(conn, metric)
            addr, port = conn.execute("SELECT host(inet_server_addr()), inet_server_port()").fetchone()
    except psycopg.Error as exc:
        first = (str(exc).strip().splitlines() or ["connection failed"])[0].strip()
        raise CannotRun(f"cannot connect to {label}: {first}") from None
    return found, addr, port


def counted_room(limit: int, reserved: int, sessions: int, server: str, metric: ConnectionsMetric | None) -> Room:
    """The room from what the server answered and what CloudWatch says, the higher count judged."""
    counted, sources = sessions, [f"pg_stat_activity {sessions}"]
    if metric is None:
        sources.append("CloudWatch DatabaseConnections not measured: the endpoint publishes no such metric")
    else:
        value, how = metric()
        if value is None:
            sources.append(f"CloudWatch DatabaseConnections not measured: {how}")
        else:
            sources.append(f"CloudWatch DatabaseConnections {value:g} ({how})")
            counted = max(counted, int(round(value)))
    return Room(limit, reserved, counted, "; ".join(sources), server)


def pgbouncer_share(admin_dsn: str, database: str, user: str, clients: int) -> Share:
    """At most the drill's pool: pool_size + reserve_pool of its database (SHOW DATABASES, else the
    defaults of SHOW CONFIG), capped by max_db_connections and max_user_connections."""
    import psycopg

    with psycopg.connect(admin_dsn, autocommit=True, connect_timeout=5, cursor_factory=psycopg.ClientCursor) as conn:
        config = {str(r[0]): str(r[1]) for r in conn.execute("SHOW CONFIG").fetchall()}
        cur = conn.execute("SHOW DATABASES")
        names = [d.name for d in cur.description or []]
        databases = {str(row["name"]): row for row in (dict(zip(names, r)) for r in cur.fetchall())}

    def number(value: Any) -> int:
        try:
            return int(value)
        except (TypeError, ValueError):
            return 0

    row = databases.get(database)
    pool = number(row.get("pool_size")) if row and row.get("pool_size") is not None else number(config.get("default_pool_size"))
    reserve = (number(row.get("reserve_pool", row.get("reserve_pool_size"))) if row and row.get("reserve_pool", row.get("reserve_pool_size"))
               is not None else number(config.get("reserve_pool_size")))
    caps = {"max_db_connections": number((row or {}).get("max_connections")) or number(config.get("max_db_connections")),
            "max_user_connections": number(config.get("max_user_connections"))}
    most = pool + reserve
    why = f"the pooler's pool of {database}/{user}: pool_size {pool} + reserve_pool {reserve}"
    for name, cap in caps.items():
        if 0 < cap < most:
            most, why = cap, why + f", capped by {name} {cap}"
    return Share(min(clients, most), why + (f"; {clients} clients" if clients < most else ""))


def proxy_share(percent: float, proxy: str, max_connections: int, clients: int) -> Share:
    most = int(percent * max_connections // 100)
    return Share(min(clients, most), f"RDS Proxy {proxy} may open MaxConnectionsPercent {percent:g}% of max_connections "
                                     f"{max_connections}: {most}" + (f"; {clients} clients" if clients < most else ""))


@dataclass(frozen=True)
class ProxyPool:
    """RDS Proxy's pool toward the server: the most it may open and what it holds now for its clients."""

    proxy: str
    limit: int  # MaxConnectionsPercent of max_connections
    in_use: int | None  # DatabaseConnectionsCurrentlyInUse; None: not measured
    in_use_from: str  # how it was read, or why it was not

    @property
    def free(self) -> int | None:
        return None if self.in_use is None else self.limit - self.in_use

    def describe(self) -> str:
        held = (f"{self.in_use} in use ({self.in_use_from})" if self.in_use is not None
                else f"its use not measured ({self.in_use_from})")
        return f"RDS Proxy {self.proxy}'s pool of {self.limit}: {held}" + (f", {self.free} free" if self.free is not None else "")


def proxy_pool(percent: float, proxy: str, max_connections: int, metric: ConnectionsMetric | None) -> ProxyPool:
    limit = int(percent * max_connections // 100)
    if metric is None:
        return ProxyPool(proxy, limit, None, "CloudWatch DatabaseConnectionsCurrentlyInUse is not read for this endpoint")
    value, how = metric()
    if value is None:
        return ProxyPool(proxy, limit, None, f"CloudWatch DatabaseConnectionsCurrentlyInUse: {how}")
    return ProxyPool(proxy, limit, int(round(value)), f"CloudWatch DatabaseConnectionsCurrentlyInUse {value:g}, {how}")


def refuse_beyond_pool(share: Share, pool: ProxyPool, label: str, advice: str) -> str:
    """One line when the share does not fit in the proxy's free pool or that pool is not measured (CannotRun),
    else what was found, for the report."""
    found = f"{label}: the drill may take {share.most} of {pool.describe()}"
    if pool.free is None:
        raise CannotRun(f"{found}: whether the drill leaves the proxy's other clients a connection is not measured; {advice}")
    if share.most > pool.free:
        raise CannotRun(f"{found}: the proxy's other clients (the application's) would wait for a connection; {advice}")
    return found


def per_client(clients: int, why: str) -> Share:
    return Share(clients, f"{clients} clients, one server connection each ({why})")


def refuse_beyond(share: Share, r: Room, label: str, advice: str) -> str:
    """One line when the share is above the room (CannotRun), else what was found, for the report."""
    found = f"{label}: the drill may open {share.most} server connection(s) ({share.why}); the server {r.server} has {r.describe()}"
    if share.most > r.free:
        raise CannotRun(f"{found}: the drill would leave the application no connections; {advice}")
    return found
