"""The connections drill's verdicts from what a load measured: a busy pool passes only when it kept up."""

from __future__ import annotations

import pytest

from ops.data.clients import ConnectionsOptions, Tally, Window, _slots_in
from ops.drills.connections import judge, summary
from ops.lab.lab import parts_down
from ops.report import Journal


@pytest.mark.parametrize("first, period, start, end, expected", [
    (0.0, 1.0, 10.0, 18.0, 8),  # a whole number of periods: every phase gives the same count
    (10.5, 1.0, 10.0, 18.0, 8),  # the first slot inside the window
    (0.3, 1.0, 10.0, 12.5, 3),  # 10.3, 11.3, 12.3
    (0.7, 1.0, 10.0, 12.5, 2),  # 10.7, 11.7 (12.7 is after the end)
    (20.0, 1.0, 10.0, 18.0, 0),  # a schedule that begins after the window
    (0.0, 100.0, 10.0, 11.0, 0),
])
def test_the_slots_in_a_window_are_counted_exactly(first: float, period: float, start: float, end: float, expected: int) -> None:
    assert _slots_in(first, period, start, end) == expected


def load(served: int, waits_ms: float | None, busy: int = 19, opened: int = 20, clients: int = 200) -> Tally:
    """A tally of `clients` clients at 1/s over an 8 s window, the pool sampled as given."""
    tally = Tally(window=Window(start=100.0, end=108.0, over=True))
    tally.setup_s = [0.01] * clients
    tally.first_slots = [99.5] * clients  # 8 slots each in the window
    tally.served = served
    tally.query_s = [0.3 + (3.0 if waits_ms and waits_ms > 1000 else 0.01)] * served
    sample = {"cl_active": 20, "cl_waiting": 150 if waits_ms else 0, "sv_active": busy, "sv_idle": opened - busy, "sv_used": 0}
    if waits_ms is not None:
        sample["maxwait_ms"] = waits_ms
    tally.pool_samples = [{**sample, "t": 100.0 + i * 0.25} for i in range(32)]
    return tally


def verdicts(tally: Tally) -> tuple[dict[str, str], Journal]:
    opts = ConnectionsOptions(clients=len(tally.setup_s), rate_per_client=1.0, duration_s=8.0, query_ms=300.0)
    journal = Journal("connections", "localpg:lab-pg", "lab", echo=None)
    journal.require("CONN-SETUP-P95", "CONN-ERRORS", "CONN-QUERIES-SERVED", "CONN-QUERY-OVERHEAD", "POOL-WAIT", "POOL-UTILIZATION")
    judge(tally, opts, journal, pooled=True)
    return {c.id: c.status for c in journal.checks}, journal


def test_a_pool_busy_because_clients_queue_is_saturated_and_fails() -> None:
    checks, journal = verdicts(load(served=756, waits_ms=2700))
    assert journal.measurements["pool_utilization"] >= 0.8
    assert checks["CONN-QUERIES-SERVED"] == checks["CONN-QUERY-OVERHEAD"] == checks["POOL-WAIT"] == "fail", checks
    assert checks["POOL-UTILIZATION"] == "fail"
    assert "saturated" in next(c.detail for c in journal.checks if c.id == "POOL-UTILIZATION")
    report = journal.finish()
    assert report.status == "fail" and "756 of 1600 scheduled queries served" in summary(report)


def test_the_same_pool_serving_every_slot_without_waits_passes() -> None:
    checks, journal = verdicts(load(served=1600, waits_ms=5.0))
    assert set(checks.values()) == {"pass"}, checks
    assert journal.finish().status == "pass"


def test_one_slot_short_is_a_shortfall() -> None:
    checks, _ = verdicts(load(served=1599, waits_ms=5.0))
    assert checks["CONN-QUERIES-SERVED"] == "fail" and checks["POOL-UTILIZATION"] == "fail"


def test_an_unread_wait_leaves_a_busy_pool_unjudged_never_passed() -> None:
    checks, journal = verdicts(load(served=1600, waits_ms=None))
    assert checks["POOL-WAIT"] == "unknown" and checks["POOL-UTILIZATION"] == "unknown", checks
    report = journal.finish()
    assert report.status == "inconclusive"
    assert report.measurements["pool_wait_max_ms"] is None and "pool wait up to not measured" in summary(report)


