"""pgbench custom scripts: the workload of a latency drill, and pgbench's per-transaction log.

pgbench runs the scripts (FILE@WEIGHT, as its own -f takes them) at a fixed rate (-R) with N
clients for T seconds and logs every transaction (--log): client, transaction number,
latency in microseconds (or `failed`), script number, time, and the schedule lag. Under a
rate limit the latency is counted from the transaction's scheduled start, so time spent
queued behind a slow server is in it, as a client with its own arrival schedule sees it.

Connection parameters reach pgbench through the environment (PGHOST, PGUSER, PGPASSWORD...),
never its command line, where other users of the host could read them.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from ops.errors import CannotRun, UsageError
from ops.proc import deferred_interrupts, held_interrupts, is_running, start_time

# libpq connection parameters and the environment variables libpq reads them from.
PG_ENV = {
    "host": "PGHOST", "hostaddr": "PGHOSTADDR", "port": "PGPORT", "dbname": "PGDATABASE", "user": "PGUSER",
    "password": "PGPASSWORD", "passfile": "PGPASSFILE", "options": "PGOPTIONS", "application_name": "PGAPPNAME",
    "sslmode": "PGSSLMODE", "sslcert": "PGSSLCERT", "sslkey": "PGSSLKEY", "sslrootcert": "PGSSLROOTCERT",
    "sslcrl": "PGSSLCRL", "sslcompression": "PGSSLCOMPRESSION", "sslsni": "PGSSLSNI", "requirepeer": "PGREQUIREPEER",
    "ssl_min_protocol_version": "PGSSLMINPROTOCOLVERSION", "ssl_max_protocol_version": "PGSSLMAXPROTOCOLVERSION",
    "gssencmode": "PGGSSENCMODE", "krbsrvname": "PGKRBSRVNAME", "gsslib": "PGGSSLIB", "channel_binding": "PGCHANNELBINDING",
    "connect_timeout": "PGCONNECT_TIMEOUT", "client_encoding": "PGCLIENTENCODING", "target_session_attrs": "PGTARGETSESSIONATTRS",
    "service": "PGSERVICE", "load_balance_hosts": "PGLOADBALANCEHOSTS",
}
READ_ONLY_OPTION = "-c default_transaction_read_only=on"
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
MAX_WEIGHT = 1000


@dataclass(frozen=True)
class Script:
    path: Path
    weight: int
    label: str  # the file's stem, made unique among the scripts

    @property
    def spec(self) -> str:
        return f"{self.path}@{self.weight}"


def parse_scripts(specs: tuple[str, ...] | list[str], base: Path | None = None) -> tuple[Script, ...]:
    """FILE[@WEIGHT] as pgbench's -f takes it; every file must be readable, some weight above 0."""
    if not specs:
        raise UsageError("give at least one --workload FILE[@WEIGHT]")
    out: list[Script] = []
    labels: Counter[str] = Counter()
    for spec in specs:
        path_text, weight = spec, 1
        head, sep, tail = spec.rpartition("@")
        if sep and re.fullmatch(r"\s*-?\d+\s*", tail):
            path_text, weight = head, int(tail)
        elif sep and tail and not Path(spec).exists():
            raise UsageError(f"--workload {spec}: weight '{tail}' is not an integer")
        if not 0 <= weight <= MAX_WEIGHT:
            raise UsageError(f"--workload {spec}: weight must be within 0..{MAX_WEIGHT}")
        path = Path(path_text.strip()).expanduser()
        if base is not None and not path.is_absolute() and not path.exists():
            path = base / path
        if not path_text.strip():
            raise UsageError("--workload must name a file")
        if not path.is_file():
            raise UsageError(f"--workload {path_text}: no such file")
        try:
            text = path.read_text()
        except (OSError, UnicodeDecodeError) as exc:
            raise UsageError(f"--workload {path_text}: cannot be read ({getattr(exc, 'strerror', None) or exc})") from None
        if not any(line.strip() and not line.strip().startswith("--") for line in text.splitlines()):
            raise UsageError(f"--workload {path_text}: has no command")
        if not sends_sql(text):
            raise UsageError(f"--workload {path_text}: the workload sends no SQL statement, only meta-commands: "
                             "its transactions would measure nothing")
        shell = SHELL_META.search(re.sub(r"/\*.*?\*/", " ", text, flags=re.S))
        if shell:
            raise UsageError(f"--workload {path_text}: {shell[1]} runs a program on this machine as the drill's user "
                             "(with its credentials): a workload sends SQL only")
        stem = path.name.removesuffix(".sql")
        labels[stem] += 1
        label = stem if labels[stem] == 1 else f"{stem}-{labels[stem]}"
        out.append(Script(path.resolve(), weight, label))
    if not any(s.weight for s in out):
        raise UsageError("--workload: every weight is 0; at least one script must run")
    return tuple(out)


