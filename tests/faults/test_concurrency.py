"""Two drills on one target, and a lab whose members disagree about who is the writer."""

from __future__ import annotations

import json
import shutil
import time
from typing import Iterator

import pytest

from ops.lab import lab as lab_core
from ops.lab.pg import pgbin, pgcluster
from tests.conftest import Cli, traversable_tmpdir, write_config
from tests.faults.helpers import one_line, read_until, run, spawn


@pytest.fixture(scope="module")
def clab(pg_available) -> Iterator[Cli]:  # type: ignore[no-untyped-def]
    root = traversable_tmpdir("dbops-cc-")
    cli = Cli(write_config(root), root / ".lab")
    lab_core.up(cli.config, lab_core.LabOptions(), lambda _: None)
    yield cli
    lab_core.down(cli.config, lambda _: None)
    shutil.rmtree(root, ignore_errors=True)


def primaries(cli: Cli) -> list[str]:
    return pgcluster.status(cli.lab_dir)["accepting_writes"]


def test_a_second_drill_on_a_held_target_refuses_naming_the_holder(clab: Cli) -> None:
    first = spawn(clab, "drill", "failover", "localpg:lab-pg", "--json")
    seen: list[str] = []
    assert first.stderr is not None and read_until(first.stderr, "canary   writing at", seen), "".join(seen)
    second = run(clab, "drill", "failover", "localpg:lab-pg")
    restore = run(clab, "drill", "restore", "localpg:lab-pg")
    out, err = first.communicate(timeout=120)
    assert first.returncode == 0, "".join(seen) + err
    drill_id = json.loads(out)["details"]["drill_id"]
    for refused in (second, restore):
        assert refused.returncode == 2
        line = one_line(refused.stderr)
        assert "localpg:lab-pg is held by drill" in line and drill_id in line
    assert primaries(clab) == [pgcluster.get(clab.lab_dir).entry["writer"]]  # type: ignore[union-attr]
    assert len(list((clab.config.report_dir / "failover").glob("*.json"))) == 1, "the refused drill wrote no report"


def test_drills_started_together_never_run_at_once(clab: Cli) -> None:
    procs = [spawn(clab, "drill", "failover", "localpg:lab-pg") for _ in range(3)]
    codes = sorted(p.wait(timeout=180) for p in procs)
    assert codes == [0, 2, 2], codes
    status = pgcluster.status(clab.lab_dir)
    assert status["state"] == "running" and len(primaries(clab)) == 1, status


def test_a_killed_drill_does_not_block_the_next(clab: Cli) -> None:
    import signal

    proc = spawn(clab, "drill", "failover", "localpg:lab-pg")
    seen: list[str] = []
    assert proc.stderr is not None and read_until(proc.stderr, "canary   writing at", seen)
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=10)
    again = run(clab, "drill", "failover", "localpg:lab-pg")
    assert again.returncode == 0, again.stderr


def test_lab_up_keeps_one_writer_when_two_members_are_primaries(clab: Cli) -> None:
    """As after a failover killed between the promotion and the state update: two primaries."""
    cluster = pgcluster.get(clab.lab_dir)
    assert cluster is not None
    old, replica = cluster.writer(), cluster.replicas()[0]
    pgbin.run("pg_ctl", "-D", str(replica.path), "-w", "promote")
    deadline = time.monotonic() + 10
    while len(primaries(clab)) < 2 and time.monotonic() < deadline:
        time.sleep(0.1)
    shown = run(clab, "lab", "status")
    assert "split-brain" in shown.stdout and "ACCEPTS WRITES" in shown.stdout, shown.stdout
    assert shown.returncode == 1 and "DOWN: lab-pg split-brain" in shown.stdout, shown.stdout
    assert run(clab, "lab", "down").returncode == 0
    up = run(clab, "lab", "up")
    assert up.returncode == 0, up.stderr
    assert f"keeping {replica.name}" in up.stdout, up.stdout  # the promoted member is on the newer timeline
    status = pgcluster.status(clab.lab_dir)
    assert primaries(clab) == [replica.name] and status["writer"] == replica.name, status
    assert next(m for m in status["members"] if m["name"] == old.name)["replication"] == "streaming", status
    again = run(clab, "drill", "failover", "localpg:lab-pg")
    assert again.returncode == 0, again.stderr
