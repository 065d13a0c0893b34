"""HTML report pages: every kind renders whatever the report lacks, says "not measured" for what is absent,
stays small however many canary attempts a drill made, and loads nothing from the network."""

from __future__ import annotations

import json
import math
import re
from pathlib import Path

import pytest

from ops import report as report_mod
from ops import report_html
from ops.data.canary import Ack, CanaryLog, Failure, attempt_runs

DATA = Path(__file__).resolve().parents[1] / "data" / "reports"
# A reference to something outside the page: what a browser would fetch. Namespace URIs are not fetched, and
# the page has none either.
REMOTE = re.compile(r"""(?:src|href|action|poster|data)\s*=\s*["']?\s*(?:https?:)?//|url\(\s*["']?\s*(?:https?:)?//|@import""", re.I)


def real(kind: str) -> dict:
    """A report a drill or check wrote in the lab (tests/data/reports/)."""
    return json.loads((DATA / f"{kind}.json").read_text())


def base(kind: str, **extra: object) -> dict:
    return {"schema": report_mod.SCHEMA, "kind": kind, "target": "localpg:lab-pg", "env": "lab",
            "started_at": "2026-12-07T07:00:00.000Z", "finished_at": "2026-12-07T07:00:30.000Z",
            "status": "inconclusive", "summary": "INCONCLUSIVE: test", **extra}


def runs_of(n: int) -> list[dict]:
    """n runs alternating between acknowledged and refused, 50 ms apart: a writer that flaps all drill long."""
    return [{"from": i * 0.05, "to": i * 0.05, "outcome": "acknowledged" if i % 2 else "refused",
             "server": "127.0.0.1:5433" if i % 2 else "", "n": 1} for i in range(n)]


@pytest.mark.parametrize("kind", ["failover", "restore", "cost", "backup", "connections"])
def test_every_kind_renders_without_data_and_says_not_measured(kind: str) -> None:
    page = report_html.render({"kind": kind})
    assert "<svg" not in page  # nothing to draw: no empty plot pretending otherwise
    assert "nothing was judged" in page
    if kind in report_html.KIND_PLOTS:
        assert "not" in report_html.KIND_PLOTS[kind][1] and report_html.KIND_PLOTS[kind][1] in page


@pytest.mark.parametrize("kind", ["failover", "restore", "cost"])
def test_every_kind_with_malformed_data_renders_the_generic_page(kind: str) -> None:
    bad = base(kind, details={"canary_runs": [{"from": "x"}, 3], "timeline_s": {"healed": float("nan")},
                              "services": [{"service": "RDS", "mtd_usd": float("nan")}], "restore_time": "yesterday"},
               events=[{"at": "not a time", "phase": "pre", "message": "m"}], measurements={"budget_usd": float("inf")})
    page = report_html.render(bad)
    assert "<svg" not in page and "not measured" in page


def test_nan_and_absent_measurements_are_not_measured_never_a_figure() -> None:
    page = report_html.render(base("failover", measurements={"client_write_downtime_s": float("nan"), "lost_writes": None,
                                                              "acked_writes": 12},
                                   not_measured={"lost_writes": "the writer could not be read"}))
    rows = dict(re.findall(r"<tr><td>(\w+)</td><td[^>]*>([^<]*)</td>", page))
    assert rows["client_write_downtime_s"] == "not measured (not a finite number)"
    assert rows["lost_writes"] == "not measured (the writer could not be read)"
    assert rows["acked_writes"] == "12"
    assert "nan" not in page.lower().replace("nanosecond", "") and "None" not in page


def test_failover_page_plots_every_outcome_and_the_control_plane_moments() -> None:
    data = real("failover")
    page = report_html.render(data)
    assert page.count("<svg") == 1
    outcomes = {r["outcome"] for r in data["details"]["canary_runs"]}
    assert "acknowledged" in outcomes and data["details"]["timeline_s"]["failover triggered"] == 0.0
    assert data["status"].upper() in page


def test_a_huge_number_of_attempts_keeps_the_page_small() -> None:
    small = len(report_html.render(base("failover", details={"canary_runs": runs_of(300)})))
    huge = len(report_html.render(base("failover", details={"canary_runs": runs_of(200_000)})))
    assert huge < 1.3 * small + 50_000, (small, huge)  # bounded: the plot folds what it cannot draw apart
    assert huge < 600_000