# pgbench meta-commands that run a program: nothing a database workload needs, everything a read-only
# guard cannot see (the program connects as anyone, with the operator's environment).
SHELL_META = re.compile(r"^[ \t]*(\\(?:shell|setshell))\b", re.M | re.I)
# What pgbench is never given from the operator's environment: credentials of other systems.
SECRET_ENV = re.compile(r"^(AWS_|AZURE_|GOOGLE_|GCP_|VAULT_|.*(?:TOKEN|SECRET|PASSWORD|CREDENTIAL)S?$)")


def sends_sql(text: str) -> bool:
    """Whether a script holds an SQL command, not only comments, meta-commands (their lines continued
    with a trailing backslash included) and bare semicolons."""
    continued = False
    for line in re.sub(r"/\*.*?\*/", " ", text, flags=re.S).splitlines():
        stripped = line.strip()
        meta = continued or stripped.startswith("\\")
        continued = meta and stripped.endswith("\\")
        if not meta and stripped.split("--", 1)[0].strip(" \t;"):
            return True
    return False


def validate(pgbench: Path, scripts: tuple[Script, ...], defines: tuple[tuple[str, str], ...]) -> None:
    """pgbench's own parser on each script, with no server touched. pgbench parses its -f files as it
    reads its options and connects only after them: told to connect to a socket in an empty directory,
    it names that directory once a script has parsed, and prints its parse error otherwise."""
    with tempfile.TemporaryDirectory(prefix="dbops-pgcheck-") as nowhere:
        env = {k: v for k, v in os.environ.items() if not k.startswith("PG")} | {"PGHOST": nowhere, "PGPORT": "1"}
        for script in scripts:
            # Run from the script's directory so that pgbench's error names the file as the user knows it.
            args = [str(pgbench), "--no-vacuum", "--transactions", "1", "--file", f"{script.path.name}@1"]
            for name, value in defines:
                args += ["--define", f"{name}={value}"]
            try:
                done = subprocess.run(args, env=env, cwd=script.path.parent, stdin=subprocess.DEVNULL, capture_output=True,
                                      text=True, timeout=30)
            except subprocess.TimeoutExpired:
                raise CannotRun(f"pgbench did not finish reading {script.path} within 30 s") from None
            if done.returncode == 0 or nowhere in done.stderr:
                continue
            lines = [ln.strip() for ln in done.stderr.splitlines() if ln.strip()]
            first = next((ln for ln in lines if ln.startswith("pgbench: error:")), lines[0] if lines else f"exit {done.returncode}")
            raise UsageError(f"--workload {script.path}: pgbench cannot parse it: {first.removeprefix('pgbench: error: ')}")


def parse_defines(items: tuple[str, ...] | list[str]) -> tuple[tuple[str, str], ...]:
    out = []
    for item in items:
        name, sep, value = item.partition("=")
        if not sep or not _NAME.fullmatch(name):
            raise UsageError(f"--define {item!r} must be NAME=VALUE with NAME a pgbench variable name")
        out.append((name, value))
    return tuple(out)


def environment(dsn: str, read_only: bool, application_name: str = "dbops-latency-drill",
                base: dict[str, str] | None = None) -> dict[str, str]:
    """The environment pgbench connects with: libpq's PG* variables from the DSN, none inherited."""
    from psycopg.conninfo import conninfo_to_dict

    from ops.query.endpoints import for_read_only

    params = {k: str(v) for k, v in conninfo_to_dict(for_read_only(dsn) if read_only else dsn).items() if v is not None}
    env = {k: v for k, v in (os.environ if base is None else base).items() if not k.startswith("PG") and not SECRET_ENV.match(k)}
    for key, value in params.items():
        if key not in PG_ENV:
            raise UsageError(f"connection parameter '{key}' has no libpq environment variable; pgbench cannot be given it "
                             "without its command line")
        env[PG_ENV[key]] = value
    env.setdefault("PGAPPNAME", application_name)
    if read_only:
        env["PGOPTIONS"] = f"{env.get('PGOPTIONS', '')} {READ_ONLY_OPTION}".strip()
    return env


