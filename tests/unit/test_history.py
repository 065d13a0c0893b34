"""The report history one env reads is its own: a report directory shared by envs (or accounts) mixes nothing."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from ops import history, report
from ops.config import EnvConfig


def written(root: Path, env: str, account: str | None, downtime: float) -> None:
    j = report.Journal("failover", "aurora:orders", env, echo=None)
    j.measure("client_write_downtime_s", downtime)
    j.check("FO-RTO", "pass", "measured")
    report.write(replace(j.finish(), account=account), root)


def test_status_reads_only_the_envs_and_accounts_own_reports(tmp_path: Path) -> None:
    written(tmp_path, "prod", "111111111111", 1.5)
    written(tmp_path, "staging", "222222222222", 9.0)
    written(tmp_path, "prod", "333333333333", 7.0)  # another account's prod, newest of all
    prod = EnvConfig(name="prod", account_id="111111111111")
    found = history.last(tmp_path, "failover", "aurora:orders", env=prod)
    assert found is not None and found["measurements"]["client_write_downtime_s"] == 1.5
    staging = history.verdict(tmp_path, "failover", "aurora:orders", env=EnvConfig(name="staging"))
    assert staging["measurements"]["client_write_downtime_s"] == 9.0
    # Negative control: without the env, the newest of any env and account is taken.
    assert history.last(tmp_path, "failover", "aurora:orders")["measurements"]["client_write_downtime_s"] == 7.0  # type: ignore[index]
    assert history.last(tmp_path, "failover", "aurora:orders", env=EnvConfig(name="qa")) is None