def test_folded_runs_keep_the_counts_and_the_span_and_say_mixed() -> None:
    runs = runs_of(1001)
    folded = report_html.fold_runs(runs, 100)
    assert len(folded) <= 100
    assert sum(r["n"] for r in folded) == 1001
    assert folded[0]["from"] == 0.0 and folded[-1]["to"] == runs[-1]["to"]
    assert {r["outcome"] for r in folded} == {"mixed"}  # each merged run saw both outcomes: none claims one
    assert report_html.fold_runs(runs[:50], 100) == runs[:50]  # negative control: nothing folded when it fits


def test_canary_attempts_become_runs_of_equal_outcome_bounded() -> None:
    log = CanaryLog(acks=[Ack(i, 10 + i * 0.05, 0, "127.0.0.1:5433") for i in range(1, 41)]
                    + [Ack(i, 10 + i * 0.05, 0, "127.0.0.1:5434") for i in range(61, 101)],
                    failures=[Failure(i, 10 + i * 0.05, "read only", "25006") for i in range(41, 51)]
                    + [Failure(i, 10 + i * 0.05, "connection refused") for i in range(51, 61)])
    runs = attempt_runs(log, t0=12.0)
    assert [(r["outcome"], r["server"], r["n"]) for r in runs] == [
        ("acknowledged", "127.0.0.1:5433", 40), ("read-only", "", 10), ("refused", "", 10),
        ("acknowledged", "127.0.0.1:5434", 40)]
    assert runs[0]["from"] == -1.95 and runs[1]["from"] == 0.05
    flapping = CanaryLog(acks=[Ack(i, i * 0.05, 0, "a") for i in range(0, 20_000, 2)],
                         failures=[Failure(i, i * 0.05, "refused") for i in range(1, 20_000, 2)])
    bounded = attempt_runs(flapping, t0=0.0, max_runs=400)
    assert len(bounded) <= 400 and sum(r["n"] for r in bounded) == 20_000
    assert len(json.dumps(bounded)) < 60_000


def test_restore_page_draws_t_and_the_markers_on_both_sides() -> None:
    page = report_html.render(real("restore"))
    assert page.count("<svg") == 1


def flapping_restore(n: int) -> dict:
    """A restore whose events alternate between two phases every 10 ms, with the markers on both sides of T."""
    at = lambda ms: f"2026-12-07T07:00:{ms // 1000:02d}.{ms % 1000:03d}Z"  # noqa: E731
    events = [{"at": at(0), "phase": "markers", "message": "wrote 5 markers before T"}]
    events += [{"at": at(10 + i), "phase": "wait" if i % 2 else "observe", "message": "restoring"} for i in range(n)]
    events += [{"at": at(n + 20), "phase": "markers", "message": "wrote 5 markers after T"},
               {"at": at(n + 30), "phase": "cleanup", "message": "deleted"}]
    return base("restore", events=events, finished_at=at(n + 40), details={"restore_time": at(5)})


def test_a_restore_of_many_alternating_events_keeps_its_page_small() -> None:
    page = report_html.render(flapping_restore(20_000))
    assert len(page) < 300_000, len(page)
    spans = report_html.fold_spans(report_html.phase_spans(flapping_restore(20_000)), report_html.MAX_SPANS_DRAWN)
    assert len(spans) <= report_html.MAX_SPANS_DRAWN and spans[0][1] == 0.0 and spans[-1][2] == 20.04
    assert "mixed" in {p for p, _, _ in spans}  # merged alternating phases claim neither
    assert all(a[2] == b[1] and a[0] != b[0] for a, b in zip(spans, spans[1:]))  # contiguous, equal neighbours one span
    few = report_html.phase_spans(flapping_restore(10))
    assert report_html.fold_spans(few, report_html.MAX_SPANS_DRAWN) == few  # negative control: nothing folded when it fits


def test_a_restore_plot_labels_t_by_the_clock_it_was_read_from() -> None:
    ax = report_html.restore_figure(flapping_restore(10)).axes[0]
    texts = [t.get_text() for t in ax.texts]
    assert "T (service clock)" in texts and "5 written before T" in texts and "5 written after T" in texts


def test_cost_page_draws_spend_by_service_against_the_budget() -> None:
    data = real("cost")
    assert data["details"]["services"] and data["measurements"]["budget_usd"] > 0
    assert report_html.render(data).count("<svg") == 1


@pytest.mark.parametrize("kind", ["failover", "restore", "cost"])
def test_pages_reference_nothing_on_the_network(kind: str) -> None:
    page = report_html.render(real(kind))
    assert not REMOTE.search(page)
    assert not re.search(r"https?:", page)  # not even a namespace URI: the plots are inlined without them
    assert "<script" not in page.lower() and "<link" not in page.lower()
    # negative control: the pattern finds a CDN script when there is one
    assert REMOTE.search(page.replace("</body>", '<script src="https://cdn.example/plot.js"></script></body>'))


