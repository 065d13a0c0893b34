"""A hung AWS endpoint, a crashed one, and a lab state file that was cut short, emptied or of the wrong shape."""

from __future__ import annotations

import concurrent.futures
import http.server
import json
import os
import shutil
import signal
import subprocess
import threading
import time
from pathlib import Path
from typing import Iterator

import pytest

from ops.aws import Aws, safe_read
from ops.lab import process
from ops.lab import lab as lab_core
from ops.lab.aws import emulator
from ops.lab.pg import pgservers
from ops.lab.process import free_port
from tests.conftest import Cli, traversable_tmpdir, write_config
from tests.faults.helpers import one_line, read_until, run


@pytest.fixture
def emulator_only() -> Iterator[Cli]:
    root = traversable_tmpdir("dbops-hang-")
    cli = Cli(write_config(root), root / ".lab")
    lab_core.up(cli.config, lab_core.LabOptions(with_postgres=False), lambda _: None)
    yield cli
    entry = emulator.running(cli.lab_dir)
    if entry:
        os.kill(entry["pid"], signal.SIGCONT)
    lab_core.down(cli.config, lambda _: None)
    shutil.rmtree(root, ignore_errors=True)


def test_a_hung_endpoint_fails_each_command_within_45s_in_one_line(emulator_only: Cli) -> None:
    cfg = emulator_only.config
    ddb = Aws.for_env(cfg, cfg.env("lab")).client("dynamodb")
    for name in ("hung-a", "hung-b", "hung-c"):
        ddb.create_table(TableName=name, KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
                         AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}], BillingMode="PAY_PER_REQUEST")
    pid = emulator.running(emulator_only.lab_dir)["pid"]  # type: ignore[index]
    os.kill(pid, signal.SIGSTOP)  # the process hangs; its port still accepts connections
    commands = (("backup", "verify", "dynamodb:hung-a", "dynamodb:hung-b", "dynamodb:hung-c"),
                ("drill", "restore", "dynamodb:hung-a", "--latest"), ("cost", "check"), ("janitor",))

    def timed(args: tuple[str, ...]):  # type: ignore[no-untyped-def]
        started = time.monotonic()
        result = run(emulator_only, *args, timeout=120)
        return args, result, time.monotonic() - started

    with concurrent.futures.ThreadPoolExecutor(len(commands)) as pool:  # each waits on its own timeouts
        outcomes = list(pool.map(timed, commands))
    for args, result, took in outcomes:
        assert result.returncode == 2, (args, result.stderr)
        errors = [ln for ln in result.stderr.splitlines() if ln.startswith("dbops: error:")]
        assert len(errors) == 1 and "Traceback" not in result.stderr, result.stderr
        assert "does not answer" in errors[0] or "unreachable" in errors[0], result.stderr
        assert took < 45, (args, took)  # three attempts of 10 s, then the endpoint is taken for dead
    os.kill(pid, signal.SIGCONT)
    assert run(emulator_only, "backup", "verify", "dynamodb:hung-a").returncode in (0, 1, 4)


