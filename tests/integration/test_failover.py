"""Failover drills on a real local PostgreSQL HA cluster, with their negative controls."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Iterator

import pytest

from ops.drills.common import new_drill_id
from ops.drills.failover import DrillContext, FailoverOptions, run_failover
from ops.lab import lab as lab_core
from ops.lab.pg import pgcluster
from ops.report import Journal
from ops.targets import parse_target
from ops.lab.pg.localpg import LocalPgTarget
from tests.conftest import REPO, Cli, traversable_tmpdir, write_config


def make_lab(sync: bool) -> tuple[Cli, Path]:
    root = traversable_tmpdir("dbops-fo-")
    cli = Cli(write_config(root), root / ".lab")
    lab_core.up(cli.config, lab_core.LabOptions(sync=sync), lambda _: None)
    return cli, root


@pytest.fixture(scope="module")
def async_lab(pg_available) -> Iterator[Cli]:  # type: ignore[no-untyped-def]
    cli, root = make_lab(sync=False)
    yield cli
    lab_core.down(cli.config, lambda _: None)
    shutil.rmtree(root, ignore_errors=True)


@pytest.fixture(scope="module")
def sync_lab(pg_available) -> Iterator[Cli]:  # type: ignore[no-untyped-def]
    cli, root = make_lab(sync=True)
    yield cli
    lab_core.down(cli.config, lambda _: None)
    shutil.rmtree(root, ignore_errors=True)


def target(cli: Cli) -> LocalPgTarget:
    return LocalPgTarget(parse_target("localpg:lab-pg"), cli.lab_dir)


def assert_ha(cli: Cli) -> None:
    status = pgcluster.status(cli.lab_dir)
    assert status["state"] == "running", status
    replicas = [m for m in status["members"] if m["role"] == "replica"]
    assert replicas and all(m["replication"] == "streaming" for m in replicas), status


def test_failover_drill_passes_and_reports_client_measurements(async_lab: Cli) -> None:
    before = pgcluster.get(async_lab.lab_dir).entry["writer"]  # type: ignore[union-attr]
    junit = async_lab.lab_dir.parent / "junit.xml"
    result = async_lab("drill", "failover", "localpg:lab-pg", "--json", "--junit", str(junit))
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["status"] == "pass"
    m = data["measurements"]
    assert m["acked_writes"] > 10
    assert m["lost_writes"] == 0
    assert 0 < m["client_write_downtime_s"] < 10
    assert 0 < m["api_failover_s"] < 10
    assert m["replica_lag_before_s"] is not None
    ids = {c["id"]: c["status"] for c in data["checks"]}
    assert ids["FO-RTO"] == ids["FO-LOST-WRITES"] == ids["POST-HA"] == "pass"
    assert pgcluster.get(async_lab.lab_dir).entry["writer"] != before  # type: ignore[union-attr]
    md = Path(data["paths"]["md"]).read_text()
    assert "## Timeline" in md and "first ack after the failover" in md
    # Every attempt is in the report, as runs of equal outcome, beside the control plane's moments; the page plots them.
    runs, marks = data["details"]["canary_runs"], data["details"]["timeline_s"]
    assert sum(r["n"] for r in runs) == m["acked_writes"] + m["failed_write_attempts"]
    assert len({r["server"] for r in runs if r["outcome"] == "acknowledged"}) == 2  # the old writer, then the new
    assert marks["failover triggered"] == 0 < marks["new writer reported"] and marks["healed"] > marks["heal started"] > 0
    assert runs[0]["from"] < 0 < runs[-1]["to"]
    assert Path(data["paths"]["html"]).read_text().count("<svg") == 1
    assert junit.read_text().count("<testcase") == len(data["checks"])
    assert_ha(async_lab)


def test_ten_drills_in_a_row_all_pass(async_lab: Cli) -> None:
    downtimes = []
    for i in range(10):
        result = async_lab("drill", "failover", "localpg:lab-pg", "--json")
        assert result.exit_code == 0, f"drill {i + 1}: {result.output}"
        downtimes.append(json.loads(result.stdout)["measurements"]["client_write_downtime_s"])
    assert_ha(async_lab)
    # Each failover is a fast shutdown (its checkpoint) and a promotion: well under a second on an idle machine,
    # seconds when the rest of the suite keeps the disk busy.
    assert max(downtimes) < 10, downtimes


def _cut_and_write(ctx: DrillContext, cli: Cli, writes_after_cut: int) -> None:
    """Cut replication to the replica, wait until the writer sees it gone, let the canary write on."""
    cluster = pgcluster.get(cli.lab_dir)
    assert cluster is not None
    replica = cluster.replicas()[0]
    cluster.cut_replication(replica)
    deadline = time.monotonic() + 20
    while cluster.replication_rows() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not cluster.replication_rows(), "replication did not stop"
    # WAL already received is still replayed after the cut: wait until replay catches up.
    caught_up = "SELECT pg_last_wal_receive_lsn() IS NULL OR pg_last_wal_replay_lsn() >= pg_last_wal_receive_lsn()"
    while not cluster.query(replica, caught_up)[0][0] and time.monotonic() < deadline:
        time.sleep(0.05)
    ctx.extra["replica_max_seq"] = cluster.query(
        replica, "SELECT coalesce(max(seq), 0) FROM dbops_canary WHERE drill_id = %s", (ctx.drill_id,))[0][0]
    assert ctx.canary is not None
    base = len(ctx.canary.log.acks)
    ctx.canary.wait_for_acks(base + writes_after_cut, timeout=10)
    ctx.extra["hook_done_at"] = time.monotonic()


def test_lost_writes_counted_exactly_when_replication_is_cut(async_lab: Cli) -> None:
    """Negative control: acknowledged writes after the cut are lost, and the drill counts each one."""
    ctx_box: dict = {}

    def hook(ctx: DrillContext) -> None:
        _cut_and_write(ctx, async_lab, writes_after_cut=15)
        ctx_box["ctx"] = ctx

    report = run_failover(target(async_lab), FailoverOptions(), Journal("failover", "localpg:lab-pg", "lab", echo=None),
                          new_drill_id("failover"), hooks={"canary_running": hook})
    ctx = ctx_box["ctx"]
    replica_max = ctx.extra["replica_max_seq"]
    log = ctx.canary.log
    # The old writer acknowledged everything up to the first refused write of the failover.
    fenced_at = min(f.at for f in log.failures if f.at > ctx.extra["hook_done_at"])
    acked_after_cut = sorted(a.seq for a in log.acks if a.seq > replica_max and a.at < fenced_at)
    assert len(acked_after_cut) >= 15
    assert report.measurements["lost_writes"] == len(acked_after_cut)
    assert report.details["lost_seqs"] == acked_after_cut
    assert report.status == "fail"
    assert {c.id: c.status for c in report.checks}["FO-LOST-WRITES"] == "fail"
    assert_ha(async_lab)  # pg_rewind discards the old writer's divergent writes and rejoins it


def test_sync_replication_loses_nothing_when_cut(sync_lab: Cli) -> None:
    def hook(ctx: DrillContext) -> None:
        cluster = pgcluster.get(sync_lab.lab_dir)
        cluster.cut_replication(cluster.replicas()[0])  # type: ignore[union-attr]
        time.sleep(1.0)  # commits now wait for a standby that is gone

    report = run_failover(target(sync_lab), FailoverOptions(), Journal("failover", "localpg:lab-pg", "lab", echo=None),
                          new_drill_id("failover"), hooks={"canary_running": hook})
    assert report.measurements["lost_writes"] == 0
    assert report.measurements["acked_writes"] > 0
    assert {c.id: c.status for c in report.checks}["FO-LOST-WRITES"] == "pass", report.checks
    assert {c.id: c.status for c in report.checks}["POST-HA"] == "pass", report.checks
    assert_ha(sync_lab)


def test_no_healthy_replica_stops_the_drill_before_it_starts(async_lab: Cli) -> None:
    cluster = pgcluster.get(async_lab.lab_dir)
    assert cluster is not None
    replica = cluster.replicas()[0]
    writer = cluster.entry["writer"]
    cluster.stop_member(replica)
    try:
        result = async_lab("drill", "failover", "localpg:lab-pg", "--json")
        assert result.exit_code == 2
        data = json.loads(result.stdout)
        assert data["status"] == "error"
        assert {c["id"]: c["status"] for c in data["checks"]}["PRE-READER"] == "fail"
        assert pgcluster.get(async_lab.lab_dir).entry["writer"] == writer  # type: ignore[union-attr]
    finally:
        cluster.start_member(replica)
        cluster.wait_streaming(replica, 30)


def test_promote_that_cannot_complete_ends_with_a_verdict(async_lab: Cli) -> None:
    """The chosen replica is frozen (SIGSTOP) after the pre-checks: no hang, a failed verdict, the writer back."""
    cluster = pgcluster.get(async_lab.lab_dir)
    assert cluster is not None
    replica = cluster.replicas()[0]
    writer = cluster.entry["writer"]
    frozen: list[int] = []

    def freeze(ctx: DrillContext) -> None:
        pid = int((replica.path / "postmaster.pid").read_text().split()[0])
        children = subprocess.run(["pgrep", "-P", str(pid)], capture_output=True, text=True).stdout.split()
        for p in [pid, *map(int, children)]:
            os.kill(p, signal.SIGSTOP)
            frozen.append(p)

    started = time.monotonic()
    try:
        report = run_failover(target(async_lab), FailoverOptions(rto_s=2.0, heal_timeout_s=5),
                              Journal("failover", "localpg:lab-pg", "lab", echo=None), new_drill_id("failover"),
                              hooks={"canary_running": freeze})
    finally:
        for p in frozen:
            os.kill(p, signal.SIGCONT)
    assert time.monotonic() - started < 30
    assert report.status == "fail"
    assert {c.id: c.status for c in report.checks}["FO-COMPLETED"] == "fail"
    assert pgcluster.get(async_lab.lab_dir).entry["writer"] == writer  # type: ignore[union-attr]
    assert cluster.wait_streaming(replica, 30)
    assert_ha(async_lab)


def interrupted_drill(lab: Cli, *words: str, after_s: float) -> tuple[int, str]:
    """A failover drill in a process of its own, sent SIGINT `after_s` after it printed a line with every word:
    its exit code and what it printed on stderr."""
    env = {**os.environ, **lab.env()}
    env.pop("AWS_ENDPOINT_URL", None)
    proc = subprocess.Popen([sys.executable, "-m", "ops", "drill", "failover", "localpg:lab-pg"],
                            env=env, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert proc.stderr is not None
    for line in proc.stderr:
        if all(word in line for word in words):
            break
    time.sleep(after_s)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    return proc.returncode, err


def test_sigint_stops_the_canary_leaves_the_cluster_consistent_and_exits_3(async_lab: Cli) -> None:
    code, err = interrupted_drill(async_lab, "canary", "writing at", after_s=0.3)
    assert code == 3, err
    assert "Traceback" not in err
    assert_ha(async_lab)
    reports = sorted((async_lab.config.report_dir / "failover").glob("*.json"))
    assert json.loads(reports[-1].read_text())["status"] == "aborted"
    again = async_lab("drill", "failover", "localpg:lab-pg")
    assert again.exit_code == 0, again.output


def test_a_drill_interrupted_after_the_failover_call_keeps_what_clients_saw_for_its_page(async_lab: Cli) -> None:
    # 0.1 s after the call: inside the watch, where the drill waits for the control plane and steady writes
    code, err = interrupted_drill(async_lab, "action", "failover of", after_s=0.1)
    assert code == 3, err
    data = json.loads(sorted((async_lab.config.report_dir / "failover").glob("*.json"))[-1].read_text())
    assert data["status"] == "aborted"
    runs = data["details"]["canary_runs"]
    assert runs[0]["outcome"] == "acknowledged" and runs[0]["from"] < 0 and sum(r["n"] for r in runs) > 10
    assert data["details"]["timeline_s"]["failover triggered"] == 0
    assert "FO-RTO" not in {c["id"] for c in data["checks"]}  # shown, not judged
    assert sorted((async_lab.config.report_dir / "failover").glob("*.html"))[-1].read_text().count("<svg") == 1
    assert_ha(async_lab)


def test_scorecard_judges_the_rto_a_real_failover_drill_measured(async_lab: Cli) -> None:
    from ops.percentiles import percentile
    from ops.report import list_reports
    from ops.scorecard import BREACHED, MET, UNPROVEN, build_scorecard

    drilled = async_lab("drill", "failover", "localpg:lab-pg", "--json")
    assert drilled.exit_code == 0, drilled.output
    measured = json.loads(drilled.stdout)["measurements"]["client_write_downtime_s"]
    result = async_lab("scorecard", "--json", "--fail-on", "breached", "--keep")
    assert result.exit_code == 0, result.output
    card = json.loads(result.stdout)
    row = next(t for t in card["targets"] if t["target"] == "localpg:lab-pg")
    by_id = {o["id"]: o for o in row["objectives"]}
    # the figure over every failover this lab's report dir holds, computed here from the reports themselves
    # (a downtime that is only a lower bound, from a failover that never completed, proves nothing within the RTO)
    downtimes = [r["measurements"]["client_write_downtime_s"] for r in list_reports(async_lab.config.report_dir, "failover")
                 if r["status"] in ("pass", "fail") and r["target"] == "localpg:lab-pg"
                 and r["measurements"].get("client_write_downtime_s") is not None
                 and not (r["details"].get("downtime_is_lower_bound") and r["measurements"]["client_write_downtime_s"] <= 60)]
    assert by_id["RTO"]["measured"] == percentile(downtimes, 0.95) >= measured
    assert by_id["RTO"]["samples"] == len(downtimes) and by_id["RTO"]["worst"] == max(downtimes)
    # a verdict within the RTO needs 3 drills: how many this lab holds depends on the tests run before this one
    if len(downtimes) >= 3:
        assert by_id["RTO"]["status"] == MET
    else:
        assert by_id["RTO"]["status"] == UNPROVEN and ", 3 needed" in by_id["RTO"]["reason"], by_id["RTO"]
    one = build_scorecard(async_lab.config.with_policy(min_evidence_drills=1), "lab", async_lab.config.report_dir)
    judged = {o["id"]: o["status"] for t in one["targets"] for o in t["objectives"] if t["target"] == "localpg:lab-pg"}
    assert judged["RTO"] == judged["LOST-WRITES"] == MET  # one drill is enough then: it passed, within both objectives
    assert by_id["RTO"]["objective"] == 60.0
    assert by_id["RPO"]["status"] == UNPROVEN  # no restore drill in this lab: not measured, never met
    assert row["newest_passing"]["failover"]["age_days"] < 0.01
    # negative control: the same evidence judged against an RTO no failover meets
    strict = build_scorecard(async_lab.config.with_policy(rto_seconds=0.001), "lab", async_lab.config.report_dir)
    rto = next(o for t in strict["targets"] for o in t["objectives"] if t["target"] == "localpg:lab-pg" and o["id"] == "RTO")
    assert rto["status"] == BREACHED
    assert strict["drift"]["since"] == Path(card["paths"]["json"]).stem  # drift from the kept scorecard
    assert any(c["objective"] == "RTO" and c["change"] == "status" for c in strict["drift"]["changes"])