def test_report_text_is_escaped() -> None:
    page = report_html.render(base("backup", summary="<script>alert(1)</script>",
                                   checks=[{"id": "X", "status": "fail", "detail": "<img src=x>"}]))
    assert "<script>" not in page and "<img" not in page and "&lt;img src=x&gt;" in page


def test_a_written_report_gets_its_page_beside_it(tmp_path: Path) -> None:
    j = report_mod.Journal("backup", "aurora:orders", "lab", echo=None)
    j.check("BKP-X", "pass", "ok")
    paths = report_mod.write(j.finish(), tmp_path)
    assert paths["html"] == paths["json"].with_suffix(".html") and "BKP-X" in paths["html"].read_text()


def test_a_page_that_cannot_be_rendered_loses_neither_the_report_nor_its_verdict(tmp_path: Path, monkeypatch, capsys) -> None:
    def broken(data: dict) -> str:
        raise ValueError("renderer broke")

    monkeypatch.setattr(report_html, "render", broken)
    j = report_mod.Journal("backup", "aurora:orders", "lab", echo=None)
    j.check("BKP-X", "fail", "retention 1 day")
    paths = report_mod.write(j.finish(), tmp_path)
    assert "html" not in paths and not list(tmp_path.rglob("*.html"))
    assert json.loads(paths["json"].read_text())["status"] == "fail" and paths["md"].exists()
    assert "HTML page not written" in capsys.readouterr().err


def test_an_interrupt_while_the_page_is_drawn_keeps_the_junit(tmp_path: Path, monkeypatch) -> None:
    def interrupted(data: dict) -> str:
        raise KeyboardInterrupt  # Ctrl-C during matplotlib's second or two

    monkeypatch.setattr(report_html, "render", interrupted)
    j = report_mod.Journal("backup", "aurora:orders", "lab", echo=None)
    j.check("BKP-X", "fail", "retention 1 day")
    junit = tmp_path / "ci" / "backup.xml"
    with pytest.raises(KeyboardInterrupt):
        report_mod.write(j.finish(), tmp_path / "reports", junit=junit)
    assert "BKP-X" in junit.read_text() and list((tmp_path / "reports").rglob("*.json"))
    assert not list(tmp_path.rglob("*.html")) and not list(tmp_path.rglob(".tmp-*"))


def test_a_page_is_written_over_its_stale_self_never_beside_it(tmp_path: Path) -> None:
    j = report_mod.Journal("backup", "aurora:orders", "lab", echo=None)
    j.check("BKP-X", "pass", "ok")
    json_path = report_mod.write(j.finish(), tmp_path)["json"]
    page = json_path.with_suffix(".html")
    page.write_text("stale")
    assert report_mod.write_html(json_path) == page
    assert "BKP-X" in page.read_text()
    assert sorted(p.name for p in page.parent.iterdir()) == sorted([json_path.name, page.name, json_path.with_suffix(".md").name])


def test_trend_points_say_not_measured_and_keep_the_order() -> None:
    reports = [base("failover", started_at="2026-12-07T08:00:00Z", status="pass", measurements={"client_write_downtime_s": 1.5},
                    objectives={"client_write_downtime_s": 30}),
               base("failover", started_at="2026-12-07T07:00:00Z", measurements={"client_write_downtime_s": None},
                    not_measured={"client_write_downtime_s": "no data plane"}),
               base("failover", started_at="2026-12-07T09:00:00Z", status="pass", measurements={})]
    points = report_html.trend_points(reports, "client_write_downtime_s")
    assert [p["value"] for p in points] == [None, 1.5, None]
    text = report_html.trend_text(points, "client_write_downtime_s")
    assert "not measured (no data plane)" in text and "not measured (not recorded by this report)" in text
    assert "1.5" in text and "None" not in text
    page = report_html.render_trend(points, "client_write_downtime_s", "kind failover")
    assert page.count("<svg") == 1 and not re.search(r"https?:", page)
    assert report_html.render_trend([], "x", "every report").count("<svg") == 0


def test_non_finite_numbers_are_not_measured() -> None:
    assert report_html.number(math.nan) is None and report_html.number(math.inf) is None
    assert report_html.number(True) is None and report_html.number(0) == 0.0
    assert report_html.shown(None, "why") == "not measured (why)" and report_html.shown(0.5) == "0.500"