def test_a_server_error_is_an_error_not_an_unimplemented_api() -> None:
    """A crashed endpoint's HTTP 500 must never read as 'the endpoint lacks this API' (unknown)."""

    class Crashed(http.server.BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802
            self.send_response(500)
            self.end_headers()
            self.wfile.write(b"<html>Internal Server Error</html>")

        do_GET = do_POST

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", free_port()), Crashed)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        aws = Aws(region="us-east-1", endpoint_url=f"http://127.0.0.1:{server.server_address[1]}", max_attempts=1)
        read = safe_read(lambda: aws.client("backup").list_backup_jobs())
        assert not read.ok and not read.unimplemented, read
    finally:
        server.shutdown()


def test_an_api_the_lab_lacks_is_unimplemented(emulator_only: Cli) -> None:
    """Negative control of the one above: the lab's emulator answers 501 NotImplemented for what it lacks."""
    cfg = emulator_only.config
    read = safe_read(lambda: Aws.for_env(cfg, cfg.env("lab")).client("backup").describe_global_settings())
    assert read.unimplemented, read


@pytest.fixture
def cut_lab(pg_available) -> Iterator[Cli]:  # type: ignore[no-untyped-def]
    root = traversable_tmpdir("dbops-state-")
    cli = Cli(write_config(root), root / ".lab")
    lab_core.up(cli.config, lab_core.LabOptions(), lambda _: None)
    yield cli
    lab_core.down(cli.config, lambda _: None)
    shutil.rmtree(root, ignore_errors=True)


def postmasters(root: str) -> list[str]:
    out = subprocess.run(["pgrep", "-f", f"postgres -D {root}"], capture_output=True, text=True).stdout
    return out.split()


def test_a_truncated_state_file_is_an_error_and_nothing_is_touched(cut_lab: Cli) -> None:
    state = cut_lab.lab_dir / "state.json"
    whole = state.read_text()
    before = postmasters(str(cut_lab.lab_dir.resolve()))
    assert len(before) == 2
    state.write_text(whole[: len(whole) // 2])
    for args in (("lab", "status"), ("lab", "down"), ("lab", "up"), ("drill", "failover", "localpg:lab-pg")):
        result = run(cut_lab, *args)
        assert result.returncode == 2, (args, result.stdout, result.stderr)
        line = one_line(result.stderr)
        assert str(state) in line and "corrupt" in line, line
    assert postmasters(str(cut_lab.lab_dir.resolve())) == before, "nothing was stopped or started"
    assert all(m.path.exists() for m in pgservers.Cluster(cut_lab.lab_dir, json.loads(whole)["postgres"]).members)
    state.write_text(whole)
    assert run(cut_lab, "lab", "status").returncode == 0


def test_lab_up_never_deletes_a_data_directory_whose_server_runs(cut_lab: Cli) -> None:
    state = cut_lab.lab_dir / "state.json"
    whole = state.read_text()
    state.unlink()  # lost: lab up would create lab-pg again over the running one
    try:
        result = run(cut_lab, "lab", "up")
        assert result.returncode == 2, result.stdout + result.stderr
        assert "running PostgreSQL servers" in result.stderr
        assert len(postmasters(str(cut_lab.lab_dir.resolve()))) == 2
        assert (cut_lab.lab_dir / "pg" / "pg0" / "PG_VERSION").exists()
    finally:
        # The emulator that lab up started anew is stopped; the original state comes back.
        fresh = json.loads(state.read_text()) if state.exists() else {}
        if fresh.get("emulator"):
            os.kill(fresh["emulator"]["pid"], signal.SIGTERM)
        state.write_text(whole)


def lab_emulators(lab_dir: str) -> list[int]:
    """Emulator processes started for this lab dir, whatever its state file says."""
    found = []
    for pid in subprocess.run(["pgrep", "-f", "ops.lab.aws.emulator_server"], capture_output=True, text=True).stdout.split():
        try:
            if f"DBOPS_LAB_DIR={lab_dir}".encode() in open(f"/proc/{pid}/environ", "rb").read().split(b"\0"):
                found.append(int(pid))
        except OSError:
            continue
    return found


def put_back(state: Path, whole: str) -> None:
    """The original state file again; an emulator a refused command must not have started is stopped."""
    fresh = json.loads(state.read_text()) if state.exists() else {}
    if isinstance(fresh, dict) and isinstance(fresh.get("emulator"), dict) \
            and fresh["emulator"]["pid"] != json.loads(whole)["emulator"]["pid"]:
        os.kill(fresh["emulator"]["pid"], signal.SIGTERM)
    state.write_text(whole)


def test_an_emptied_or_lost_state_file_is_refused_and_lab_down_stops_what_runs(cut_lab: Cli) -> None:
    state = cut_lab.lab_dir / "state.json"
    whole = state.read_text()
    recorded = json.loads(whole)
    lab_dir = str(cut_lab.lab_dir.resolve())
    before = postmasters(lab_dir)
    assert len(before) == 2 and lab_emulators(lab_dir) == [recorded["emulator"]["pid"]]
    pid_file = cut_lab.lab_dir / "pg" / "pooler" / "pgbouncer.pid"
    pooler_pid = int(pid_file.read_text().split()[0]) if pid_file.exists() else None
    # What a second emulator's start would wipe: the Terraform state and Aurora data of the running one.
    kept = [cut_lab.lab_dir / "terraform" / "terraform.tfstate", cut_lab.lab_dir / "aurora" / "kept"]
    for path in kept:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("of the running emulator")
    try:
        for emptied in ("{}", None):  # emptied, then deleted
            if emptied is None:
                state.unlink()
            else:
                state.write_text(emptied)
            for args in (("lab", "status"), ("lab", "up")):
                result = run(cut_lab, *args)
                assert result.returncode == 2, (args, result.stdout, result.stderr)
                line = one_line(result.stderr)
                assert "stopped" not in line and str(state) in line and "dbops lab down" in line, line
                assert f"emulator pid {recorded['emulator']['pid']}" in line and "running PostgreSQL servers" in line, line
            assert (state.read_text() if state.exists() else None) == emptied, "the state file was not written"
            assert postmasters(lab_dir) == before and lab_emulators(lab_dir) == [recorded["emulator"]["pid"]]
            assert all(path.exists() for path in kept), "nothing was removed"
        down = run(cut_lab, "lab", "down")
        assert down.returncode == 0, down.stdout + down.stderr
        assert postmasters(lab_dir) == [] and lab_emulators(lab_dir) == [], down.stdout
        assert not process.is_running(recorded["heartbeat"]["pid"], recorded["heartbeat"]["started"]), down.stdout
        assert pooler_pid is None or not process.is_running(pooler_pid), down.stdout
        assert run(cut_lab, "lab", "status").returncode == 0, "nothing runs any more: the lab is stopped"
    finally:
        put_back(state, whole)


def test_a_state_file_of_the_wrong_shape_is_an_error_naming_the_key_and_nothing_is_touched(cut_lab: Cli) -> None:
    state = cut_lab.lab_dir / "state.json"
    whole = state.read_text()
    recorded = json.loads(whole)
    lab_dir = str(cut_lab.lab_dir.resolve())
    before = postmasters(lab_dir)
    members = [{**m, "port": str(m["port"])} for m in recorded["postgres"]["members"]]
    shapes = (
        ({"postgres": "x"}, "'postgres'"),
        ([], "list"),
        ({"emulator": 5}, "'emulator'"),
        ({**recorded, "postgres": {**recorded["postgres"], "members": members}}, "'postgres.members[0].port'"),
        ({**recorded, "heartbeat": {"started": 1}}, "'heartbeat.pid'"),
        ({**recorded, "emulator": {k: v for k, v in recorded["emulator"].items() if k != "started"}}, "'emulator.started'"),
        ({**recorded, "postgres": {**recorded["postgres"], "members": [{**recorded["postgres"]["members"][0], "datadir": "/var/lib/postgresql/15/main"}]}},
         "'postgres.members[0].datadir' is /var/lib/postgresql/15/main, outside the lab dir"),
    )
    try:
        for shape, key in shapes:
            state.write_text(json.dumps(shape))
            for args in (("lab", "status"), ("lab", "up"), ("lab", "down"), ("drill", "failover", "localpg:lab-pg")):
                result = run(cut_lab, *args)
                assert result.returncode == 2, (shape, args, result.stdout, result.stderr)
                line = one_line(result.stderr)
                assert str(state) in line and "malformed" in line and key in line, line
                assert json.loads(state.read_text()) == shape, "the state file was not written"
            assert postmasters(lab_dir) == before and lab_emulators(lab_dir) == [recorded["emulator"]["pid"]]
    finally:
        put_back(state, whole)
    assert run(cut_lab, "lab", "status").returncode == 0
    state.write_bytes(b'{"emulator": "\xff"}')
    try:
        result = run(cut_lab, "lab", "status")
        assert result.returncode == 2 and "not UTF-8" in one_line(result.stderr), result.stderr
    finally:
        state.write_text(whole)  # a status changes nothing: the same emulator still runs


def test_a_stale_pid_file_naming_another_server_does_not_get_it_stopped(cut_lab: Cli, tmp_path: Path) -> None:
    """A pid file a killed lab left may name a pid that now belongs to another PostgreSQL on the host."""
    state = cut_lab.lab_dir / "state.json"
    whole = state.read_text()
    other = tmp_path / "postgres"  # a process named postgres that is no server of this lab
    shutil.copy("/bin/sleep", other)
    foreign = subprocess.Popen([str(other), "300"])
    ghost = cut_lab.lab_dir / "aurora" / "gone" / "gone-1"
    ghost.mkdir(parents=True)
    (ghost / "postmaster.pid").write_text(f"{foreign.pid}\n{ghost}\n")
    # Without the emulator's entry, lab down looks for the Aurora servers it would have stopped itself.
    state.write_text(json.dumps({k: v for k, v in json.loads(whole).items() if k != "emulator"}))
    try:
        down = run(cut_lab, "lab", "down")
        assert down.returncode == 0, down.stdout + down.stderr
        assert foreign.poll() is None, f"a process the lab does not own was stopped: {down.stdout}"
        assert "gone-1" not in down.stdout
    finally:
        foreign.kill()
        foreign.wait()
        shutil.rmtree(ghost.parent, ignore_errors=True)
        state.write_text(whole)


def test_a_lab_up_killed_while_it_creates_lab_pg_is_made_whole_by_the_next(pg_available) -> None:  # type: ignore[no-untyped-def]
    from tests.faults.helpers import spawn

    root = traversable_tmpdir("dbops-killed-up-")
    cli = Cli(write_config(root), root / ".lab")
    try:
        proc = spawn(cli, "lab", "up")
        seen: list[str] = []
        assert proc.stdout is not None and read_until(proc.stdout, "primary pg0", seen), "".join(seen)
        proc.kill()  # after the writer, before its replica and base backup
        proc.wait()
        again = run(cli, "lab", "up")
        assert again.returncode == 0, again.stdout + again.stderr
        assert "creation was interrupted" in again.stdout, again.stdout
        status = run(cli, "lab", "status", "--json")
        pg = json.loads(status.stdout)["postgres"]
        assert pg["state"] == "running" and pg["accepting_writes"] == ["pg0"], pg
    finally:
        run(cli, "lab", "down")
        shutil.rmtree(root, ignore_errors=True)
