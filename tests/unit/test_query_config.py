"""The query objectives live in dbops.toml's [policy], each validated and named in its error."""

from __future__ import annotations

from pathlib import Path

import pytest

from ops import config
from ops.errors import ConfigError
from tests.conftest import REPO

KEYS = ("query_p95_ms", "query_aurora_p95_ms", "index_utilization_min", "index_gain_min", "min_statement_calls",
        "stats_min_age_s", "large_table_rows")


def test_the_repository_config_states_every_query_threshold() -> None:
    text = (REPO / "dbops.toml").read_text()
    for key in KEYS:
        assert f"\n{key} = " in text, key
    cfg = config.load(REPO / "dbops.toml", environ={})
    p = cfg.policy
    assert (p.query_p95_ms, p.query_aurora_p95_ms, p.index_utilization_min, p.index_gain_min) == (10, 50, 0.9, 0.6)
    assert isinstance(p.min_statement_calls, int) and isinstance(p.large_table_rows, int)


@pytest.mark.parametrize("line", [
    "index_utilization_min = 1.5", "index_utilization_min = 0", "index_gain_min = 1", "index_gain_min = -0.1",
    "min_statement_calls = 0", "min_statement_calls = 2.5", "stats_min_age_s = -1", "stats_min_age_s = inf",
    "stats_min_age_s = false", "large_table_rows = 1.5", "large_table_rows = -1", "query_p95_ms = nan", "query_aurora_p95_ms = 0",
])
def test_a_bad_query_threshold_names_its_key(tmp_path: Path, line: str) -> None:
    path = tmp_path / "dbops.toml"
    path.write_text(f"[policy]\n{line}\n[envs.lab]\nendpoint = \"embedded\"\n")
    with pytest.raises(ConfigError, match=f"policy.{line.split()[0]}"):
        config.load(path, environ={})


def test_an_env_sets_its_own_statistics_window(tmp_path: Path) -> None:
    path = tmp_path / "dbops.toml"
    path.write_text('[policy]\nstats_min_age_s = 3600\n[envs.lab]\nendpoint = "embedded"\n[envs.lab.policy]\nstats_min_age_s = 0\n'
                    '[envs.prod]\nregion = "eu-west-1"\n')
    cfg = config.load(path, environ={})
    assert cfg.for_env("lab").policy.stats_min_age_s == 0
    assert cfg.for_env("prod").policy.stats_min_age_s == 3600
