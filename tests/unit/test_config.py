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
        # Typos and look-alikes: a region nobody answers, digits of other scripts, a table name Terraform would read as code.
        ("[envs.lab]\nregion = \"us-esat-1\"\n", "envs.lab.region"),
        ("[envs.lab]\nregions = [\"us-east-1\", \"us-esat-1\"]\n", "envs.lab.regions"),
        ("[envs.lab]\naccount_id = \"\u0661\u0662\u0663\u0664\u0665\u0666\u0667\u0668\u0669\u0660\u0661\u0662\"\n", "envs.lab.account_id"),
        ("[envs.lab]\nlease_table = \"locks${x}\"\n", "envs.lab.lease_table"),
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


def test_every_env_but_the_embedded_lab_is_protected_unless_it_says_otherwise(tmp_path: Path) -> None:
    path = tmp_path / "dbops.toml"
    path.write_text('[envs.lab]\nendpoint = "embedded"\n\n[envs.staging]\nregion = "eu-west-1"\n\n'
                    '[envs.sandbox]\nendpoint = "http://127.0.0.1:4566"\n\n[envs.scratch]\nprotected = false\n\n'
                    '[envs.shared-lab]\nendpoint = "embedded"\nprotected = true\n')
    cfg = config.load(path, environ={})
    assert {name: env.protected for name, env in cfg.envs.items()} == {
        "lab": False, "staging": True, "sandbox": True, "scratch": False, "shared-lab": True}


@pytest.mark.parametrize("text, key", [
    ("[policy]\nrto_seconds = -1\n", "policy.rto_seconds"),
    ("[envs.lab]\nendpoint = \"ftp://x\"\n", "envs.lab.endpoint"),
    ("[bogus]\n", "bogus"),
    ("[policy\n", "not valid TOML"),
])
def test_a_config_error_names_the_file_read_not_dbops_toml(tmp_path: Path, text: str, key: str) -> None:
    from tests.conftest import Cli

    (tmp_path / "dbops.toml").write_text("[envs.lab]\nendpoint = \"embedded\"\n")  # a valid one nearby, not the one read
    alternate = tmp_path / "conf" / "staging.toml"
    alternate.parent.mkdir()
    alternate.write_text(text)
    result = Cli(alternate, tmp_path / ".lab")("estate", "show")
    assert result.exit_code == 2, result.output
    lines = [ln for ln in result.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1 and "Traceback" not in result.output, result.stderr
    assert f"{alternate.resolve()}:" in lines[0] and key in lines[0], lines[0]
    assert "dbops.toml" not in lines[0], lines[0]


def test_a_missing_terraform_dir_names_the_file_read(tmp_path: Path) -> None:
    from ops.terraform.envs import workspace_for

    path = tmp_path / "staging.toml"
    path.write_text("[envs.stage]\nregion = \"eu-west-1\"\n")
    cfg = config.load(path, environ={})
    with pytest.raises(ConfigError) as err:
        workspace_for(cfg, cfg.env("stage"))
    assert str(err.value).startswith(f"{path.resolve()}: 'envs.stage.terraform_dir' is not set"), err.value


def test_reports_and_the_lab_live_beside_the_config_file_read(tmp_path: Path) -> None:
    path = tmp_path / "conf" / "staging.toml"
    path.parent.mkdir()
    path.write_text("[envs.lab]\nendpoint = \"embedded\"\n")
    cfg = config.load(path, environ={}, cwd=tmp_path)
    assert (cfg.lab_dir, cfg.report_dir) == ((tmp_path / "conf" / ".lab").resolve(), (tmp_path / "conf" / "reports").resolve())
    assert config.load(path, environ={"DBOPS_LAB_DIR": "/srv/lab"}).lab_dir == Path("/srv/lab")


def test_a_waiver_turns_its_failing_finding_into_a_warning_that_names_it_until_it_expires(tmp_path: Path) -> None:
    from datetime import date

    from ops.checks import waivers
    from ops.checks.registry import Finding

    cfg = load_text(tmp_path, '[envs.prod]\naccount_id = "123456789012"\n[[envs.prod.waivers]]\n'
                              'check = "BKP-DDB-DELETION-PROTECTION"\ntarget = "dynamodb:orders"\n'
                              'reason = "provider 3.39 cannot set it"\nexpires = 2027-06-30\n')
    (w,) = cfg.env("prod").waivers
    assert (w.check, w.target, w.expires) == ("BKP-DDB-DELETION-PROTECTION", "dynamodb:orders", date(2027, 6, 30))
    failing = Finding("BKP-DDB-DELETION-PROTECTION", "fail", "deletion protection is off")
    waived = waivers.apply(failing, "dynamodb:orders", cfg.env("prod").waivers, date(2027, 6, 30))
    assert waived.status == "warn" and "waived until 2027-06-30: provider 3.39 cannot set it" in waived.detail
    expired = waivers.apply(failing, "dynamodb:orders", cfg.env("prod").waivers, date(2027, 7, 1))
    assert expired.status == "fail" and "its waiver expired on 2027-06-30" in expired.detail
    # Negative controls: another target, another check, a passing finding.
    assert waivers.apply(failing, "dynamodb:sessions", cfg.env("prod").waivers, date(2027, 1, 1)) == failing
    other = Finding("BKP-DDB-PITR", "fail", "off")
    assert waivers.apply(other, "dynamodb:orders", cfg.env("prod").waivers, date(2027, 1, 1)) == other


@pytest.mark.parametrize("waiver, words", [
    ('check = "X"\nexpires = 2027-01-01\n', "'envs.prod.waivers[0].reason' is required"),
    ('check = "X"\nreason = "r"\nexpires = "someday"\n', "'envs.prod.waivers[0].expires' must be a date"),
    ('check = "X"\nreason = "r"\nexpires = 2027-01-01\nuntil = 1\n', "unknown key 'envs.prod.waivers[0].until'"),
    ('check = "X"\nreason = "r"\nexpires = 2026-12-06T16:00:00Z\n', "'envs.prod.waivers[0].expires' must be a date (2027-06-30), not a time"),
    ('check = "X"\nreason = "r"\nexpires = 9999-12-31\n', "is more than 366 days away"),
])
def test_a_waiver_without_its_reason_or_expiry_is_refused_naming_the_key(tmp_path: Path, waiver: str, words: str) -> None:
    with pytest.raises(ConfigError) as raised:
        load_text(tmp_path, f"[envs.prod]\n[[envs.prod.waivers]]\n{waiver}")
    assert words in str(raised.value)


def test_the_connections_drill_objectives_have_defaults_and_are_read(tmp_path: Path) -> None:
    assert (config.Policy().query_overhead_p95_ms, config.Policy().pool_wait_max_ms) == (50.0, 100.0)
    cfg = load_text(tmp_path, "[policy]\nquery_overhead_p95_ms = 20\npool_wait_max_ms = 250\n")
    assert (cfg.policy.query_overhead_p95_ms, cfg.policy.pool_wait_max_ms) == (20, 250)


def test_how_long_a_saved_plan_may_wait_is_per_env_and_positive(tmp_path: Path) -> None:
    cfg = load_text(tmp_path, '[envs.lab]\nendpoint = "embedded"\n\n[envs.prod]\nplan_max_age_hours = 2\n')
    assert (cfg.env("lab").plan_max_age_hours, cfg.env("prod").plan_max_age_hours) == (24.0, 2.0)
    for bad in ("0", "-1", '"a day"'):
        with pytest.raises(ConfigError, match="envs.prod.plan_max_age_hours"):
            load_text(tmp_path, f"[envs.prod]\nplan_max_age_hours = {bad}\n")
