import json
import xml.etree.ElementTree as ET
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from ops import report


def fixed_clock():
    t = [datetime(2026, 11, 23, 3, 0, 0, tzinfo=timezone.utc)]

    def now() -> datetime:
        t[0] += timedelta(seconds=1)
        return t[0]

    return now


def sample(checks: list[tuple[str, str]], status: str | None = None) -> report.Report:
    j = report.Journal("failover", "localpg:lab-pg", "lab", clock=fixed_clock(), echo=None)
    j.event("pre", "target available")
    j.measure("client_write_downtime_s", 1.23456)
    j.mark_not_measured("lost_writes", "no data plane")
    j.objectives["client_write_downtime_s"] = 60
    for cid, st in checks:
        j.check(cid, st, f"detail of {cid}")
    return j.finish(status)


def test_status_follows_the_worst_check() -> None:
    assert sample([("a", "pass"), ("b", "warn")]).status == "pass"
    assert sample([("a", "pass"), ("b", "error")]).status == "error"
    assert sample([("a", "error"), ("b", "fail")]).status == "fail"
    assert sample([("a", "pass")], status="aborted").exit_code == 3


def test_json_has_the_schema_and_null_for_not_measured() -> None:
    data = json.loads(report.render_json(sample([("a", "pass")])))
    assert data["schema"] == "dbops.report/v1"
    for key in ("kind", "target", "env", "started_at", "finished_at", "status", "measurements", "objectives", "checks", "events"):
        assert key in data
    assert data["measurements"]["client_write_downtime_s"] == 1.235
    assert data["measurements"]["lost_writes"] is None
    assert data["not_measured"]["lost_writes"] == "no data plane"


def test_markdown_says_not_measured_never_zero() -> None:
    md = report.render_markdown(sample([("a", "pass")]))
    assert "not measured (no data plane)" in md
    assert "| lost_writes | 0" not in md


def test_junit_has_one_case_per_check_with_matching_failures() -> None:
    xml = report.render_junit(sample([("a", "pass"), ("b", "fail"), ("c", "error"), ("d", "unknown"), ("e", "warn")]))
    suite = ET.fromstring(xml)
    cases = suite.findall("testcase")
    assert [c.get("name") for c in cases] == ["a", "b", "c", "d", "e"]
    assert suite.get("failures") == "1" and suite.get("errors") == "1" and suite.get("skipped") == "1"
    assert cases[1].find("failure") is not None
    assert cases[0].find("failure") is None


def test_reports_are_never_overwritten(tmp_path: Path) -> None:
    r = sample([("a", "pass")])
    first = report.write(r, tmp_path)
    second = report.write(r, tmp_path, junit=tmp_path / "junit.xml")
    assert first["json"] != second["json"]
    assert first["json"].exists() and second["json"].exists()
    assert second["junit"].exists()
    assert not list(tmp_path.rglob(".tmp-*"))
    listed = report.list_reports(tmp_path)
    assert len(listed) == 2 and {d["id"] for d in listed} == {first["json"].stem, second["json"].stem}


def test_check_status_is_a_closed_set() -> None:
    with pytest.raises(ValueError):
        report.Check("x", "ok", "")


def test_a_closed_output_pipe_stops_a_drill_as_sigterm_does_and_is_deferred_during_its_cleanup() -> None:
    """`dbops drill ... 2>&1 | head -8`: once head has gone, the next line the drill prints stops it through its
    SIGTERM handler (aborted, cleaned up, exit 3), never by a BrokenPipeError in the middle of its cleanup."""
    import signal

    from ops.drills.common import deferred_interrupts, interruptible

    saved = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        _closed_pipe_cases(deferred_interrupts, interruptible)
    finally:  # a stopped drill's handler stays installed (see interruptible): this process is pytest's
        for s, handler in saved.items():
            signal.signal(s, handler)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)  # whatever an earlier test left (the autouse fixture restores it)
    with pytest.raises(BrokenPipeError):  # negative control: without a drill's handler the closed pipe is raised
        report.Journal("restore", "localpg:x", "lab", echo=_closed_pipe()).event("load", "no drill")


def _closed_pipe():  # type: ignore[no-untyped-def]
    import os

    r, w = os.pipe()
    os.close(r)  # the reader is gone
    return os.fdopen(w, "w")


def _until(done, timeout_s: float = 10.0) -> None:  # type: ignore[no-untyped-def]
    """Wait for a signal sent to this process to be handled: the kernel may hand it to another thread first, and a
    busy machine may not run that thread for a while."""
    import time

    deadline = time.monotonic() + timeout_s
    while not done() and time.monotonic() < deadline:
        time.sleep(0.001)