def binary() -> Path:
    from ops import pgbin

    try:
        path = pgbin.bindir() / "pgbench"
    except Exception:  # noqa: BLE001 — the server binaries' location is one place pgbench may be
        path = Path("/nonexistent")
    if path.exists():
        return path
    found = shutil.which("pgbench")
    if found:
        return Path(found)
    raise CannotRun("pgbench not found (it ships with PostgreSQL: postgresql-15 or postgresql-client; or set DBOPS_PG_BIN)")


@dataclass(frozen=True)
class Settings:
    scripts: tuple[Script, ...]
    clients: int
    duration_s: int
    rate: float  # transactions per second, all clients together
    defines: tuple[tuple[str, str], ...] = ()
    progress_s: int = 5


def argv(pgbench: Path, s: Settings, log_prefix: Path) -> list[str]:
    """pgbench's command line: scripts, load and logging; no connection parameter is on it."""
    threads = max(1, min(s.clients, os.cpu_count() or 1))
    args = [str(pgbench), "--no-vacuum", "--client", str(s.clients), "--jobs", str(threads), "--time", str(s.duration_s),
            "--rate", f"{s.rate:g}", "--log", f"--log-prefix={log_prefix}", "--progress", str(s.progress_s)]
    for script in s.scripts:
        args += ["--file", script.spec]
    for name, value in s.defines:
        args += ["--define", f"{name}={value}"]
    return args


@dataclass(frozen=True)
class Tx:
    script: int
    latency_us: int | None  # None: failed
    lag_us: int | None


@dataclass
class Run:
    returncode: int
    argv: list[str]
    transactions: list[Tx] = field(default_factory=list)
    aborted: list[tuple[int, str]] = field(default_factory=list)  # (script number or -1, error class)
    tps: float | None = None
    errors: list[str] = field(default_factory=list)  # pgbench's own error lines (one line each)
    stdout: str = ""
    overran_s: float | None = None  # set when pgbench was stopped this long after its --time: the server stopped answering
    progress: list[tuple[float, float]] = field(default_factory=list)  # (seconds since start, tx/s) of each --progress line
    stopped: str | None = None  # why pgbench was stopped before its --time (should_stop named a reason)

    @property
    def progress_transactions(self) -> int | None:
        """Transactions completed by the last --progress line, from its rates and intervals (None: no line).
        pgbench buffers its per-transaction log: stopped, it loses what it had not written; these lines
        went to its stderr as they came."""
        if not self.progress:
            return None
        total, since = 0.0, 0.0
        for at, tps in self.progress:
            total += tps * (at - since)
            since = at
        return round(total)


# A client stopped by an error: an SQL command's, or a meta command's (\set and the like).
_ABORT_SQL = re.compile(r"client \d+ script (?P<script>\d+) aborted in command \d+ query \d+: (?P<error>.*)")
_ABORT_META = re.compile(r"client \d+ aborted in command \d+ \(\w+\) of script (?P<script>\d+); (?P<error>.*)")
# progress: 5.0 s, 49.8 tps, lat 1.234 ms stddev 0.321, 0 failed, lag 0.101 ms
_PROGRESS = re.compile(r"^progress: (?P<at>\d+(?:\.\d+)?) s, (?P<tps>\d+(?:\.\d+)?) tps")


def parse_progress(line: str) -> tuple[float, float] | None:
    m = _PROGRESS.match(line)
    return (float(m.group("at")), float(m.group("tps"))) if m else None


def parse_log_line(line: str) -> Tx | None:
    """client_id transaction_no time script_no time_epoch time_us [schedule_lag [retries]]"""
    parts = line.split()
    if len(parts) < 6:
        return None
    latency = None if parts[2] in ("failed", "skipped") else int(parts[2])
    if parts[2] == "skipped":
        return None
    lag = int(parts[6]) if len(parts) > 6 and parts[6].lstrip("-").isdigit() else None
    return Tx(int(parts[3]), latency, lag)


def read_logs(log_dir: Path, prefix: str) -> list[Tx]:
    out = []
    for path in sorted(log_dir.glob(f"{prefix}.*")):
        with path.open() as f:
            for line in f:
                if not line.endswith("\n"):
                    break  # cut short where pgbench was stopped: its fields may be cut too
                tx = parse_log_line(line)
                if tx is not None:
                    out.append(tx)
    return out