def test_a_trend_joins_each_targets_figures_never_two_targets() -> None:
    reports = [base("failover", target=t, started_at=f"2026-12-07T0{h}:00:00Z", status="pass",
                    measurements={"client_write_downtime_s": v})
               for h, t, v in ((1, "aurora:a", 1.0), (2, "aurora:b", 9.0), (3, "aurora:a", 2.0), (4, "aurora:b", None))]
    series = report_html.trend_series(report_html.trend_points(reports, "client_write_downtime_s"))
    assert {t: [v for _, v in line] for t, line in series.items()} == {("lab", "aurora:a"): [1.0, 2.0],
                                                                       ("lab", "aurora:b"): [9.0]}
    one = report_html.trend_series(report_html.trend_points(reports[:1], "client_write_downtime_s"))
    assert list(one) == [("lab", "aurora:a")]


def test_a_trend_never_joins_two_envs_figures_and_its_legend_names_both() -> None:
    reports = [base("failover", env=e, started_at=f"2026-12-07T0{h}:00:00Z", status="pass",
                    measurements={"client_write_downtime_s": v})
               for h, e, v in ((1, "lab", 1.0), (2, "prod", 30.0), (3, "lab", 2.0), (4, "prod", 31.0))]
    points = report_html.trend_points(reports, "client_write_downtime_s")
    assert [p["env"] for p in points] == ["lab", "prod", "lab", "prod"]
    series = report_html.trend_series(points)
    assert {k: [v for _, v in line] for k, line in series.items()} == {("lab", "localpg:lab-pg"): [1.0, 2.0],
                                                                       ("prod", "localpg:lab-pg"): [30.0, 31.0]}
    legend = [t.get_text() for t in report_html.trend_figure(points, "client_write_downtime_s").axes[0].get_legend().get_texts()]
    assert "localpg:lab-pg (lab)" in legend and "localpg:lab-pg (prod)" in legend
    assert "prod" in report_html.trend_text(points, "client_write_downtime_s").splitlines()[2]


def test_a_trend_draws_not_measured_below_the_axis_never_at_zero() -> None:
    reports = [base("failover", started_at=f"2026-12-07T0{h}:00:00Z", status="pass",
                    measurements={"client_write_downtime_s": v}) for h, v in ((1, 10.0), (2, None), (3, 20.0), (4, None))]
    points = report_html.trend_points(reports, "client_write_downtime_s")
    ax = report_html.trend_figure(points, "client_write_downtime_s").axes[0]
    assert ax.get_ylim()[0] > 5, ax.get_ylim()  # a missing figure is no 0 s downtime: the scale is the measured one
    strip = [c for c in ax.collections if c.get_label() == "not measured"]
    assert len(strip) == 1 and not strip[0].get_clip_on()
    assert strip[0].get_offset_transform() == ax.get_xaxis_transform()  # y in axes fraction
    assert all(y < 0 for _, y in strip[0].get_offsets())  # below the axis
    from matplotlib.dates import num2date

    assert num2date(ax.get_xlim()[1]) > points[-1]["at"]  # a last report that measured nothing is still in view
    measured = [c for c in ax.collections if c.get_label() == "pass"]
    assert sorted(y for _, y in measured[0].get_offsets()) == [10.0, 20.0]  # negative control: figures on the scale


def test_a_missing_projected_spend_is_not_measured_never_a_zero_bar() -> None:
    data = base("cost", details={"services": [{"service": "RDS", "mtd_usd": 40.0, "projected_usd": 90.0},
                                              {"service": "S3", "mtd_usd": 5.0, "projected_usd": None}]},
                measurements={"budget_usd": 200.0})
    ax = report_html.cost_figure(data).axes[0]
    widths = sorted(round(p.get_width(), 3) for p in ax.patches)
    assert widths == [5.0, 40.0, 90.0], widths  # no zero-width projected S3 segment
    notes = [t.get_text() for t in ax.texts]
    assert any("not measured" in n and "S3" in n for n in notes), notes
    whole = base("cost", details={"services": [{"service": "RDS", "mtd_usd": 40.0, "projected_usd": 90.0}]})
    assert not any("not measured" in t.get_text() for t in report_html.cost_figure(whole).axes[0].texts)


def test_folded_others_say_not_measured_when_one_of_them_was_not() -> None:
    services = [{"service": f"s{i}", "mtd_usd": 1.0, "projected_usd": 2.0} for i in range(10)]
    services[-1]["projected_usd"] = None
    ax = report_html.cost_figure(base("cost", details={"services": services})).axes[0]
    assert any("not measured" in t.get_text() and "others" in t.get_text() for t in ax.texts)