def test_no_pool_sample_at_all_is_inconclusive() -> None:
    tally = load(served=1600, waits_ms=5.0)
    tally.pool_samples = []
    checks, journal = verdicts(tally)
    assert checks["POOL-WAIT"] == checks["POOL-UTILIZATION"] == "unknown", checks
    assert journal.finish().status == "inconclusive"
    assert "pool utilization not measured" in summary(journal.finish())


def test_no_completed_query_leaves_the_overhead_unmeasured() -> None:
    tally = load(served=0, waits_ms=5.0)
    checks, journal = verdicts(tally)
    assert checks["CONN-QUERY-OVERHEAD"] == "unknown" and checks["CONN-QUERIES-SERVED"] == "fail"
    assert journal.measurements["query_overhead_p95_ms"] is None


@pytest.mark.parametrize("emulator, pg, pooler, down", [
    ("running", "running", "running", []),
    ("stopped", "stopped", "stopped", []),  # a lab that is down is not a lab with a part down
    ("stopped", "absent", None, []),
    ("running", "absent", None, []),  # lab up --no-postgres
    ("running", "running", "absent", []),  # no pgbouncer installed: nothing started, nothing down
    ("running", "running", "stopped", ["lab-pg pooler stopped"]),
    ("running", "degraded", "running", ["lab-pg degraded"]),
    ("stopped", "running", "running", ["emulator stopped"]),
    ("running", "stopped", "stopped", ["lab-pg stopped", "lab-pg pooler stopped"]),
])
def test_a_part_of_a_running_lab_that_does_not_run_is_down(emulator: str, pg: str, pooler: str | None, down: list[str]) -> None:
    postgres: dict = {"name": "lab-pg", "state": pg}
    if pooler is not None:
        postgres["pooler"] = {"state": pooler}
    assert parts_down({"emulator": {"state": emulator}, "postgres": postgres}) == down


def test_pool_use_is_judged_over_the_window_not_while_clients_come_and_go() -> None:
    """After the window, clients leave one by one and the pool's connections idle: not the load's doing."""
    tally = load(served=1600, waits_ms=5.0)
    leaving = {"cl_active": 5, "cl_waiting": 0, "sv_active": 1, "sv_idle": 19, "sv_used": 0, "maxwait_ms": 0.0}
    tally.pool_samples += [{**leaving, "t": 108.5 + i * 0.25} for i in range(8)]
    checks, journal = verdicts(tally)
    assert journal.measurements["pool_utilization"] == 0.95 and checks["POOL-UTILIZATION"] == "pass", checks


def test_the_pool_sample_reads_the_drills_own_database_and_user_pool_only() -> None:
    from ops.data.clients import pool_of, pool_sample

    rows = [
        {"database": "app", "user": "dbops", "cl_active": 4, "cl_waiting": 1, "sv_active": 3, "sv_idle": 1, "sv_used": 0,
         "maxwait": 0, "maxwait_us": 200_000},
        {"database": "app", "user": "orders_service", "cl_active": 30, "cl_waiting": 12, "sv_active": 20, "sv_idle": 0, "sv_used": 2,
         "maxwait": 4, "maxwait_us": 0},  # the application's own pool: its clients wait, not the drill's
        {"database": "reports", "user": "dbops", "cl_active": 7, "cl_waiting": 0, "sv_active": 5, "sv_idle": 5, "sv_used": 0,
         "maxwait": 0, "maxwait_us": 0},
        {"database": "pgbouncer", "user": "pgbouncer", "cl_active": 1, "cl_waiting": 0, "sv_active": 0, "sv_idle": 0, "sv_used": 0,
         "maxwait": 0, "maxwait_us": 0},
    ]
    assert pool_of("host=127.0.0.1 port=6432 user=dbops dbname=app") == ("app", "dbops")
    assert pool_of("host=127.0.0.1 user=dbops") == ("dbops", "dbops"), "libpq's default database is the user's name"
    sample = pool_sample(rows, "app", "dbops")
    assert {k: sample[k] for k in ("cl_active", "cl_waiting", "sv_active", "sv_idle", "sv_used")} == \
        {"cl_active": 4, "cl_waiting": 1, "sv_active": 3, "sv_idle": 1, "sv_used": 0}
    assert sample["maxwait_ms"] == 200.0, "not the application's 4 s wait in its own pool"
    assert pool_sample(rows, "nothing", "dbops") == {"cl_active": 0, "cl_waiting": 0, "sv_active": 0, "sv_idle": 0, "sv_used": 0}
