"""Bad input: one clear line on stderr, exit 2, no traceback, nothing changed."""

from pathlib import Path

from tests.conftest import REPO, Cli, write_config


def assert_one_line_error(result, *fragments: str) -> None:  # type: ignore[no-untyped-def]
    assert result.exit_code == 2, (result.exit_code, result.output)
    lines = [ln for ln in result.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1, result.stderr
    assert "Traceback" not in result.output
    for f in fragments:
        assert f in lines[0], lines[0]


def test_unknown_env(cli_at: Cli) -> None:
    result = cli_at("tf", "plan", "--env", "qa")
    assert_one_line_error(result, "unknown env 'qa'", "lab, prod")
    assert not cli_at.lab_dir.exists()


def test_malformed_config_names_the_key(fresh_root: Path) -> None:
    cfg = write_config(fresh_root)
    cfg.write_text(cfg.read_text().replace("rto_seconds = 60", 'rto_seconds = "soon"'))
    cli = Cli(cfg, fresh_root / ".lab")
    before = sorted(p.name for p in fresh_root.iterdir())
    result = cli("estate", "show")
    assert_one_line_error(result, "policy.rto_seconds")
    assert sorted(p.name for p in fresh_root.iterdir()) == before


def test_unreachable_endpoint_is_named(fresh_root: Path) -> None:
    from ops.lab.process import free_port

    url = f"http://127.0.0.1:{free_port()}"
    cli = Cli(write_config(fresh_root, endpoint=url, account_id="123456789012"), fresh_root / ".lab")
    result = cli("drill", "failover", "aurora:lab-aurora")
    assert_one_line_error(result, url, "unreachable")
    assert not (fresh_root / "reports").exists()


def test_apply_on_protected_env_needs_confirm(cli_at: Cli) -> None:
    result = cli_at("tf", "apply", "--env", "prod")
    assert_one_line_error(result, "protected", "--confirm prod")
    result = cli_at("tf", "destroy", "--env", "prod", "--confirm", "lab")
    assert_one_line_error(result, "protected")


def test_unknown_target_kind(cli_at: Cli) -> None:
    result = cli_at("drill", "failover", "mysql:db1")
    assert_one_line_error(result, "unknown target kind 'mysql'")
    result = cli_at("drill", "failover", "no-colon")
    assert_one_line_error(result, "KIND:NAME")


def test_embedded_env_without_a_running_lab(cli_at: Cli) -> None:
    result = cli_at("tf", "plan", "--env", "lab")
    assert_one_line_error(result, "not running", "dbops lab up")


def test_bad_flag_value_is_a_usage_error(cli_at: Cli) -> None:
    result = cli_at("drill", "failover", "localpg:lab-pg", "--canary-hz", "0")
    assert result.exit_code == 2
    assert "Traceback" not in result.output


def test_drill_on_protected_env_needs_the_target_named(cli_at: Cli) -> None:
    result = cli_at("drill", "failover", "aurora:prod-db", "--env", "prod")
    assert_one_line_error(result, "protected", "--confirm prod:aurora:prod-db")


def test_a_latency_drill_that_may_write_on_a_protected_env_needs_the_target_named(cli_at: Cli) -> None:
    result = cli_at("drill", "latency", "aurora:prod-db", "--env", "prod", "--workload", str(REPO / "workloads/orders.sql"),
                    "--read-write")
    assert_one_line_error(result, "protected", "--confirm prod:aurora:prod-db")
    assert not (cli_at.lab_dir.parent / "reports").exists()


def test_restore_and_verify_options_that_would_do_nothing_are_refused(cli_at: Cli) -> None:
    assert_one_line_error(cli_at("drill", "restore", "localpg:lab-pg", "--at", ""), "'' is not an ISO 8601 time", "--at")
    assert_one_line_error(cli_at("drill", "restore", "localpg:lab-pg", "--with-indexes"),
                          "--with-indexes applies to a DynamoDB restore", "localpg:lab-pg is a localpg target")
    assert_one_line_error(cli_at("backup", "verify", "--max-cost", "5"), "--max-cost", "add --restore-latest")
    assert_one_line_error(cli_at("backup", "verify", "--with-indexes"), "--with-indexes", "add --restore-latest")
    # negative control: accepted, they reach the (absent) lab
    assert_one_line_error(cli_at("drill", "restore", "dynamodb:orders", "--with-indexes"), "not running")
    assert_one_line_error(cli_at("backup", "verify", "--restore-latest", "--max-cost", "5"), "not running")
