from pathlib import Path

import pytest

from ops import config
from ops.errors import ConfigError, UsageError


def load_text(tmp_path: Path, text: str, environ: dict | None = None) -> config.Config:
    path = tmp_path / "dbops.toml"
    path.write_text(text)
    return config.load(path, environ=environ or {})


def test_file_overrides_defaults_and_environment_overrides_file(tmp_path: Path) -> None:
    text = '[defaults]\nenv = "lab"\nreport_dir = "out"\n[policy]\nrto_seconds = 30\n[envs.lab]\nendpoint = "embedded"\n[envs.stage]\nregion = "eu-west-1"\n'
    cfg = load_text(tmp_path, text)
    assert cfg.policy.rto_seconds == 30
    assert cfg.policy.rpo_seconds == 300  # default kept
    assert cfg.default_env == "lab"
    assert cfg.report_dir == (tmp_path / "out").resolve()
    cfg = load_text(tmp_path, text, environ={"DBOPS_ENV": "stage", "DBOPS_REPORT_DIR": "/tmp/r"})
    assert cfg.default_env == "stage"
    assert cfg.env().region == "eu-west-1"
    assert cfg.report_dir == Path("/tmp/r")


def test_flags_override_policy(tmp_path: Path) -> None:
    cfg = load_text(tmp_path, "[policy]\nrto_seconds = 30\n").with_policy(rto_seconds=12.5, max_lost_writes=None)
    assert cfg.policy.rto_seconds == 12.5
    assert cfg.policy.max_lost_writes == 0


@pytest.mark.parametrize(
    "text, key",
    [
        ("[policy]\nrto_seconds = \"fast\"\n", "policy.rto_seconds"),
        ("[policy]\nmax_lost_writes = -1\n", "policy.max_lost_writes"),
        ("[policy]\nrto_secnds = 5\n", "policy.rto_secnds"),
        ("[policy]\nquery_overhead_p95_ms = 0\n", "policy.query_overhead_p95_ms"),
        ("[policy]\npool_wait_max_ms = -5\n", "policy.pool_wait_max_ms"),
        ("[envs.lab]\nprotected = \"yes\"\n", "envs.lab.protected"),
        ("[envs.lab]\nendpoint = \"ftp://x\"\n", "envs.lab.endpoint"),
        ("[bogus]\n", "bogus"),
    ],
)
def test_malformed_file_names_the_key(tmp_path: Path, text: str, key: str) -> None:
    with pytest.raises(ConfigError) as err:
        load_text(tmp_path, text)
    assert key in str(err.value)


def test_toml_syntax_error_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_text(tmp_path, "[policy\n")


def test_unknown_env_lists_known_ones(tmp_path: Path) -> None:
    cfg = load_text(tmp_path, "[envs.lab]\n[envs.prod]\n")
    with pytest.raises(UsageError, match=r"unknown env 'qa' \(known: lab, prod\)"):
        cfg.env("qa")


def test_config_is_found_upwards(tmp_path: Path) -> None:
    (tmp_path / "dbops.toml").write_text("[policy]\nrpo_seconds = 42\n")
    sub = tmp_path / "a" / "b"
    sub.mkdir(parents=True)
    cfg = config.load(environ={}, cwd=sub)
    assert cfg.policy.rpo_seconds == 42
    assert cfg.root == tmp_path.resolve()


def test_an_env_may_have_objectives_of_its_own(tmp_path) -> None:  # type: ignore[no-untyped-def]
    path = tmp_path / "dbops.toml"
    path.write_text('[policy]\nmonthly_budget_usd = 80\n[envs.lab]\nendpoint = "embedded"\n[envs.lab.policy]\nmonthly_budget_usd = 160\n'
                    '[envs.prod]\nregion = "eu-west-1"\n')
    cfg = config.load(path, environ={})
    assert cfg.for_env("lab").policy.monthly_budget_usd == 160
    assert cfg.for_env("prod").policy.monthly_budget_usd == 80
    path.write_text('[envs.lab]\nendpoint = "embedded"\n[envs.lab.policy]\nrto_seconds = inf\n')
    with pytest.raises(ConfigError, match="envs.lab.policy.rto_seconds"):
        config.load(path, environ={})


def test_the_connections_drill_objectives_have_defaults_and_are_read(tmp_path: Path) -> None:
    assert (config.Policy().query_overhead_p95_ms, config.Policy().pool_wait_max_ms) == (50.0, 100.0)
    cfg = load_text(tmp_path, "[policy]\nquery_overhead_p95_ms = 20\npool_wait_max_ms = 250\n")
    assert (cfg.policy.query_overhead_p95_ms, cfg.policy.pool_wait_max_ms) == (20, 250)
