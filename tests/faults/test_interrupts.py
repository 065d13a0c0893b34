"""Ctrl-C and SIGTERM in the phases of a failover drill: the cluster is made whole, a report is written."""

from __future__ import annotations

import json
import shutil
import signal
import time
from typing import Iterator

import pytest

from ops.lab import lab as lab_core
from ops.lab.pg import pgcluster
from tests.conftest import Cli, traversable_tmpdir, write_config
from tests.faults.helpers import read_until, spawn


@pytest.fixture(scope="module")
def ilab(pg_available) -> Iterator[Cli]:  # type: ignore[no-untyped-def]
    root = traversable_tmpdir("dbops-int-")
    cli = Cli(write_config(root), root / ".lab")
    lab_core.up(cli.config, lab_core.LabOptions(), lambda _: None)
    yield cli
    lab_core.down(cli.config, lambda _: None)
    shutil.rmtree(root, ignore_errors=True)


def assert_whole(cli: Cli, context: str = "") -> None:
    status = pgcluster.status(cli.lab_dir)
    assert status["state"] == "running", (status, context)
    assert status["state"] == "running" and status["accepting_writes"] == [status["writer"]], status
    assert all(m["replication"] == "streaming" for m in status["members"] if m["role"] == "replica"), status


def newest_report(cli: Cli) -> dict:
    return json.loads(sorted((cli.config.report_dir / "failover").glob("*.json"))[-1].read_text())


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_interrupts_during_heal_are_deferred_until_the_cluster_is_whole(ilab: Cli, sig: int) -> None:
    proc = spawn(ilab, "drill", "failover", "localpg:lab-pg")
    seen: list[str] = []
    assert proc.stderr is not None and read_until(proc.stderr, "post     making", seen), "".join(seen)
    proc.send_signal(signal.SIGSTOP)  # both signals land while healing runs
    proc.send_signal(sig)
    proc.send_signal(sig)
    proc.send_signal(signal.SIGCONT)
    out, err = proc.communicate(timeout=120)
    text = "".join(seen) + err
    assert proc.returncode == 3, text
    assert "interrupt deferred" in text and "Traceback" not in text
    report = newest_report(ilab)
    assert report["status"] == "aborted"
    assert {c["id"]: c["status"] for c in report["checks"]}["POST-HA"] == "pass", report["checks"]
    assert_whole(ilab)


def test_interrupt_while_the_canary_writes_heals_and_reports(ilab: Cli) -> None:
    proc = spawn(ilab, "drill", "failover", "localpg:lab-pg")
    seen: list[str] = []
    assert proc.stderr is not None and read_until(proc.stderr, "action   failover", seen)
    proc.send_signal(signal.SIGINT)
    time.sleep(0.2)
    proc.send_signal(signal.SIGINT)  # a second Ctrl-C, impatient
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 3, "".join(seen) + err
    report = newest_report(ilab)
    assert report["status"] == "aborted"
    # Healed if the failover had started (POST-HA judged), untouched if the interrupt came first.
    assert {c["id"]: c["status"] for c in report["checks"]}.get("POST-HA", "pass") == "pass", "".join(seen) + err
    assert_whole(ilab, "".join(seen) + err)
    # No canary rows left behind in the application's database.
    cluster = pgcluster.get(ilab.lab_dir)
    assert cluster is not None
    assert cluster.query(cluster.writer(), "SELECT count(*) FROM dbops_canary")[0][0] == 0


def test_sigkill_mid_failover_is_healed_by_lab_up_and_the_janitor(ilab: Cli) -> None:
    proc = spawn(ilab, "drill", "failover", "localpg:lab-pg")
    seen: list[str] = []
    assert proc.stderr is not None and read_until(proc.stderr, "observe  control plane reports", seen)
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=10)
    up = spawn(ilab, "lab", "up")
    assert up.wait(timeout=120) == 0, up.stderr.read() if up.stderr else ""
    assert_whole(ilab)
    janitor = spawn(ilab, "janitor")
    assert janitor.wait(timeout=60) == 0
    cluster = pgcluster.get(ilab.lab_dir)
    assert cluster is not None
    assert cluster.query(cluster.writer(), "SELECT count(*) FROM dbops_canary")[0][0] == 0, "the janitor removed the canary rows"
