"""`dbops report show --html` and `dbops report trend`: what a user runs on the report directory."""

from __future__ import annotations

import json
import re
from pathlib import Path

from click.testing import CliRunner

from ops import report as report_mod
from ops.cli import cli


def write(report_dir: Path, started: str, downtime: float | None, status: str = "pass", env: str = "lab") -> Path:
    j = report_mod.Journal("failover", "localpg:lab-pg", env, echo=None)
    j.check("FO-RTO", "pass" if downtime is not None else "unknown", "detail", objective=True)
    if downtime is None:
        j.mark_not_measured("client_write_downtime_s", "no data plane")
    else:
        j.measure("client_write_downtime_s", downtime)
    r = j.finish(status)
    from dataclasses import replace

    return report_mod.write(replace(r, started_at=started), report_dir)["json"]


def run(*args: str):  # type: ignore[no-untyped-def]
    return CliRunner().invoke(cli, list(args), catch_exceptions=False)


def test_show_html_prints_the_page_and_writes_it_when_missing(tmp_path: Path) -> None:
    path = write(tmp_path, "2026-12-07T07:00:00.000Z", 1.25)
    page = path.with_suffix(".html")
    page.unlink()  # a report written before pages were
    result = run("report", "show", path.stem, "--html", "--report-dir", str(tmp_path))
    assert result.exit_code == 0, result.output
    assert result.stdout.strip() == str(page) and "FO-RTO" in page.read_text()
    before = page.stat().st_mtime_ns
    again = run("report", "show", path.stem, "--html", "--report-dir", str(tmp_path))
    assert again.stdout.strip() == str(page) and page.stat().st_mtime_ns == before  # an existing page is kept
    assert not list(tmp_path.rglob("*-1.html"))


def test_show_html_of_an_unknown_report_is_one_line_exit_2(tmp_path: Path) -> None:
    result = run("report", "show", "nope", "--html", "--report-dir", str(tmp_path))
    assert result.exit_code == 2 and "no report 'nope'" in result.stderr and "Traceback" not in result.output
    assert not list(tmp_path.rglob("*.html"))


def test_trend_prints_a_table_and_writes_a_page(tmp_path: Path) -> None:
    for i, downtime in enumerate((1.5, None, 2.25)):
        write(tmp_path / "reports", f"2026-12-0{i + 1}T07:00:00.000Z", downtime)
    out = tmp_path / "trend.html"
    result = run("report", "trend", "--kind", "failover", "--report-dir", str(tmp_path / "reports"), "--out", str(out))
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert "client_write_downtime_s" in lines[0]
    values = [line.split()[-1] if "not measured" not in line else "not measured" for line in lines[1:4]]
    assert values == ["1.500", "not measured", "2.250"]
    assert lines[-1] == f"page: {out}" and out.read_text().count("<svg") == 1
    as_json = run("report", "trend", "--kind", "failover", "--target", "localpg:lab-pg", "--json",
                  "--report-dir", str(tmp_path / "reports"))
    assert [p["value"] for p in json.loads(as_json.stdout)] == [1.5, None, 2.25]
    other = run("report", "trend", "--kind", "failover", "--target", "aurora:orders", "--report-dir", str(tmp_path / "reports"))
    assert other.stdout.strip() == "no reports to plot client_write_downtime_s from"


def test_trend_of_one_env_leaves_the_others_out(tmp_path: Path) -> None:
    for i, (env, downtime) in enumerate((("lab", 1.5), ("prod", 40.0), ("lab", 2.25))):
        write(tmp_path, f"2026-12-0{i + 1}T07:00:00.000Z", downtime, env=env)
    lab = run("report", "trend", "--kind", "failover", "--env", "lab", "--json", "--report-dir", str(tmp_path))
    assert lab.exit_code == 0, lab.output
    assert [(p["env"], p["value"]) for p in json.loads(lab.stdout)] == [("lab", 1.5), ("lab", 2.25)]
    every = run("report", "trend", "--kind", "failover", "--json", "--report-dir", str(tmp_path))
    assert [p["env"] for p in json.loads(every.stdout)] == ["lab", "prod", "lab"]  # negative control: all by default
    out = tmp_path / "prod.html"
    prod = run("report", "trend", "--kind", "failover", "--env", "prod", "--out", str(out), "--report-dir", str(tmp_path))
    assert "40.000" in prod.stdout and "1.500" not in prod.stdout and "env prod" in out.read_text()
    none = run("report", "trend", "--kind", "failover", "--env", "stage", "--report-dir", str(tmp_path))
    assert none.exit_code == 0 and none.stdout.strip() == "no reports to plot client_write_downtime_s from"


def test_trend_bad_input_is_one_line_exit_2_and_writes_nothing(tmp_path: Path) -> None:
    no_measurement = run("report", "trend", "--report-dir", str(tmp_path))
    assert no_measurement.exit_code == 2 and "--measurement NAME is needed" in no_measurement.stderr
    out = tmp_path / "trend.html"
    out.write_text("mine")
    exists = run("report", "trend", "--kind", "failover", "--out", str(out), "--report-dir", str(tmp_path))
    assert exists.exit_code == 2 and "never written over" in exists.stderr and out.read_text() == "mine"
    blank = run("report", "trend", "--kind", " ", "--report-dir", str(tmp_path))
    assert blank.exit_code == 2 and len(blank.stderr.strip().splitlines()) == 1
    blank_env = run("report", "trend", "--kind", "failover", "--env", "", "--report-dir", str(tmp_path))
    assert blank_env.exit_code == 2 and len(blank_env.stderr.strip().splitlines()) == 1
    assert "Traceback" not in no_measurement.output + exists.output + blank.output
    assert re.fullmatch(r"trend\.html", " ".join(p.name for p in tmp_path.iterdir()))


