"""RDS Proxy in the lab: a DB proxy of an Aurora cluster is a PgBouncer on an address of its own at 5432,
TLS required, re-pointed at once when a failover promotes a new writer."""

from __future__ import annotations

import secrets
from typing import Any
from pathlib import Path

from ops.lab.aws import aurora_metrics, aurora_tls
from ops.lab.aws.aurora_servers import ADMIN, SERVER_MAX_CONNECTIONS, Backing, claim_network, root
from ops.lab.aws.endpoint import Endpoint

_proxy_nets: dict[str, tuple[str, Endpoint, Endpoint]] = {}  # proxy name -> its claimed network


def proxy_address(name: str) -> str:
    """A proxy's own address, fixed at CreateDBProxy (before it has a target): 127.a.b.3 of a network it claims."""
    if name not in _proxy_nets:
        _proxy_nets[name] = claim_network(5432)
    return f"{_proxy_nets[name][0]}.3"


def release_proxy_address(name: str) -> None:
    claimed = _proxy_nets.pop(name, None)
    if claimed is not None:
        claimed[1].stop()
        claimed[2].stop()


def proxy_server_connections(b: Backing, name: str) -> int:
    """What the proxy may open on the server: its default target group's MaxConnectionsPercent of
    max_connections (ConnectionPoolConfig, 100 unless ModifyDBProxyTargetGroup said otherwise)."""
    from moto.rds.models import rds_backends

    proxy = rds_backends[b.account][b.region].db_proxies.get(name)
    group = (getattr(proxy, "proxy_target_groups", None) or {}).get("default")
    percent = float(getattr(group, "max_connections", 100) or 100)
    return max(1, int(percent * SERVER_MAX_CONNECTIONS // 100))


def limit_proxy(p: Any, most: int) -> None:
    """Re-write the proxy's max_db_connections and reload it."""
    from ops.lab.pg import pooler

    p.ini.write_text("\n".join(f"max_db_connections = {most}" if line.startswith("max_db_connections =") else line
                               for line in p.ini.read_text().splitlines()) + "\n")
    pooler.reload(p)


def start_proxy(b: Backing, name: str) -> str:
    """A DB proxy of the cluster: PgBouncer on its own address at 5432 (RDS Proxy listens on 5432 whatever
    the cluster's port), TLS required, the master user's password, re-pointed at once on a failover; it
    opens at most its MaxConnectionsPercent of the server's connections (max_db_connections)."""
    from ops.lab.pg import pooler

    home = Path(b.cluster.entry["root"]) / f"proxy-{name}"
    p = pooler.Pooler(home, proxy_address(name), 5432, ADMIN)
    proxy_address(name)
    cert, key = aurora_tls.for_network(root() / "tls", _proxy_nets[name][0])  # type: ignore[operator]
    writer = b.cluster.writer()
    pooler.configure(p, writer.host, writer.port, {b.master_user: b.master_password, ADMIN: secrets.token_urlsafe(16)},
                     tls=(cert, key), max_db_connections=proxy_server_connections(b, name))
    pooler.start(p)
    b.proxies[name] = p
    aurora_metrics.wake.set()  # what it holds is published now: a drill through it reads that before it starts
    return p.listen


def repoint_proxies(b: Backing) -> None:
    from ops.lab.pg import pooler

    writer = b.cluster.writer()
    for p in b.proxies.values():
        text = p.ini.read_text()  # the same settings and auth file, the new writer
        p.ini.write_text("\n".join(f"* = host={writer.host} port={writer.port}" if line.startswith("* = host=") else line
                                   for line in text.splitlines()) + "\n")
        pooler.reload(p)


def stop_proxy(b: Backing, name: str) -> None:
    from ops.lab.pg import pooler

    p = b.proxies.pop(name, None)
    if p is not None:
        pooler.stop(p)


def start_registered(b: Backing) -> None:
    """The proxies registered to the cluster before it had a writer start with its first writer."""
    for name in sorted(b.proxy_targets - set(b.proxies)):
        start_proxy(b, name)
