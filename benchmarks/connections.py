"""Connection set-up and pool use at 250, 500 and 1,000 clients, directly and through PgBouncer.

    .venv/bin/python benchmarks/connections.py [--time 5] [--rate 2] [--query-ms 20]

A throwaway lab whose servers allow 1,100 connections (the lab's default is 60), so the
direct runs measure the server rather than its limit. Prints, per client count and path,
connected/refused, set-up p50/p95/max, the queries served of those scheduled and the p95 of
query time beyond its own work; through the pooler, the pool utilization, the most server
connections it opened and the longest client wait in it; and the drill's verdict with the
objectives that decided it. At the defaults, 1,000 pooled clients ask for 40 server
connections' work (2/s x 20 ms each) of a pool of 20: the queueing case, where the
objectives say whether the pool kept up.
"""

from __future__ import annotations

import argparse
import resource
import shutil
import tempfile
from pathlib import Path

from ops.config import parse
from ops.drills.connections import ConnectionsOptions, run_connections
from ops.lab import lab as lab_core
from ops.lab.pg import pgcluster
from ops.report import Journal, Report
from ops.targets import parse_target
from ops.lab.pg.localpg import LocalPgTarget


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--time", type=float, default=5.0)
    parser.add_argument("--rate", type=float, default=2.0)
    parser.add_argument("--query-ms", type=float, default=20.0)
    args = parser.parse_args()
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, 20000), hard))
    root = Path(tempfile.mkdtemp(prefix="dbops-bench-conn-"))
    root.chmod(0o755)
    cfg = parse({"envs": {"lab": {"endpoint": "embedded"}}}, root, None, {"DBOPS_LAB_DIR": str(root / ".lab")})
    try:
        lab_core.up(cfg, lab_core.LabOptions(), lambda _: None)
        cluster = pgcluster.get(cfg.lab_dir)
        assert cluster is not None
        cluster.entry["conf"] = ["max_connections = 1100"]
        cluster.save()
        for m in sorted(cluster.members, key=lambda m: m.name != cluster.entry["writer"]):
            cluster.write_conf(m, None if m.name == cluster.entry["writer"] else cluster.writer())
            cluster.stop_member(m)
            cluster.start_member(m)
        target = LocalPgTarget(parse_target("localpg:lab-pg"), cfg.lab_dir)
        print(f"open files limit {min(hard, 20000)}; server max_connections 1100; pool size 20; "
              f"{args.rate:g} queries/s per client of {args.query_ms:g} ms for {args.time:g}s")
        for clients in (250, 500, 1000):
            for via in (None, "pooler"):
                endpoint = target.client_endpoint(via)
                opts = ConnectionsOptions(clients=clients, rate_per_client=args.rate, duration_s=args.time, query_ms=args.query_ms)
                report = run_connections(endpoint.dsn, endpoint.pool_admin_dsn, opts, Journal("connections", "bench", "bench", echo=None),
                                         endpoint.label)
                print(_line(clients, via, report))
    finally:
        lab_core.down(cfg, lambda _: None)
        shutil.rmtree(root, ignore_errors=True)


def _line(clients: int, via: str | None, report: Report) -> str:
    m = report.measurements

    def ms(name: str) -> str:
        return f"{m[name]:.1f} ms" if m.get(name) is not None else "not measured"

    checks = {c.id: c.status for c in report.checks}
    kept_up = ("CONN-QUERIES-SERVED", "CONN-QUERY-OVERHEAD", "POOL-WAIT")
    text = (f"{clients:>5} clients {'pooled' if via else 'direct':<7}: {m['connected']} connected, {m['refused_connections']} refused; "
            f"set-up p50 {ms('setup_p50_ms')} p95 {ms('setup_p95_ms')} max {ms('setup_max_ms')}; "
            f"{m.get('queries_served')} of {m.get('queries_scheduled')} scheduled queries served; "
            f"query time beyond its work p95 {ms('query_overhead_p95_ms')}")
    if via:
        utilization = m.get("pool_utilization")
        text += (f"; pool utilization {'%.0f%%' % (100 * utilization) if utilization is not None else 'not measured'} "
                 f"with at most {m.get('pool_server_connections_max')} server connections, clients waited up to "
                 f"{ms('pool_wait_max_ms')} ({m.get('pool_clients_waiting_max')} at once)")
        judged = [checks.get(c, "unknown") for c in kept_up]
        verdict = "yes" if set(judged) == {"pass"} else ("no" if "fail" in judged else "not measured")
        text += f"; the pool kept up: {verdict}"
    failed = [f"{cid} {status}" for cid, status in checks.items() if status != "pass"]
    return text + f"\n        {report.status.upper()}" + (f" ({', '.join(failed)})" if failed else "")


if __name__ == "__main__":
    main()
