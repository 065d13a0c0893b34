"""A lab server that does not answer pg_ctl stop (its postmaster and backends SIGSTOPped) still stops, in bounded time."""

from __future__ import annotations

import os
import shutil
import signal
import time
from typing import Iterator

import pytest

from ops.lab import process
from ops.lab.pg import pgcluster, pgservers
from tests.conftest import traversable_tmpdir


@pytest.fixture
def one_server(pg_available) -> Iterator[pgservers.Cluster]:  # type: ignore[no-untyped-def]
    root = traversable_tmpdir("dbops-hung-")
    cluster = pgcluster.create(root / ".lab", replicas=0, sync=False)
    yield cluster
    for m in cluster.members:
        pid = cluster.postmaster_pid(m)
        for p in ([pid, *process.children(pid)] if pid else []):
            try:
                os.kill(p, signal.SIGCONT)
            except ProcessLookupError:
                pass
        cluster.stop_member(m, mode="immediate", timeout=10)
    shutil.rmtree(root, ignore_errors=True)


@pytest.mark.parametrize("hung", [True, False])
def test_a_hung_postmaster_is_stopped_by_escalation_within_its_bound(one_server: pgservers.Cluster, hung: bool) -> None:
    cluster = one_server
    m = cluster.writer()
    pid = cluster.postmaster_pid(m)
    assert pid is not None
    family = [pid, *process.children(pid)]
    if hung:
        for p in family:
            os.kill(p, signal.SIGSTOP)
    started = time.monotonic()
    how = cluster.stop_member(m, mode="fast", timeout=2)
    took = time.monotonic() - started
    assert not cluster.is_running(m)
    assert not [p for p in family if process.is_running(p)], "no backend of the old server is left holding its shared memory"
    if hung:
        assert how == "SIGKILL", how
        assert took < 2 + pgservers.IMMEDIATE_STOP_S + pgservers.KILL_WAIT_S + 10, took
    else:  # negative control: a server that answers stops the way it was asked, with no escalation
        assert how == "fast" and took < 10, (how, took)
    cluster.start_member(m, timeout=60)  # it starts again (after crash recovery, when it was killed)
    assert cluster.query(m, "SELECT 1") == [(1,)]


def test_a_stale_pid_file_naming_another_process_is_not_the_server_and_that_process_is_never_killed(
        one_server: pgservers.Cluster) -> None:
    import subprocess
    import sys

    cluster = one_server
    m = cluster.writer()
    cluster.stop_member(m, mode="fast", timeout=10)
    # After a crash or a reboot the pid file stays and its pid may be reused by anything on the host.
    bystander = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        pid_file = m.path / "postmaster.pid"
        pid_file.write_text(f"{bystander.pid}\n{m.path}\n")
        assert cluster.postmaster_pid(m) is None and not cluster.is_running(m)
        assert cluster.stop_member(m, mode="fast", timeout=2) == "not running"
        assert bystander.poll() is None, "a process that is not the lab's postmaster was killed"
        pid_file.unlink()
        cluster.start_member(m, timeout=60)  # negative control: the real postmaster is recognised as running
        assert cluster.is_running(m) and cluster.postmaster_pid(m) is not None
    finally:
        bystander.kill()
        bystander.wait()