def run(s: Settings, env: dict[str, str], on_progress: Callable[[str], None], timeout_s: float | None = None,
        should_stop: Callable[[], str | None] | None = None) -> Run:
    """Run pgbench to the end and read its log. A KeyboardInterrupt stops pgbench first, then propagates.
    should_stop (the lease's loss) is polled four times a second: once it names a reason, pgbench is
    stopped and the run says why (Run.stopped)."""
    from ops.query.sqltext import message

    remove_orphan_log_dirs()
    me = os.getpid()
    log_dir = Path(tempfile.mkdtemp(prefix=f"{LOG_DIR_PREFIX}{me}.{start_time(me)}-"))  # its owner, for the next drill
    prefix = "tx"
    args = argv(binary(), s, log_dir / prefix)
    result = Run(returncode=-1, argv=args)
    try:
        # A session of its own: a Ctrl-C at the terminal reaches the drill only, which stops pgbench (_stop) and
        # still reads its log; dying with the drill: a SIGKILLed drill leaves no pgbench loading the database.
        # Held until pgbench and its two watchers run: an interrupt in between would leave it loading the database
        # with nothing to stop it; raised inside the try below, whose finally stops it.
        with deferred_interrupts(on_progress, "starting pgbench") as starting:
            proc = subprocess.Popen(args, env=env, cwd=log_dir, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                    stderr=subprocess.PIPE, text=True, start_new_session=True, preexec_fn=_die_with_parent())
            # pgbench waits on a server that stops answering for ever: stopped OVERRUN_S after its --time, it still
            # writes what it logged, and the drill says it overran.
            limit = timeout_s or (s.duration_s + OVERRUN_S)
            watchdog = threading.Timer(limit, lambda: (setattr(result, "overran_s", limit - s.duration_s), _stop(proc)))
            watchdog.daemon = True
            watchdog.start()
            ended = threading.Event()

            def watch() -> None:
                while should_stop is not None and not ended.wait(0.25):
                    why = should_stop()
                    if why:
                        result.stopped = why
                        _stop(proc)
                        return

            threading.Thread(target=watch, daemon=True).start()
        try:
            if starting.count:
                raise KeyboardInterrupt("interrupted while pgbench started")
            assert proc.stderr is not None and proc.stdout is not None
            for line in proc.stderr:
                line = line.rstrip()
                if line.startswith("progress:"):
                    point = parse_progress(line)
                    if point is not None:
                        result.progress.append(point)
                    on_progress(line)
                    continue
                m = _ABORT_SQL.search(line) or _ABORT_META.search(line)
                if m:
                    result.aborted.append((int(m.group("script")), message(m.group("error"))))
                elif line.strip():
                    result.errors.append(message(line.removeprefix("pgbench: ")))
            result.stdout = proc.stdout.read()
            result.returncode = proc.wait()
        finally:
            ended.set()
            watchdog.cancel()
            if proc.poll() is None:
                # Stopping takes up to 15 s: an interrupt meanwhile waits, or pgbench would be left loading the database.
                with held_interrupts(on_progress, "stopping pgbench"):
                    _stop(proc)
        found = re.search(r"^tps = ([\d.]+)", result.stdout, re.M)
        result.tps = float(found.group(1)) if found else None
        result.transactions = read_logs(log_dir, prefix)
        return result
    finally:
        shutil.rmtree(log_dir, ignore_errors=True)


LOG_DIR_PREFIX = "dbops-pgbench-"
OVERRUN_S = 30.0


def remove_orphan_log_dirs() -> None:
    """Remove the log directories of drills killed before their cleanup ran (SIGKILL): those whose owner,
    named in the directory's name, is gone. Others (a drill running on this host) are left alone."""
    for path in Path(tempfile.gettempdir()).glob(f"{LOG_DIR_PREFIX}*"):
        owner = re.fullmatch(rf"{LOG_DIR_PREFIX}(\d+)\.(\d+)-\w+", path.name)
        if owner and not is_running(int(owner.group(1)), int(owner.group(2))):
            shutil.rmtree(path, ignore_errors=True)


def _die_with_parent() -> Callable[[], None] | None:
    """A preexec_fn asking Linux to SIGKILL the child when the drill dies (PR_SET_PDEATHSIG): in its own
    session, nothing else stops it. The signal follows the thread that started it: run() waits on it."""
    if not sys.platform.startswith("linux"):
        return None
    import ctypes

    try:
        prctl = ctypes.CDLL(None, use_errno=True).prctl  # looked up here: the child only calls it
    except (OSError, AttributeError):
        return None
    parent = os.getpid()

    def preexec() -> None:
        prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
        if os.getppid() != parent:  # the drill died before prctl: no signal will come
            os._exit(1)

    return preexec


def _stop(proc: subprocess.Popen) -> None:
    for sig, wait in ((signal.SIGINT, 5), (signal.SIGTERM, 5), (signal.SIGKILL, 5)):
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            return
        try:
            proc.wait(timeout=wait)
            return
        except subprocess.TimeoutExpired:
            continue

