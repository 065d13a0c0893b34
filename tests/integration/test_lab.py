"""`dbops lab`: up twice is harmless; down stops exactly what up started."""

import json
import subprocess
import sys

from ops.lab import process, state
from tests.conftest import Cli


def lab_pids(cli: Cli) -> set[int]:
    data = state.read(cli.lab_dir)
    pids = {data["emulator"]["pid"]}
    for m in data["postgres"]["members"]:
        pids.add(int((cli.lab_dir / "pg" / m["name"] / "postmaster.pid").read_text().split()[0]))
    return pids


def test_lab_up_twice_then_down_stops_exactly_what_it_started(cli_at: Cli, pg_available) -> None:  # type: ignore[no-untyped-def]
    bystander = subprocess.Popen([sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(process.free_port())])
    try:
        first = cli_at("lab", "up")
        assert first.exit_code == 0, first.output
        assert f"lab dir: {cli_at.lab_dir.resolve()} (beside {cli_at.config_path.resolve()})" in first.output, first.output
        pids = lab_pids(cli_at)
        assert all(process.is_running(p) for p in pids)

        second = cli_at("lab", "up")
        assert second.exit_code == 0
        assert "already running" in second.output
        assert lab_pids(cli_at) == pids

        status = json.loads(cli_at("lab", "status", "--json").stdout)
        assert status["emulator"]["state"] == "running"
        assert status["postgres"]["state"] == "running"
        roles = {m["name"]: m for m in status["postgres"]["members"]}
        assert roles["pg0"]["role"] == "writer" and roles["pg1"]["role"] == "replica"
        assert roles["pg1"]["replication"] == "streaming"
        assert roles["pg1"]["lag_bytes"] is not None

        env = cli_at("lab", "env").stdout
        assert f"export AWS_ENDPOINT_URL={status['emulator']['endpoint']}" in env

        down = cli_at("lab", "down")
        assert down.exit_code == 0
        assert not any(process.is_running(p) for p in pids)
        assert bystander.poll() is None, "lab down must not touch a process it did not start"
        after = json.loads(cli_at("lab", "status", "--json").stdout)
        assert after["emulator"]["state"] == "stopped"
        assert after["postgres"]["state"] == "stopped"
        assert (cli_at.lab_dir / "pg" / "pg0").is_dir(), "lab down removes nothing"
    finally:
        bystander.terminate()
        bystander.wait(10)
        cli_at("lab", "down")


def test_lab_env_without_a_lab_is_one_line_exit_2(cli_at: Cli) -> None:
    result = cli_at("lab", "env")
    assert result.exit_code == 2
    assert "not running" in result.stderr


def test_lab_down_refuses_under_a_drill_and_with_force_the_drill_reports_aborted(cli_at: Cli, pg_available) -> None:  # type: ignore[no-untyped-def]
    from ops.lease import lab_ledger
    from tests.faults.helpers import one_line, read_until, run, spawn

    assert cli_at("lab", "up").exit_code == 0
    pids = lab_pids(cli_at)
    drill = spawn(cli_at, "drill", "connections", "localpg:lab-pg", "--clients", "3", "--time", "120")
    try:
        seen: list[str] = []
        assert drill.stderr is not None and read_until(drill.stderr, "load", seen), "".join(seen)
        holder = lab_ledger(cli_at.lab_dir).holders()[0]

        refused = run(cli_at, "lab", "down")
        assert refused.returncode == 2, refused.stdout + refused.stderr
        line = one_line(refused.stderr)
        assert "the lab is in use" in line and "localpg:lab-pg" in line and holder.drill_id in line and "--force" in line, line
        assert all(process.is_running(p) for p in pids) and drill.poll() is None, "a refused down changes nothing"

        forced = run(cli_at, "lab", "down", "--force")
        assert forced.returncode == 0, forced.stderr
        assert f"stopping drill {holder.drill_id}" in forced.stdout, forced.stdout
        _, err = drill.communicate(timeout=60)
        assert drill.returncode == 3, "".join(seen) + err
        report = json.loads(sorted((cli_at.config.report_dir / "connections").glob("*.json"))[-1].read_text())
        assert report["status"] == "aborted", report["summary"]
        assert not any(process.is_running(p) for p in pids), "then the lab went down"
    finally:
        if drill.poll() is None:
            drill.kill()
            drill.wait(10)
        cli_at("lab", "down", "--force")