def test_report_help_imports_no_plotting_code() -> None:
    import subprocess
    import sys

    code = ("import sys\nfrom ops.cli import main\nsys.argv = ['dbops', 'report', 'trend', '--help']\n"
            "try:\n    main()\nexcept SystemExit as e:\n    assert e.code in (0, None), e.code\n"
            "print('LOADED=' + ','.join(m for m in ('matplotlib', 'jinja2', 'numpy') if m in sys.modules))\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert "--measurement" in out and out.strip().splitlines()[-1] == "LOADED="


def test_list_trend_and_show_skip_malformed_reports_with_one_warning_each(tmp_path: Path) -> None:
    write(tmp_path, "2026-12-07T07:00:00.000Z", 1.25)
    bad = {"a-list.json": b"[]", "latin1.json": b"\xff\xfe{", "deep.json": b"[" * 100_000 + b"]" * 100_000,
           "truncated.json": b'{"schema": "dbops.report/v1"', "no-kind.json": b'{"schema": "dbops.report/v1"}'}
    for name, data in bad.items():
        (tmp_path / "failover" / name).write_bytes(data)
    listed = run("report", "list", "--report-dir", str(tmp_path))
    trend = run("report", "trend", "--kind", "failover", "--report-dir", str(tmp_path))
    for result in (listed, trend):
        assert result.exit_code == 0 and "localpg:lab-pg" in result.stdout
        lines = result.stderr.strip().splitlines()
        assert len(lines) == len(bad) and all(line.startswith("dbops: warning:") for line in lines)
        assert {name for name in bad for line in lines if name in line} == set(bad)
    shown = run("report", "show", "latin1", "--report-dir", str(tmp_path))
    assert shown.exit_code == 2 and "latin1.json is not a readable report: not UTF-8 text" in shown.stderr
    assert "Traceback" not in listed.output + trend.output + shown.output


def test_list_and_trend_escape_control_characters_of_a_target_and_summary(tmp_path: Path) -> None:
    path = write(tmp_path, "2026-12-07T07:00:00.000Z", 1.25)
    data = json.loads(path.read_text())
    path.write_text(json.dumps(data | {"target": "localpg:x\x1b[2J\x1b]0;pwned\x07", "summary": "s\x1b[2J\x0b"}))
    listed = run("report", "list", "--report-dir", str(tmp_path))
    trend = run("report", "trend", "--kind", "failover", "--report-dir", str(tmp_path))
    shown = run("report", "show", path.stem, "--report-dir", str(tmp_path))
    for result in (listed, trend, shown):
        assert result.exit_code == 0, result.output
        assert not re.search(r"[\x00-\x08\x0b-\x1f\x7f]", result.output), repr(result.output)
    assert "localpg:x\\x1b[2J\\x1b]0;pwned\\x07" in listed.stdout and "localpg:x\\x1b[2J" in trend.stdout


def test_trend_target_must_be_kind_name_and_an_unwritable_out_is_one_line_exit_2(tmp_path: Path) -> None:
    write(tmp_path, "2026-12-07T07:00:00.000Z", 1.25)
    for target in ("nope", "localpg:", ":lab-pg"):
        bad = run("report", "trend", "--kind", "failover", "--target", target, "--report-dir", str(tmp_path))
        assert bad.exit_code == 2 and "KIND:NAME" in bad.stderr and len(bad.stderr.strip().splitlines()) == 1
    good = run("report", "trend", "--kind", "failover", "--target", "localpg:lab-pg", "--report-dir", str(tmp_path))
    assert good.exit_code == 0 and "1.250" in good.stdout  # negative control: a KIND:NAME target is taken
    under_a_file = tmp_path / "failover" / next((tmp_path / "failover").glob("*.json")).name / "x.html"
    for out in ("/proc/x.html", str(under_a_file)):  # places no file can be made
        unwritable = run("report", "trend", "--kind", "failover", "--out", out, "--report-dir", str(tmp_path))
        assert unwritable.exit_code == 2 and len(unwritable.stderr.strip().splitlines()) == 1, unwritable.output
        assert "not written" in unwritable.stderr and "unexpected error" not in unwritable.stderr


def test_show_of_a_report_without_its_markdown_is_one_line_exit_2(tmp_path: Path) -> None:
    path = write(tmp_path, "2026-12-07T07:00:00.000Z", 1.25)
    path.with_suffix(".md").unlink()
    shown = run("report", "show", path.stem, "--report-dir", str(tmp_path))
    assert shown.exit_code == 2 and len(shown.stderr.strip().splitlines()) == 1
    assert "has no Markdown" in shown.stderr and "--json" in shown.stderr and "unexpected error" not in shown.stderr
    assert run("report", "show", path.stem, "--json", "--report-dir", str(tmp_path)).exit_code == 0


def test_a_huge_figure_is_shown_in_scientific_notation_and_plotted_without_warnings(tmp_path: Path) -> None:
    import warnings

    write(tmp_path, "2026-12-07T07:00:00.000Z", 1e308)
    write(tmp_path, "2026-12-07T08:00:00.000Z", 1.25)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        result = run("report", "trend", "--kind", "failover", "--out", str(tmp_path / "t.html"), "--report-dir", str(tmp_path))
    assert result.exit_code == 0 and result.stderr == "", result.stderr
    assert "1.000e+308" in result.stdout and "1.250" in result.stdout
    assert max(len(line) for line in result.stdout.splitlines()) < 200  # not 309 digits
    assert [str(w.message) for w in caught] == []
