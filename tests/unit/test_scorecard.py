"""The resilience scorecard judged over report histories written by ops.report.write, without a lab."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest

from ops import config as config_mod
from ops import report as report_mod
from ops import scorecard as sc
from ops.clock import iso, utcnow
from ops.errors import ConfigError
from tests.conftest import Cli

NOW = datetime(2026, 12, 1, 12, 0, tzinfo=timezone.utc)
AURORA = "aurora:orders"


def cfg(tmp_path: Path, lab: dict[str, Any] | None = None, **policy: Any) -> config_mod.Config:
    """The judging rules with one drill enough for a verdict, unless a test sets min_evidence_drills itself."""
    return config_mod.parse({"policy": {"rto_seconds": 60, "rpo_seconds": 300, "max_lost_writes": 0, "min_evidence_drills": 1, **policy},
                             "envs": {"lab": {"endpoint": "embedded", **(lab or {})}}}, tmp_path, None, {})


def drill(report_dir: Path, kind: str, status: str, days_ago: float, target: str = AURORA, env: str = "lab",
          not_measured: dict[str, str] | None = None, now: datetime = NOW, details: dict[str, Any] | None = None,
          region: str | None = None, account: str | None = None, **measurements: Any) -> str:
    started = now - timedelta(days=days_ago)
    r = report_mod.Report(kind=kind, target=target, env=env, started_at=iso(started), finished_at=iso(started + timedelta(minutes=1)),
                          status=status, summary=status.upper(), measurements=measurements, not_measured=not_measured or {},
                          objectives={}, checks=(), events=(), details=details or {}, region=region, account=account)
    return report_mod.write(r, report_dir)["json"].stem


def failover(report_dir: Path, downtime: float | None, status: str = "pass", days_ago: float = 1, lost: int = 0, **kw: Any) -> str:
    if downtime is None:
        return drill(report_dir, "failover", status, days_ago, not_measured={"client_write_downtime_s": "the watch ended early"},
                     client_write_downtime_s=None, lost_writes=lost, **kw)
    return drill(report_dir, "failover", status, days_ago, client_write_downtime_s=downtime, lost_writes=lost, **kw)


def objective(card: dict, oid: str, target: str = AURORA) -> dict:
    row = next(t for t in card["targets"] if t["target"] == target)
    return next(o for o in row["objectives"] if o["id"] == oid)


def build(tmp_path: Path, targets: tuple[str, ...] = (), now: datetime = NOW, lab: dict[str, Any] | None = None, **policy: Any) -> dict:
    return sc.build_scorecard(cfg(tmp_path, lab, **policy), "lab", tmp_path / "reports", targets, now=now)


def lower_bound(report_dir: Path, downtime: float, days_ago: float = 1) -> str:
    """A failover that never completed: its downtime is only how long writes were refused before the watch ended."""
    return drill(report_dir, "failover", "fail", days_ago, details={"downtime_is_lower_bound": True},
                 client_write_downtime_s=downtime, lost_writes=0)


def test_p95_downtime_within_rto_with_a_passing_drill_is_met(tmp_path: Path) -> None:
    ids = [failover(tmp_path / "reports", d, days_ago=n + 1) for n, d in enumerate((12.5, 30.0, 20.0))]
    rto = objective(build(tmp_path), "RTO")
    assert rto["status"] == sc.MET
    assert rto["measured"] == 30.0 and rto["objective"] == 60.0  # nearest-rank p95 of three: the largest
    assert sorted(rto["reports"]) == sorted(ids)
    assert objective(build(tmp_path), "LOST-WRITES")["status"] == sc.MET


def test_downtime_over_rto_is_breached_even_when_the_drill_failed(tmp_path: Path) -> None:
    failover(tmp_path / "reports", 90.0, status="fail")
    rto = objective(build(tmp_path), "RTO")
    assert (rto["status"], rto["measured"]) == (sc.BREACHED, 90.0)
    assert "> objective 60" in rto["reason"]


def test_lost_writes_breach_on_any_drill_over_the_objective(tmp_path: Path) -> None:
    failover(tmp_path / "reports", 5.0, days_ago=2)
    failover(tmp_path / "reports", 5.0, status="fail", lost=3)
    lost = objective(build(tmp_path), "LOST-WRITES")
    assert (lost["status"], lost["measured"]) == (sc.BREACHED, 3.0)


def test_a_named_target_without_drills_is_unproven_not_met(tmp_path: Path) -> None:
    card = build(tmp_path, targets=("aurora:billing",))
    for oid in ("RTO", "LOST-WRITES", "RPO"):
        o = objective(card, oid, "aurora:billing")
        assert o["status"] == sc.UNPROVEN and o["measured"] == "not measured"
        assert o["reason"].startswith("no ")


def test_a_dynamodb_table_is_held_to_its_rpo_and_restores_not_to_failovers(tmp_path: Path) -> None:
    drill(tmp_path / "reports", "restore", "pass", 1, target="dynamodb:orders", rpo_s=300.0, restore_duration_s=120.0)
    card = build(tmp_path, availability_percent=99.99, failovers_per_year=12, restores_per_year=2)
    row = next(t for t in card["targets"] if t["target"] == "dynamodb:orders")
    assert [o["id"] for o in row["objectives"]] == ["RPO", "AVAILABILITY"]
    budget = objective(card, "AVAILABILITY", "dynamodb:orders")
    assert budget["status"] == sc.MET and budget["spent_minutes_per_year"] == 4.0  # two restores of 2 min, no failover
    assert budget["one_failover_minutes"] == "not measured"
    # with no restore a year declared, nothing measured spends its budget: unproven, never met on nothing
    nothing = objective(build(tmp_path, availability_percent=99.99, failovers_per_year=12), "AVAILABILITY", "dynamodb:orders")
    assert nothing["status"] == sc.UNPROVEN and "nothing measured spends its budget" in nothing["reason"]


def test_evidence_older_than_the_max_age_is_unproven(tmp_path: Path) -> None:
    failover(tmp_path / "reports", 10.0, days_ago=40)
    rto = objective(build(tmp_path), "RTO")
    assert rto["status"] == sc.UNPROVEN and "40.0 days old" in rto["reason"]
    # the same report is evidence under a longer max age: the age alone made it unproven
    assert objective(build(tmp_path, evidence_max_age_days=45), "RTO")["status"] == sc.MET


def test_only_failed_drills_within_the_objective_are_unproven(tmp_path: Path) -> None:
    failover(tmp_path / "reports", 10.0, status="fail")
    rto = objective(build(tmp_path), "RTO")
    assert rto["status"] == sc.UNPROVEN and "only failed drills" in rto["reason"]
    failover(tmp_path / "reports", 11.0, status="pass")
    assert objective(build(tmp_path), "RTO")["status"] == sc.MET


@pytest.mark.parametrize("status", ["error", "inconclusive", "aborted"])
def test_drills_that_did_not_judge_are_not_evidence(tmp_path: Path, status: str) -> None:
    failover(tmp_path / "reports", 10.0, status=status)
    rto = objective(build(tmp_path), "RTO")
    assert rto["status"] == sc.UNPROVEN and status in rto["reason"]


def test_a_measurement_marked_not_measured_is_not_evidence(tmp_path: Path) -> None:
    failover(tmp_path / "reports", None)
    rto = objective(build(tmp_path), "RTO")
    assert rto["status"] == sc.UNPROVEN and rto["measured"] == "not measured"
    assert "not measured by any of 1 failover" in rto["reason"]
    assert objective(build(tmp_path), "LOST-WRITES")["status"] == sc.MET  # what the same drill did measure counts


def test_nan_and_infinite_figures_are_not_evidence_and_huge_ones_breach(tmp_path: Path) -> None:
    failover(tmp_path / "reports", float("nan"))  # Python's json writes NaN and reads it back
    failover(tmp_path / "reports", float("inf"), days_ago=2)
    assert objective(build(tmp_path), "RTO")["status"] == sc.UNPROVEN
    failover(tmp_path / "reports", 1e300, days_ago=3)
    rto = objective(build(tmp_path, availability_percent=99.99, failovers_per_year=12), "RTO")
    assert (rto["status"], rto["measured"]) == (sc.BREACHED, 1e300)
    budget = objective(build(tmp_path, availability_percent=99.99, failovers_per_year=12), "AVAILABILITY")
    assert budget["status"] == sc.BREACHED
    failover(tmp_path / "reports", 1.7e308, days_ago=4)  # times 12 a year would overflow to infinity
    budget = objective(build(tmp_path, availability_percent=99.99, failovers_per_year=525_960), "AVAILABILITY")
    assert budget["status"] == sc.BREACHED and budget["spent_minutes_per_year"] == sc.MINUTES_PER_YEAR
    assert budget["measured"] == 0.0  # down the whole year, and the card stays valid JSON
    json.loads(json.dumps(build(tmp_path, availability_percent=99.99, failovers_per_year=525_960), allow_nan=False))


def test_a_negative_figure_is_not_evidence_and_spends_no_budget(tmp_path: Path) -> None:
    reports = tmp_path / "reports"
    bad_failover = failover(reports, -5.0, lost=-1)  # a hand-edited report: no drill measures a negative downtime
    bad_restore = drill(reports, "restore", "pass", 1, rpo_s=-1.0, restore_duration_s=-10.0)
    card = build(tmp_path, availability_percent=99.99, failovers_per_year=12, restores_per_year=1)
    for oid, report in (("RTO", bad_failover), ("LOST-WRITES", bad_failover), ("RPO", bad_restore)):
        row = objective(card, oid)
        assert (row["status"], row["measured"]) == (sc.UNPROVEN, "not measured"), row
        assert f"negative value in report {report}" in row["reason"]
    budget = objective(card, "AVAILABILITY")
    assert budget["status"] == sc.UNPROVEN and budget["spent_minutes_per_year"] == "not measured"
    assert card["targets"][0]["restore_time_p95_s"] == "not measured"
    failover(reports, 10.0, days_ago=2)  # a real figure beside it is judged, the negative one still left out
    rto = objective(build(tmp_path), "RTO")
    assert (rto["status"], rto["measured"], rto["samples"]) == (sc.MET, 10.0, 1)


def test_a_report_whose_start_cannot_be_read_is_not_fresh_evidence(tmp_path: Path) -> None:
    path = tmp_path / "reports" / "failover" / f"{failover(tmp_path / 'reports', 10.0)}.json"
    data = json.loads(path.read_text())
    path.write_text(json.dumps(data | {"started_at": "yesterday"}))
    rto = objective(build(tmp_path), "RTO")
    assert rto["status"] == sc.UNPROVEN and "unreadable start time" in rto["reason"]


def test_other_envs_reports_are_not_evidence(tmp_path: Path) -> None:
    failover(tmp_path / "reports", 10.0, env="prod")
    assert build(tmp_path)["targets"] == []


def test_rpo_is_judged_from_restore_drills(tmp_path: Path) -> None:
    drill(tmp_path / "reports", "restore", "pass", 1, rpo_s=120.0, restore_duration_s=600.0)
    card = build(tmp_path)
    assert (objective(card, "RPO")["status"], objective(card, "RPO")["measured"]) == (sc.MET, 120.0)
    assert card["targets"][0]["restore_time_p95_s"] == 600.0
    drill(tmp_path / "reports", "restore", "pass", 0.5, rpo_s=400.0, restore_duration_s=500.0)
    assert objective(build(tmp_path), "RPO")["status"] == sc.BREACHED


def test_budget_of_99_99_percent_is_52_6_minutes_a_year() -> None:
    assert round(sc.budget_minutes(99.99), 1) == 52.6
    assert round(sc.budget_minutes(99.9), 1) == 526.0


def test_twelve_failovers_of_30_s_spend_6_minutes_11_4_percent_of_99_99(tmp_path: Path) -> None:
    failover(tmp_path / "reports", 30.0)
    budget = objective(build(tmp_path, availability_percent=99.99, failovers_per_year=12), "AVAILABILITY")
    assert budget["status"] == sc.MET
    assert budget["spent_minutes_per_year"] == 6.0
    assert round(budget["spent_share_percent"], 1) == 11.4
    assert round(budget["one_failover_share_percent"], 2) == 0.95  # one failover: 0.5 of 52.6 minutes


def test_restores_declared_add_their_measured_time(tmp_path: Path) -> None:
    failover(tmp_path / "reports", 30.0)
    drill(tmp_path / "reports", "restore", "pass", 1, rpo_s=60.0, restore_duration_s=1200.0)
    budget = objective(build(tmp_path, availability_percent=99.99, failovers_per_year=12, restores_per_year=1), "AVAILABILITY")
    assert budget["spent_minutes_per_year"] == 26.0  # 6 + one restore of 20 minutes
    over = objective(build(tmp_path, availability_percent=99.99, failovers_per_year=12, restores_per_year=3), "AVAILABILITY")
    assert over["status"] == sc.BREACHED  # 6 + 60 > 52.6


def test_budget_without_a_failover_measurement_is_unproven(tmp_path: Path) -> None:
    drill(tmp_path / "reports", "restore", "pass", 1, rpo_s=60.0, restore_duration_s=60.0)
    budget = objective(build(tmp_path, availability_percent=99.99, failovers_per_year=12), "AVAILABILITY")
    assert budget["status"] == sc.UNPROVEN
    assert budget["spent_minutes_per_year"] == budget["one_failover_share_percent"] == "not measured"
    assert "failover downtime" in budget["reason"]


def test_no_budget_objective_unless_availability_is_declared(tmp_path: Path) -> None:
    failover(tmp_path / "reports", 30.0)
    card = build(tmp_path)
    assert [o["id"] for o in card["targets"][0]["objectives"]] == ["RTO", "LOST-WRITES", "RPO"]
    assert "No availability objective declared" in sc.render_markdown(card)


def test_drift_names_status_changes_and_moved_measurements(tmp_path: Path) -> None:
    reports = tmp_path / "reports"
    failover(reports, 20.0, days_ago=2)
    first = build(tmp_path, now=NOW - timedelta(days=1))
    assert first["drift"]["said"] == "no earlier scorecard"
    kept = report_mod.write(sc.to_report(first), reports)["json"].stem
    failover(reports, 95.0, days_ago=0.5)
    second = build(tmp_path)
    assert second["drift"]["since"] == kept
    changes = {(c["objective"], c["change"]): c for c in second["drift"]["changes"]}
    assert (changes[("RTO", "status")]["from"], changes[("RTO", "status")]["to"]) == (sc.MET, sc.BREACHED)
    assert changes[("RTO", "measured")]["delta"] == 75.0
    assert ("LOST-WRITES", "status") not in changes  # unchanged objectives are not drift
    # with nothing new, the next scorecard has no drift from the one before it
    report_mod.write(sc.to_report(second), reports)
    assert build(tmp_path, now=NOW + timedelta(hours=1))["drift"]["changes"] == []


def test_kept_scorecard_is_a_report_with_one_objective_check_per_target_objective(tmp_path: Path) -> None:
    failover(tmp_path / "reports", 90.0)
    r = sc.to_report(build(tmp_path))
    assert r.status == "fail" and len(r.checks) == 3
    assert r.measurements[f"{AURORA}.RTO"] == 90.0 and r.measurements[f"{AURORA}.RPO"] is None
    assert "no restore drill" in r.not_measured[f"{AURORA}.RPO"]
    assert "None" not in report_mod.render_markdown(r)


def test_a_lower_bound_within_the_rto_is_left_out_and_the_reason_says_so(tmp_path: Path) -> None:
    reports = tmp_path / "reports"
    exact = [failover(reports, d, days_ago=n + 2) for n, d in enumerate((10.0, 12.0, 14.0))]
    lower_bound(reports, 30.0)
    rto = objective(build(tmp_path, min_evidence_drills=3), "RTO")
    assert (rto["status"], rto["measured"], rto["samples"]) == (sc.MET, 14.0, 3)
    assert sorted(rto["reports"]) == sorted(exact)
    assert "1 failover(s) left out: the downtime is only a lower bound (the failover never completed)" in rto["reason"]


def test_a_lower_bound_over_the_rto_is_a_breach_and_one_within_proves_nothing(tmp_path: Path) -> None:
    lower_bound(tmp_path / "reports", 30.0)
    alone = objective(build(tmp_path), "RTO")
    assert alone["status"] == sc.UNPROVEN and alone["measured"] == "not measured" and "lower bound" in alone["reason"]
    lower_bound(tmp_path / "reports", 90.0, days_ago=2)
    rto = objective(build(tmp_path, min_evidence_drills=3), "RTO")
    assert (rto["status"], rto["measured"], rto["samples"]) == (sc.BREACHED, 90.0, 1)


def test_the_budget_leaves_out_a_lower_bound_unless_it_alone_breaches(tmp_path: Path) -> None:
    reports = tmp_path / "reports"
    for n in range(3):
        failover(reports, 30.0, days_ago=n + 2)
    lower_bound(reports, 40.0)
    budget = objective(build(tmp_path, availability_percent=99.99, failovers_per_year=12, min_evidence_drills=3), "AVAILABILITY")
    assert (budget["status"], budget["spent_minutes_per_year"]) == (sc.MET, 6.0)  # the exact 30 s, not the bound
    assert "1 failover(s) left out" in budget["reason"]
    lower_bound(reports, 600.0, days_ago=0.5)  # 12 a year of at least 10 minutes: over 52.6 whatever the rest
    over = objective(build(tmp_path, availability_percent=99.99, failovers_per_year=12, min_evidence_drills=3), "AVAILABILITY")
    assert over["status"] == sc.BREACHED and "lower bound" in over["reason"]


def test_fewer_drills_than_the_minimum_are_unproven_but_one_breach_is_enough(tmp_path: Path) -> None:
    reports = tmp_path / "reports"
    failover(reports, 10.0, days_ago=2)
    failover(reports, 20.0, days_ago=3)
    policy = config_mod.parse({"envs": {"lab": {"endpoint": "embedded"}}}, tmp_path, None, {}).policy
    assert policy.min_evidence_drills == 3
    card = sc.build_scorecard(config_mod.parse({"envs": {"lab": {"endpoint": "embedded"}}}, tmp_path, None, {}), "lab", reports, now=NOW)
    rto = objective(card, "RTO")
    assert rto["status"] == sc.UNPROVEN and "2 drills, 3 needed" in rto["reason"]
    assert rto["measured"] == 20.0 and rto["aggregate"] == "max of 2"  # the figure is shown, the verdict withheld
    failover(reports, 90.0, days_ago=1)
    failover(reports, 5.0, days_ago=0.5, status="fail", lost=1)
    card = build(tmp_path, min_evidence_drills=5)
    assert objective(card, "RTO")["status"] == sc.BREACHED and objective(card, "LOST-WRITES")["status"] == sc.BREACHED


def test_below_twenty_samples_the_figure_is_the_max_and_from_twenty_the_p95(tmp_path: Path) -> None:
    reports = tmp_path / "reports"
    for n in range(3):
        failover(reports, 10.0 + n, days_ago=n + 1)
    rto = objective(build(tmp_path), "RTO")
    assert rto["aggregate"] == "max of 3" and rto["reason"].startswith("max of 3: 12 s")
    for n in range(16):
        failover(reports, 10.0, days_ago=5 + n)
    worst = failover(reports, 90.0, days_ago=30)
    rto = objective(build(tmp_path), "RTO")
    # nearest-rank p95 of 20 is the 19th: one drill over the objective does not move it, but it is on the card
    assert (rto["status"], rto["aggregate"], rto["measured"]) == (sc.MET, "p95 of 20", 12.0)
    assert (rto["worst"], rto["worst_report"], rto["over_objective"]) == (90.0, worst, 1)
    assert "1 of 20 over the objective (worst 90 s" in rto["reason"]


def test_the_budget_obeys_the_minimum_evidence(tmp_path: Path) -> None:
    failover(tmp_path / "reports", 30.0)
    failover(tmp_path / "reports", 30.0, days_ago=2)
    budget = objective(build(tmp_path, availability_percent=99.99, failovers_per_year=12, min_evidence_drills=3), "AVAILABILITY")
    assert budget["status"] == sc.UNPROVEN and "failover downtime (2 drills, 3 needed)" in budget["reason"]
    assert budget["spent_minutes_per_year"] == 6.0  # the figure is shown, the verdict withheld


@pytest.mark.parametrize("value", [0, 1.5, True, "3", 10**6])
def test_min_evidence_drills_is_validated(tmp_path: Path, value: Any) -> None:
    with pytest.raises(ConfigError, match="'policy.min_evidence_drills' must be"):
        cfg(tmp_path, min_evidence_drills=value)


def test_drift_names_a_changed_objective(tmp_path: Path) -> None:
    reports = tmp_path / "reports"
    failover(reports, 20.0, days_ago=2)
    report_mod.write(sc.to_report(build(tmp_path, now=NOW - timedelta(days=1))), reports)
    loosened = build(tmp_path, rto_seconds=120)
    change = next(c for c in loosened["drift"]["changes"] if c["objective"] == "RTO")
    assert (change["change"], change["from"], change["to"]) == ("objective", 60.0, 120.0)


def test_drift_is_measured_against_a_scorecard_of_the_envs_own_account(tmp_path: Path) -> None:
    reports = tmp_path / "reports"
    failover(reports, 20.0, days_ago=2, account="111111111111")
    other = sc.to_report(build(tmp_path, now=NOW - timedelta(days=1), lab={"account_id": "222222222222"}), account="222222222222")
    report_mod.write(other, reports)
    card = build(tmp_path, lab={"account_id": "111111111111"})
    assert card["drift"]["since"] is None and card["drift"]["said"] == "no earlier scorecard"


def test_only_reports_of_the_envs_account_and_region_are_evidence(tmp_path: Path) -> None:
    reports = tmp_path / "reports"
    lab = {"account_id": "111111111111", "region": "eu-west-1"}
    failover(reports, 10.0, account="222222222222", region="eu-west-1")
    failover(reports, 10.0, days_ago=2)  # no account: not evidence of an env that declares one
    failover(reports, 10.0, days_ago=3, account="111111111111", region="us-east-1")
    assert build(tmp_path, lab=lab)["targets"] == []
    mine = failover(reports, 10.0, days_ago=4, account="111111111111", region="eu-west-1")
    assert objective(build(tmp_path, lab=lab), "RTO")["reports"] == [mine]
    # an env without an account: any account, but the region still has to match (us-east-1, the default)
    assert objective(build(tmp_path), "RTO")["samples"] == 2


def test_a_report_from_the_future_is_not_evidence_and_no_age_is_negative(tmp_path: Path) -> None:
    reports = tmp_path / "reports"
    failover(reports, 10.0, days_ago=-1)  # a day ahead of now: a clock that cannot be read
    rto = objective(build(tmp_path), "RTO")
    assert rto["status"] == sc.UNPROVEN and "unreadable start time" in rto["reason"]
    card = build(tmp_path)
    assert card["targets"][0]["newest_passing"]["failover"]["report"] is None
    near = failover(reports, 10.0, days_ago=-2 / 1440)  # two minutes ahead: clock skew, still evidence
    card = build(tmp_path)
    assert objective(card, "RTO")["reports"] == [near]
    assert card["targets"][0]["newest_passing"]["failover"] == {"report": near, "age_days": 0.0}


def junit(card: dict, fail_on: str | None) -> ET.Element:
    return ET.fromstring(sc.render_junit(card, fail_on))


def test_junit_breached_fails_and_unproven_fails_only_under_fail_on_unproven(tmp_path: Path) -> None:
    failover(tmp_path / "reports", 90.0)
    card = build(tmp_path)
    plain = junit(card, None)
    assert (plain.get("tests"), plain.get("failures"), plain.get("skipped")) == ("3", "1", "1")
    rto = plain.find("testcase[@name='RTO']")
    assert rto is not None and rto.find("failure") is not None
    rpo = plain.find("testcase[@name='RPO']")
    assert rpo is not None and rpo.find("skipped").get("message").startswith("Unproven: ")  # type: ignore[union-attr]
    strict = junit(card, "unproven")
    assert (strict.get("failures"), strict.get("skipped")) == ("2", "0")


def test_exit_codes_of_fail_on(tmp_path: Path) -> None:
    failover(tmp_path / "reports", 30.0)
    card = build(tmp_path)  # RTO and lost writes met, RPO unproven
    assert [sc.exit_code(card, f) for f in (None, "breached", "unproven")] == [0, 0, 1]
    failover(tmp_path / "reports", 90.0)
    breached = build(tmp_path)
    assert [sc.exit_code(breached, f) for f in (None, "breached", "unproven")] == [0, 1, 1]
    empty = sc.build_scorecard(cfg(tmp_path), "lab", tmp_path / "none", now=NOW)
    assert [sc.exit_code(empty, f) for f in (None, "breached", "unproven")] == [0, 0, 1]  # nothing proven
    assert junit(empty, None).find("testcase[@name='targets']/skipped") is not None
    assert junit(empty, "unproven").get("failures") == "1"


@pytest.mark.parametrize("key,value", [("availability_percent", 100), ("availability_percent", 0), ("availability_percent", "99.9"),
                                       ("failovers_per_year", -1), ("failovers_per_year", 1.5), ("failovers_per_year", 10**9),
                                       ("restores_per_year", True), ("evidence_max_age_days", 0)])
def test_availability_config_is_validated(tmp_path: Path, key: str, value: Any) -> None:
    with pytest.raises(ConfigError, match=f"'policy.{key}' must be"):
        cfg(tmp_path, **{key: value})


def test_env_policy_overrides_the_availability_objective(tmp_path: Path) -> None:
    c = config_mod.parse({"policy": {"availability_percent": 99.9}, "envs": {"lab": {"endpoint": "embedded", "policy": {
        "availability_percent": 99.99, "failovers_per_year": 4}}}}, tmp_path, None, {})
    p = c.for_env("lab").policy
    assert (p.availability_percent, p.failovers_per_year, p.restores_per_year) == (99.99, 4, 0)


def reports_of(cli: Cli) -> Path:
    return cli.config.report_dir


def test_cli_fail_on_breached_exits_1_and_keeps_the_scorecard(cli_at: Cli) -> None:
    failover(reports_of(cli_at), 90.0, days_ago=0.01, now=utcnow())  # the command judges at the real time
    result = cli_at("scorecard", "--json", "--fail-on", "breached", "--keep")
    assert result.exit_code == 1, result.output
    data = json.loads(result.stdout)
    assert data["counts"][sc.BREACHED] == 1
    kept = json.loads(Path(data["paths"]["json"]).read_text())
    assert kept["kind"] == "scorecard" and kept["status"] == "fail"
    assert cli_at("scorecard", "--fail-on", "breached", "--max-age-days", "0.001").exit_code == 0  # 14 min old: too old


def test_cli_writes_markdown_junit_and_out_dir(cli_at: Cli) -> None:
    for n in range(3):
        failover(reports_of(cli_at), 10.0, days_ago=0.01 + n / 100, now=utcnow())
    out = cli_at.config_path.parent / "out"
    md = cli_at.config_path.parent / "card.md"
    result = cli_at("scorecard", "--out", str(out), "--markdown", str(md), "--fail-on", "unproven")
    assert result.exit_code == 1, result.output  # RPO has no restore drill
    assert "PolicyMet" in md.read_text() and "not measured" in md.read_text()
    assert json.loads((out / "scorecard.json").read_text())["env"] == "lab"
    assert ET.fromstring((out / "scorecard.xml").read_text()).get("failures") == "1"
    assert "RTO" in result.stdout and "Unproven" in result.stdout
    assert "newest passing drill: failover 0.01 d" in result.stdout and "None" not in result.stdout
    assert not (reports_of(cli_at) / "scorecard").exists()  # without --keep the baseline of drift does not move


def test_cli_an_output_that_cannot_be_written_exits_2_with_the_verdict_printed(cli_at: Cli) -> None:
    failover(reports_of(cli_at), 90.0, days_ago=0.01, now=utcnow())
    blocker = cli_at.config_path.parent / "a-file"
    blocker.write_text("")
    result = cli_at("scorecard", "--junit", str(blocker / "scorecard.xml"), "--fail-on", "breached")
    assert result.exit_code == 2, result.output
    assert "PolicyBreached" in result.stdout
    assert len(result.stderr.strip().splitlines()) == 1 and "scorecard.xml not written" in result.stderr
    assert "Traceback" not in result.output
    reports_of(cli_at).joinpath("scorecard").write_text("")  # the kept report's directory is a file
    kept = cli_at("scorecard", "--keep")
    assert kept.exit_code == 2 and "scorecard not kept" in kept.stderr and "PolicyBreached" in kept.stdout


def test_junit_of_a_card_with_nothing_proven_says_so(tmp_path: Path) -> None:
    failover(tmp_path / "reports", 10.0, status="fail")
    card = build(tmp_path)
    plain = junit(card, None)
    assert plain.get("failures") == "0" and plain.get("skipped") == "3"
    assert plain.find("properties/property[@name='verdict']").get("value") == "nothing proven"  # type: ignore[union-attr]
    empty = junit(sc.build_scorecard(cfg(tmp_path), "lab", tmp_path / "none", now=NOW), None)
    assert empty.find("properties/property[@name='verdict']").get("value") == "nothing proven"  # type: ignore[union-attr]
    failover(tmp_path / "reports", 10.0, days_ago=2)
    assert junit(build(tmp_path), None).find("properties") is None  # the RTO is met: something is proven


@pytest.mark.parametrize("args,said", [(["--fail-on", "sometimes"], "--fail-on"), (["--target", "nokind"], "KIND:NAME"),
                                       (["--max-age-days", "nan"], "not a finite number"), (["--env", "nope"], "unknown env"),
                                       (["--fail-on", "breached", "--fail-on", "unproven"], "--fail-on given 2 times"),
                                       (["--target", "aurora:" + "x" * 300], "longer than 255 characters")])
def test_cli_bad_input_is_one_line_exit_2_and_keeps_nothing(cli_at: Cli, args: list[str], said: str) -> None:
    result = cli_at("scorecard", *args)
    assert result.exit_code == 2
    assert said in result.stderr and len(result.stderr.strip().splitlines()) == 1 and "Traceback" not in result.output
    assert not (reports_of(cli_at) / "scorecard").exists()


def test_drift_against_a_malformed_kept_scorecard_says_it_is_unreadable(tmp_path: Path) -> None:
    reports = tmp_path / "reports"
    failover(reports, 20.0, days_ago=2)
    first = build(tmp_path, now=NOW - timedelta(days=1))
    path = report_mod.write(sc.to_report(first), reports)["json"]
    for broken in ([], {"targets": [1, "x"]}, {"targets": [{"target": "aurora:orders", "objectives": [{"id": 3}]}]}):
        data = json.loads(path.read_text())
        data["details"]["scorecard"] = broken
        path.write_text(json.dumps(data))
        drift = build(tmp_path)["drift"]
        assert drift["changes"] == [] and drift["said"] == f"previous scorecard unreadable (report {path.stem}): no drift measured"
    data["details"]["scorecard"] = first
    path.write_text(json.dumps(data))
    assert build(tmp_path)["drift"]["said"].startswith("no change since")  # negative control: a sound one is read


def test_cli_scorecard_skips_malformed_reports_with_one_warning_each(cli_at: Cli) -> None:
    reports = reports_of(cli_at)
    failover(reports, 90.0, days_ago=0.01, now=utcnow())
    (reports / "scorecard").mkdir()
    bad = {reports / "failover" / "a-list.json": b"[]", reports / "failover" / "latin1.json": b"\xff\xfe{",
           reports / "failover" / "deep.json": b"[" * 100_000 + b"]" * 100_000, reports / "scorecard" / "kept.json": b"[]",
           reports / "failover" / "empty.json": b""}
    for path, data in bad.items():
        path.write_bytes(data)
    result = cli_at("scorecard", "--fail-on", "breached")
    assert result.exit_code == 1 and "PolicyBreached" in result.stdout and "Traceback" not in result.output
    warnings = result.stderr.strip().splitlines()
    assert len(warnings) == len(bad), warnings  # one line per file, though the kept scorecards are read twice
    for path in bad:
        assert sum(str(path) in line and line.startswith("dbops: warning:") for line in warnings) == 1


HOSTILE = "aurora:orders\x01\x0b\x1b[2J\x1b]0;pwned\x07"  # a hand-edited target: XML-invalid bytes and terminal escapes


def test_control_characters_are_escaped_in_junit_and_on_the_terminal(cli_at: Cli) -> None:
    failover(reports_of(cli_at), 90.0, days_ago=0.01, now=utcnow(), target=HOSTILE)
    xml = cli_at.config_path.parent / "card.xml"
    result = cli_at("scorecard", "--junit", str(xml), "--target", "aurora:x\x1b[31m")
    assert result.exit_code == 0, result.output
    suite = ET.fromstring(xml.read_text())  # parses: no C0 control left in an attribute or text
    assert any(c.get("classname", "").endswith("aurora:orders\\x01\\x0b\\x1b[2J\\x1b]0;pwned\\x07") for c in suite)
    assert "\x1b" not in result.output and "\x07" not in result.output and "\x01" not in result.output
    assert "aurora:orders\\x01\\x0b\\x1b[2J" in result.stdout and "aurora:x\\x1b[31m" in result.stdout


def test_cli_junit_creates_missing_directories_replaces_a_file_and_refuses_what_cannot_be_written(cli_at: Cli) -> None:
    failover(reports_of(cli_at), 10.0, days_ago=0.01, now=utcnow())
    nested = cli_at.config_path.parent / "ci" / "results" / "scorecard.xml"
    assert cli_at("scorecard", "--junit", str(nested)).exit_code == 0
    ET.fromstring(nested.read_text())  # the directories were made, as pytest --junitxml makes them
    nested.write_text("stale")
    assert cli_at("scorecard", "--junit", str(nested)).exit_code == 0 and nested.read_text() != "stale"
    proc = cli_at("scorecard", "--junit", "/proc/nope.xml")
    assert proc.exit_code == 2 and proc.stderr.strip().splitlines() == [proc.stderr.strip()]
    assert "/proc/nope.xml not written" in proc.stderr and "Traceback" not in proc.output


def test_an_aborted_failover_whose_downtime_lower_bound_breaches_is_evidence_of_the_breach(tmp_path: Path) -> None:
    """A drill stopped by its downtime limit (a limit at or over the RTO) proves the RTO was breached, aborted or not;
    an aborted run's exact figures still prove nothing."""
    reports = tmp_path / "reports"
    drill(reports, "failover", "aborted", 1, details={"downtime_is_lower_bound": True}, client_write_downtime_s=75.0, lost_writes=0)
    rto = objective(build(tmp_path), "RTO")
    assert (rto["status"], rto["measured"], rto["samples"]) == (sc.BREACHED, 75.0, 1)

    other = tmp_path / "other"
    drill(other / "reports", "failover", "aborted", 1, client_write_downtime_s=75.0, lost_writes=0)  # not a lower bound
    assert objective(build(other), "RTO")["status"] == sc.UNPROVEN
