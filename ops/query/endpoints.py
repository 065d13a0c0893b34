"""Which server a client reaches: the DSN of a cluster target's writer or reader endpoint, and a probe.

The writer is the target's own writer_dsn() (for Aurora it carries the master secret); the
reader is Aurora's reader endpoint with the same credentials, or, for lab-pg, the same
hosts with target_session_attrs=standby (libpq picks a replica).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ops.errors import CannotRun, UsageError

ENDPOINTS = ("writer", "reader")


@dataclass(frozen=True)
class Endpoint:
    name: str  # writer | reader
    dsn: str  # carries credentials: handed to libpq only, never printed
    label: str  # what a report may say about it


def endpoint_of(cluster: Any, name: str) -> Endpoint:
    if name not in ENDPOINTS:
        raise UsageError(f"endpoint must be one of {', '.join(ENDPOINTS)}, not '{name}'")
    from psycopg.conninfo import conninfo_to_dict, make_conninfo

    writer = cluster.writer_dsn()
    if not writer:
        raise CannotRun(f"{cluster.ref}: no data plane to connect to")
    if name == "writer":
        return Endpoint("writer", writer, f"the writer endpoint of {cluster.ref}")
    if cluster.ref.kind == "aurora":
        c = cluster._cluster()
        if not c.get("ReaderEndpoint"):
            raise CannotRun(f"{cluster.ref} has no reader endpoint")
        return Endpoint("reader", cluster.dsn_for(dict(c, Endpoint=c["ReaderEndpoint"])), f"the reader endpoint of {cluster.ref}")
    params = conninfo_to_dict(writer)
    params["target_session_attrs"] = "standby"
    return Endpoint("reader", make_conninfo(**params), f"a reader of {cluster.ref} (target_session_attrs=standby)")


@dataclass(frozen=True)
class Probe:
    server: str  # address:port of the server reached
    in_recovery: bool
    database: str
    user: str
    version: str


def probe(endpoint: Endpoint, timeout_s: int = 5) -> Probe:
    """Connect once and say which server answered; a writer endpoint reaching a reader (or the
    reverse) cannot run a drill meant for it: CannotRun in one line."""
    import psycopg

    try:
        with psycopg.connect(endpoint.dsn, connect_timeout=timeout_s, autocommit=True) as conn:
            row = conn.execute("SELECT coalesce(host(inet_server_addr()), 'local') || ':' || current_setting('port'), "
                               "pg_is_in_recovery(), current_database(), current_user, current_setting('server_version')").fetchone()
    except psycopg.OperationalError as exc:
        first = (str(exc).strip().splitlines() or ["connection failed"])[-1].strip()
        raise CannotRun(f"cannot connect to {endpoint.label}: {first}") from None
    p = Probe(row[0], bool(row[1]), row[2], row[3], row[4])
    if endpoint.name == "writer" and p.in_recovery:
        raise CannotRun(f"{endpoint.label} reached {p.server}, a server in recovery (a reader), not a writer")
    if endpoint.name == "reader" and not p.in_recovery:
        raise CannotRun(f"{endpoint.label} reached {p.server}, the writer, not a reader")
    return p


def for_read_only(dsn: str) -> str:
    """The DSN for a read-only session: libpq's target_session_attrs=read-write asks the server whether
    the session may write, which default_transaction_read_only answers no to; `primary` asks whether
    the server is a writer, which is what was meant."""
    from psycopg.conninfo import conninfo_to_dict, make_conninfo

    params = conninfo_to_dict(dsn)
    if params.get("target_session_attrs") == "read-write":
        params["target_session_attrs"] = "primary"
        return make_conninfo(**params)
    return dsn
