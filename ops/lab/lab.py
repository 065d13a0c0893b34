"""The embedded lab: the AWS emulator and, beside it, the local PostgreSQL HA cluster.

Each part has start/stop/status; `up` starts what is not running, `down` stops exactly
what the state file says `up` started, and removes nothing else. Lab processes that run under
the lab dir but are missing from the state file (it was lost or emptied) make `up` and `status`
refuse, and `down` stops them too.
"""

from __future__ import annotations

import fcntl
import os
import time
from contextlib import contextmanager
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any, Callable, Iterator

from ops.config import Config
from ops.window import Window
from ops.errors import Busy, LabError
from ops.lab import process, state
from ops.lab.aws import emulator

Echo = Callable[[str], None]


@dataclass(frozen=True)
class LabOptions:
    replicas: int = 1
    sync: bool = False
    with_postgres: bool = True


@contextmanager
def lifecycle(lab_dir: Path) -> Iterator[None]:
    """One `lab up` or `lab down` at a time."""
    lab_dir.mkdir(parents=True, exist_ok=True)
    fd = os.open(lab_dir / "lifecycle.lock", os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise LabError(f"another `dbops lab up` or `lab down` is running on {lab_dir}; wait for it") from None
        yield
    finally:
        os.close(fd)


def _in_progress(lab_dir: Path) -> bool:
    """Whether a `lab up` or `lab down` runs now: what it starts is recorded only once it answers."""
    try:
        fd = os.open(lab_dir / "lifecycle.lock", os.O_RDONLY)
    except OSError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        return False
    except BlockingIOError:
        return True
    finally:
        os.close(fd)


@dataclass(frozen=True)
class Stray:
    """A lab process under the lab dir that the state file does not record."""

    kind: str
    where: str  # "pid N", or its directory under the lab dir
    stop: Callable[[], bool]

    def __str__(self) -> str:
        return f"{self.kind} {self.where}"


SERVER = "PostgreSQL server"
_MODULES = {"ops.lab.aws.emulator_server": "emulator", "ops.lab.pg.heartbeat": "heartbeat"}


def _lab_processes(lab: Path) -> list[tuple[str, int]]:
    """(module, pid) of `python -m ops.lab.*` processes whose output goes to a log under lab: the
    emulator (emulator.log) and lab-pg's heartbeat (pg/heartbeat.log)."""
    found = []
    for proc in Path("/proc").glob("[0-9]*"):
        try:
            argv = (proc / "cmdline").read_bytes().split(b"\0")
            module = argv[argv.index(b"-m") + 1].decode()
            if module.startswith("ops.lab.") and Path(os.readlink(proc / "fd" / "1")).is_relative_to(lab):
                found.append((module, int(proc.name)))
        except (OSError, ValueError, IndexError):  # gone, not ours to read, or no `-m`
            continue
    return found


def _stop_server(datadir: Path, pid: int) -> bool:
    from ops.lab.pg import pgbin

    if not process.is_running(pid):
        return False
    pgbin.run("pg_ctl", "-D", str(datadir), "-m", "fast", "-w", "-t", "30", "stop", check=False)
    process.stop(pid)  # when pg_ctl could not
    return True


def _servers(root: Path, lab: Path) -> list[Stray]:
    """Live PgBouncers and postmasters under root, by their pid files; replicas before writers."""
    found = []
    for pid_file, comm in (("pgbouncer.pid", "pgbouncer"), ("postmaster.pid", "postgres")):
        for path in sorted(root.rglob(pid_file), key=lambda p: not (p.parent / "standby.signal").exists()):
            try:
                pid = int(path.read_text().split()[0])
            except (OSError, ValueError, IndexError):
                continue
            alive = process.runs_from(pid, comm, path.parent / "pgbouncer.ini" if comm == "pgbouncer" else path.parent)
            where = f"{path.parent.relative_to(lab)} (pid {pid})"
            if alive and comm == "pgbouncer":
                found.append(Stray("PgBouncer", where, partial(process.stop, pid)))
            elif alive:
                found.append(Stray(SERVER, where, partial(_stop_server, path.parent, pid)))
    return found


def unrecorded(lab_dir: Path) -> list[Stray]:
    """What runs under lab_dir that its state file does not record: processes other than the ones
    it names, lab-pg's servers without its entry, the Aurora clusters' servers without an emulator."""
    st = state.read(lab_dir)
    lab = lab_dir.resolve()
    named = {st[key]["pid"] for key in ("emulator", "heartbeat") if key in st}
    found = [Stray(_MODULES.get(module, module), f"pid {pid}", partial(process.stop, pid))
             for module, pid in _lab_processes(lab) if pid not in named]
    for key, root in (("postgres", lab / "pg"), ("emulator", lab / "aurora")):
        if key not in st and root.is_dir():
            found += _servers(root, lab)
    return found


def _refuse_unrecorded(lab_dir: Path) -> None:
    found = unrecorded(lab_dir)
    if not found:
        return
    servers = [s.where for s in found if s.kind == SERVER]
    said = [str(s) for s in found if s.kind != SERVER] + ([f"running PostgreSQL servers {', '.join(servers)}"] if servers else [])
    raise LabError(f"the lab state {state.state_path(lab_dir)} does not record what runs under {lab_dir.resolve()}: "
                   f"{', '.join(said)}; put that state file back if you have it, else stop them with `dbops lab down`")


def up(cfg: Config, opts: LabOptions, echo: Echo) -> dict[str, Any]:
    with lifecycle(cfg.lab_dir):
        # Before anything changes: a second emulator would wipe the running one's Terraform state and
        # Aurora data, and lab-pg would be created again over its running servers.
        _refuse_unrecorded(cfg.lab_dir)
        # The lab dir follows the config file read: say which one this is.
        echo(f"lab dir: {cfg.lab_dir}" + (f" (beside {cfg.path})" if cfg.path and cfg.lab_dir.parent == cfg.path.parent else ""))
        entry, started = emulator.start(cfg.lab_dir)
        echo(f"emulator: {'started' if started else 'already running'} at {entry['endpoint']} (pid {entry['pid']})")
        window = lab_schedule(cfg)
        from ops.lab.aws import settings

        # The lab bills the estate's Aurora instance hours for the window they run in, as the env declares it.
        settings.remote(entry["endpoint"], {"aurora_schedule": window.setting() if window else ""})
        echo(f"schedule: the estate's Aurora clusters are billed for {window.describe() if window else 'every hour (no schedule)'}")
        if opts.with_postgres:
            _up_postgres(cfg, opts, echo)
    return status(cfg)


def lab_schedule(cfg: Config) -> Window | None:
    """The embedded env's schedule (the default env's when it is embedded, else the first embedded env's)."""
    embedded = [e for e in cfg.envs.values() if e.is_embedded]
    chosen = next((e for e in embedded if e.name == cfg.default_env), embedded[0] if embedded else None)
    return chosen.schedule if chosen else None


def _up_postgres(cfg: Config, opts: LabOptions, echo: Echo) -> None:
    from ops.lab.pg import pgcluster
    from ops.lease import lab_ledger

    try:
        # A drill that holds lab-pg is moving its members around: starting them now could make two writers.
        lease = lab_ledger(cfg.lab_dir).acquire(f"localpg:{pgcluster.NAME}", "lab-up", hours=1)
    except Busy as exc:
        echo(f"{pgcluster.NAME}: left as it is: {exc}")
        return
    with lease:
        existing = pgcluster.get(cfg.lab_dir)
        if existing is not None and len(existing.replicas()) != opts.replicas:
            echo(f"{pgcluster.NAME}: --replicas {opts.replicas} ignored: the lab already has {len(existing.replicas())} "
                 f"replica(s); `dbops lab down` and remove {existing.root} to create it again with another count")
        cluster, started = pgcluster.start(cfg.lab_dir, replicas=opts.replicas, sync=opts.sync, echo=echo)
        echo(f"{pgcluster.NAME}: {'started' if started else 'already running'}; writer {cluster.entry['writer']} on port {cluster.writer_port()}")


DRILL_STOP_WAIT_S = 120.0  # a stopped failover drill heals the cluster first; that takes seconds, not minutes


def down(cfg: Config, echo: Echo, force: bool = False, drill_stop_wait_s: float = DRILL_STOP_WAIT_S) -> None:
    from ops.lab.pg import pgcluster

    from ops.lab.aws import aurora_servers

    with lifecycle(cfg.lab_dir):
        _stop_drills(cfg.lab_dir, echo, force, drill_stop_wait_s)
        strays = unrecorded(cfg.lab_dir)  # before the stops below take entries out of the state
        for name in pgcluster.stop(cfg.lab_dir):
            echo(f"{name}: stopped")
        echo(f"emulator: {'stopped' if emulator.stop(cfg.lab_dir) else 'was not running'}")
        for name in aurora_servers.stop_all(cfg.lab_dir.resolve()):  # what the emulator did not stop itself
            echo(f"{name}: stopped")
        for stray in strays:
            if stray.stop():
                echo(f"{stray}: stopped (the lab state did not record it)")


def _stop_drills(lab_dir: Path, echo: Echo, force: bool, wait_s: float) -> None:
    """A drill holding a lab target would see its database vanish and judge it failed. Without force,
    refuse; with force, interrupt each drill as Ctrl-C would (it cleans up while the lab still runs and
    reports aborted), wait for the leases to be given back, then let the teardown go on."""
    import signal

    from ops.lease import lab_ledger
    from ops.proc import owner_alive

    ledger = lab_ledger(lab_dir)
    held = ledger.holders()
    if not held:
        return
    if not force:
        raise Busy(f"the lab is in use: {'; '.join(f'{h.target} is held by {h.describe()}' for h in held)}; "
                   "let it finish, or `dbops lab down --force` stops it (it reports aborted) and then the lab")
    for h in held:
        if h.pid and owner_alive(h.owner):  # the pid is still the drill's own (its start time matches)
            echo(f"{h.target}: stopping drill {h.drill_id} (pid {h.pid}, SIGTERM); it cleans up and reports aborted")
            os.kill(h.pid, signal.SIGTERM)
        else:
            echo(f"{h.target}: drill {h.drill_id} cannot be signalled (owner {h.owner}); the lab stops under it")
    deadline = time.monotonic() + wait_s
    while ledger.holders() and time.monotonic() < deadline:
        time.sleep(0.2)
    for h in ledger.holders():
        echo(f"{h.target}: drill {h.drill_id} still holds it after {wait_s:.0f} s; stopping the lab anyway")


def status(cfg: Config) -> dict[str, Any]:
    from ops.lab.pg import pgcluster

    if not _in_progress(cfg.lab_dir):  # never "stopped" while a lost state hides what runs
        _refuse_unrecorded(cfg.lab_dir)
    entry = emulator.running(cfg.lab_dir)
    data: dict[str, Any] = {
        "lab_dir": str(cfg.lab_dir),
        "emulator": (
            {"state": "running", "endpoint": entry["endpoint"], "pid": entry["pid"]} if entry else {"state": "stopped"}
        ),
        "postgres": pgcluster.status(cfg.lab_dir),
    }
    data["down"] = parts_down(data)
    return data


def parts_down(status: dict[str, Any]) -> list[str]:
    """The parts of a running lab that do not run as they should: empty when all run, or when none does
    (a lab that is down is not a lab with a part down). A part never started (PostgreSQL with
    --no-postgres, a pooler without pgbouncer installed) is not down."""
    pg = status["postgres"]
    pooler = pg.get("pooler", {"state": "absent"})
    parts = {"emulator": status["emulator"]["state"], pg.get("name", "lab-pg"): pg["state"]}
    if pooler["state"] != "absent":
        parts[f"{pg.get('name', 'lab-pg')} pooler"] = pooler["state"]
    recorded = {name: state for name, state in parts.items() if state != "absent"}
    if all(state == "stopped" for state in recorded.values()):
        return []
    return [f"{name} {state}" for name, state in recorded.items() if state != "running"]


def env_lines(cfg: Config) -> list[str]:
    """Shell export lines for the running lab."""
    entry = emulator.running(cfg.lab_dir)
    if not entry:
        return []
    lines = [
        f"export AWS_ENDPOINT_URL={entry['endpoint']}",
        "export AWS_ACCESS_KEY_ID=testing",
        "export AWS_SECRET_ACCESS_KEY=testing",
        f"export AWS_DEFAULT_REGION={cfg.env('lab').region if 'lab' in cfg.envs else 'us-east-1'}",
    ]
    from ops.lab.pg import pgcluster

    dsn = pgcluster.writer_dsn(cfg.lab_dir)
    if dsn:
        lines.append(f"export DBOPS_LAB_PG_DSN='{dsn}'")
    return lines
