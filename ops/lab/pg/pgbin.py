"""Run PostgreSQL's server binaries (found by ops.pgbin), as the `postgres` OS user when we are root."""

from __future__ import annotations

import os
import pwd
import subprocess
from pathlib import Path

from ops.errors import LabError
from ops.pgbin import CANDIDATE_DIRS, available, bindir  # noqa: F401 — the lab locates them as the core does

PG_USER = "postgres"


def as_root() -> bool:
    return os.geteuid() == 0


def command(name: str, *args: str) -> list[str]:
    return as_pg_user([str(bindir() / name), *args])


def as_pg_user(argv: list[str]) -> list[str]:
    return ["runuser", "-u", PG_USER, "--", *argv] if as_root() else argv


def run(name: str, *args: str, timeout: float = 120.0, check: bool = True) -> subprocess.CompletedProcess:
    return run_argv(command(name, *args), name, timeout, check)


def run_argv(argv: list[str], name: str, timeout: float = 120.0, check: bool = True) -> subprocess.CompletedProcess:
    proc = subprocess.run(
        argv,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=timeout,
        start_new_session=True,  # servers started by pg_ctl must outlive a Ctrl-C of ours
    )
    if check and proc.returncode != 0:
        tail = (proc.stderr or proc.stdout).strip().splitlines()[-3:]
        raise LabError(f"{name} failed: {' / '.join(tail)}")
    return proc


def own(path: Path, recursive: bool = True) -> None:
    """Give path (recursively) to the postgres user when we run as root."""
    if not as_root():
        return
    pw = pwd.getpwnam(PG_USER)
    for p in [path, *(path.rglob("*") if recursive else [])]:
        try:
            os.lchown(p, pw.pw_uid, pw.pw_gid)
        except FileNotFoundError:
            pass  # removed meanwhile (another restore or snapshot going away)


def make_dir(path: Path, mode: int = 0o700) -> Path:
    """The directory itself, for the postgres user; what is already inside it is left as it is."""
    path.mkdir(parents=True, exist_ok=True)
    path.chmod(mode)
    own(path, recursive=False)
    return path


def ensure_traversable(path: Path) -> None:
    """The postgres user must be able to reach path: every parent needs o+x."""
    if not as_root():
        return
    for parent in [path, *path.parents]:
        mode = parent.stat().st_mode
        if not mode & 0o001:
            raise LabError(f"{parent} is not traversable by the {PG_USER} user (chmod o+x {parent})")
