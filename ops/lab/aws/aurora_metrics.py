"""CloudWatch metrics of the lab's Aurora instances (AWS/RDS DatabaseConnections, CPUUtilization,
VolumeBytesUsed, AuroraReplicaLag), measured on their servers every 30 s, and of its DB proxies
(DatabaseConnectionsCurrentlyInUse by ProxyName, from PgBouncer's SHOW POOLS, once a minute so that a
one-minute Sum is what the proxy holds, as RDS publishes it)."""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path
from typing import Any, Callable

from ops.lab.aws.aurora_servers import ADMIN, Backing, backings
from ops.lab.pg import pgservers

METRICS_EVERY_S = 30.0


def _cpu_ticks(pid: int) -> int:
    total = 0
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            fields = (proc / "stat").read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        if int(proc.name) == pid or int(fields[1]) == pid:
            total += int(fields[11]) + int(fields[12])
    return total


def _postmaster_pid(m: pgservers.Member) -> int | None:
    try:
        return int((m.path / "postmaster.pid").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return None


_last_cpu: dict[str, tuple[float, int]] = {}
_proxy_minute: dict[str, Any] = {}  # proxy name -> the minute its connections were last published


def _proxy_connections(p: Any) -> int:
    """Server connections the proxy's PgBouncer holds (SHOW POOLS: active, idle, used, tested, logging in)."""
    import psycopg

    password = next((line.split('"')[3] for line in (p.home / "userlist.txt").read_text().splitlines()
                     if line.startswith(f'"{ADMIN}"')), "")
    with psycopg.connect(host=p.listen, port=p.port, user=ADMIN, password=password, dbname="pgbouncer", sslmode="require",
                         connect_timeout=3, autocommit=True) as conn:
        cur = conn.cursor()
        cur.execute("SHOW POOLS")
        names = [d.name for d in cur.description]
        rows = [dict(zip(names, r)) for r in cur.fetchall()]
    return sum(int(r.get(k) or 0) for r in rows for k in ("sv_active", "sv_idle", "sv_used", "sv_tested", "sv_login"))


def proxy_points(b: Backing, now: Any) -> list[dict[str, Any]]:
    minute = now.replace(second=0, microsecond=0)
    data: list[dict[str, Any]] = []
    for name, p in list(b.proxies.items()):
        if _proxy_minute.get(name) == minute:
            continue
        try:
            held = _proxy_connections(p)
        except Exception:  # noqa: BLE001 — a proxy restarting is measured next minute
            continue
        _proxy_minute[name] = minute
        data.append({"MetricName": "DatabaseConnectionsCurrentlyInUse", "Dimensions": [{"Name": "ProxyName", "Value": name}],
                     "Value": float(held), "Unit": "Count", "Timestamp": minute})
    return data


def measure(b: Backing) -> list[dict[str, Any]]:
    """AWS/RDS datapoints of each instance, measured on its server."""
    data: list[dict[str, Any]] = []
    c = b.cluster
    repl = c.replication_rows()
    from moto.core.utils import utcnow

    now = utcnow()  # the emulator keeps naive UTC times
    for m in c.members:
        if not c.is_running(m):
            continue
        dims = [{"Name": "DBInstanceIdentifier", "Value": m.name}]
        try:
            conns = c.query(m, "SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'client backend' AND usename <> %s", (ADMIN,))[0][0]
            data.append({"MetricName": "DatabaseConnections", "Dimensions": dims, "Value": float(conns), "Unit": "Count", "Timestamp": now})
        except Exception:  # noqa: BLE001 — a server restarting has nothing to count
            pass
        pid = _postmaster_pid(m)
        if pid:
            ticks, at = _cpu_ticks(pid), time.monotonic()
            prev = _last_cpu.get(m.name)
            _last_cpu[m.name] = (at, ticks)
            if prev and at > prev[0]:
                hz = os.sysconf("SC_CLK_TCK")
                pct = 100.0 * (ticks - prev[1]) / hz / (at - prev[0]) / (os.cpu_count() or 1)
                data.append({"MetricName": "CPUUtilization", "Dimensions": dims, "Value": max(0.0, pct), "Unit": "Percent", "Timestamp": now})
        if m.name == c.entry["writer"]:
            # The cluster volume: Aurora publishes VolumeBytesUsed per cluster; the lab's is the writer's databases.
            try:
                used = c.query(m, "SELECT sum(pg_database_size(datname)) FROM pg_database")[0][0]
                data.append({"MetricName": "VolumeBytesUsed", "Dimensions": [{"Name": "DBClusterIdentifier", "Value": b.cluster_id}],
                             "Value": float(used), "Unit": "Bytes", "Timestamp": now})
            except Exception:  # noqa: BLE001 — a server restarting is measured next time
                pass
        else:
            lag = (repl.get(m.name) or {}).get("lag_s")
            if lag is not None:
                data.append({"MetricName": "AuroraReplicaLag", "Dimensions": dims, "Value": lag * 1000.0, "Unit": "Milliseconds", "Timestamp": now})
    return data + proxy_points(b, now)


def publish_once(put: Callable[[Backing, list[dict[str, Any]]], None]) -> None:
    for b in list(backings.values()):
        try:
            with b.lock:
                points = measure(b) if b.cluster.entry["writer"] else []
            if points:
                put(b, points)
        except Exception:  # noqa: BLE001 — a cluster in the middle of a change is measured next time
            pass


wake = threading.Event()


def publisher(put: Callable[[Backing, list[dict[str, Any]]], None]) -> None:
    while True:
        publish_once(put)
        wake.wait(METRICS_EVERY_S)
        wake.clear()