def _closed_pipe_cases(deferred_interrupts, interruptible) -> None:  # type: ignore[no-untyped-def]
    import os

    closed_pipe = _closed_pipe
    with interruptible(echo=lambda m: None):
        journal = report.Journal("restore", "localpg:x", "lab", echo=closed_pipe())
        with pytest.raises(KeyboardInterrupt):
            journal.event("load", "a line nobody reads")
            _until(lambda: False)  # the handler raises once the signal reaches this thread
        # the drill's cleanup goes on printing: its lines go nowhere and nothing is raised
        with deferred_interrupts(lambda m: None, "cleanup") as deferred:
            journal.event("cleanup", "removed the restore")
        assert deferred.count == 0 and [e.message for e in journal.events][-1] == "removed the restore"
    # inside a cleanup, the signal the closed pipe sends is held back and counted, as a SIGTERM is
    with interruptible(echo=lambda m: None):
        journal = report.Journal("restore", "localpg:x", "lab", echo=closed_pipe())
        with deferred_interrupts(lambda m: None, "cleanup") as deferred:
            journal.event("cleanup", "deleting the restore")
            _until(lambda: deferred.count == 1)
            journal.event("cleanup", "deleted")
        assert deferred.count == 1 and len(journal.events) == 2
    # negative controls: a pipe someone reads stops nothing; without a drill's handler the closed pipe is raised
    r, w = os.pipe()
    with interruptible(echo=lambda m: None), os.fdopen(w, "w") as open_pipe:
        report.Journal("restore", "localpg:x", "lab", echo=open_pipe).event("load", "read")
    assert os.read(r, 100).endswith(b"read\n")
    os.close(r)


MALFORMED = {
    "a-list.json": b"[]",
    "latin1.json": b'{"kind": "failover", "target": "caf\xe9"}',
    "deep.json": b"[" * 100_000 + b"]" * 100_000,
    "truncated.json": b'{"schema": "dbops.report/v1", "kind": "fail',
    "empty.json": b"",
    "no-kind.json": json.dumps({"schema": report.SCHEMA, "target": "t", "status": "pass", "started_at": "x"}).encode(),
    "numeric-start.json": json.dumps({"schema": report.SCHEMA, "kind": "failover", "target": "t", "status": "pass",
                                      "started_at": 5}).encode(),
    "list-measurements.json": json.dumps({"schema": report.SCHEMA, "kind": "failover", "target": "t", "status": "pass",
                                          "started_at": "2026-11-23T03:00:00Z", "measurements": []}).encode(),
    "other-schema.json": json.dumps({"schema": "something/v9", "kind": "failover", "target": "t", "status": "pass",
                                     "started_at": "x"}).encode(),
}


def test_list_reports_skips_every_malformed_file_and_names_each_one(tmp_path: Path) -> None:
    good = report.write(sample([("a", "pass")]), tmp_path)["json"]
    for name, data in MALFORMED.items():
        (tmp_path / "failover" / name).write_bytes(data)
    skipped: list[tuple[Path, str]] = []
    listed = report.list_reports(tmp_path, on_skip=lambda path, why: skipped.append((path, why)))
    assert [r["id"] for r in listed] == [good.stem]
    assert sorted(p.name for p, _ in skipped) == sorted(MALFORMED)
    reasons = {p.name: why for p, why in skipped}
    assert "not UTF-8" in reasons["latin1.json"] and "nested too deep" in reasons["deep.json"]
    assert "not a JSON object" in reasons["a-list.json"] and "not JSON" in reasons["truncated.json"]
    assert "kind" in reasons["no-kind.json"] and "started_at" in reasons["numeric-start.json"]
    assert "measurements" in reasons["list-measurements.json"] and "schema" in reasons["other-schema.json"]
    assert report.list_reports(tmp_path, "failover")[0]["id"] == good.stem  # without a callback: quiet, no crash


def test_junit_of_a_report_with_control_characters_parses() -> None:
    r = sample([("a\x01", "fail"), ("b", "warn")])
    from dataclasses import replace

    r = replace(r, target="localpg:x\x0b\x1b[2J", checks=(report.Check("a\x01", "fail", "d\x07"), report.Check("b", "warn", "w\x1b")))
    suite = ET.fromstring(report.render_junit(r))
    assert suite.get("name") == "dbops.failover.localpg:x\\x0b\\x1b[2J"
    assert suite[0].get("name") == "a\\x01" and suite[0][0].get("message") == "d\\x07"
    assert suite[1][0].text == "warn: w\\x1b"
    assert report.printable("tab\tand\nnewline stay") == "tab\tand\nnewline stay"


def test_a_replaced_file_keeps_its_mode_and_a_new_one_gets_the_umasks(tmp_path) -> None:  # type: ignore[no-untyped-def]
    import os
    import stat

    kept = tmp_path / "scorecard.xml"
    kept.write_text("old")
    os.chmod(kept, 0o640)
    report.write_replacing(kept, "new")
    assert kept.read_text() == "new" and stat.S_IMODE(kept.stat().st_mode) == 0o640
    fresh = report.write_replacing(tmp_path / "fresh" / "scorecard.md", "x")
    assert stat.S_IMODE(fresh.stat().st_mode) == 0o666 & ~report._UMASK, "the mode a plain write gives, not mkstemp's 0600"
    assert not [p for p in tmp_path.rglob(".tmp-*")]
