"""The lab's state file, `.lab/state.json`: what `lab up` started, so `lab down` stops exactly that.

Written atomically (temp file, fsync, rename) and updated under an exclusive lock, so two
dbops processes never lose each other's changes. A state file that cannot be parsed is an
error naming the file and what to do — never read as "nothing runs", which would make
`lab down` stop nothing and `lab up` start a second set of processes.
"""

from __future__ import annotations

import fcntl
import json
import os
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator

from ops.errors import LabError


def state_path(lab_dir: Path) -> Path:
    return lab_dir / "state.json"


def read(lab_dir: Path) -> dict[str, Any]:
    path = state_path(lab_dir)
    try:
        text = path.read_text()
    except FileNotFoundError:
        return {}
    except OSError as exc:
        raise LabError(f"lab state {path} cannot be read: {exc.strerror}") from None
    try:
        data = json.loads(text)
        if not isinstance(data, dict):
            raise ValueError("not a JSON object")
        return data
    except ValueError as exc:
        raise LabError(
            f"lab state {path} is corrupt ({exc}); the lab's processes may still run: list them with "
            f"`pgrep -af 'ops.lab|postgres -D {lab_dir.resolve()}'`, stop them, then move {path} aside and run `dbops lab up`"
        ) from None


@contextmanager
def locked(lab_dir: Path) -> Iterator[None]:
    """Hold the lab's state lock (one writer of state.json at a time)."""
    lab_dir.mkdir(parents=True, exist_ok=True)
    fd = os.open(lab_dir / "state.lock", os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)


def write(lab_dir: Path, state: dict[str, Any]) -> None:
    write_json(state_path(lab_dir), state)


def write_json(path: Path, data: dict[str, Any]) -> None:
    """Atomically: a temp file beside it, fsync, rename."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.stem}.", suffix=".json")
    try:
        with os.fdopen(fd, "w") as f:
            json.dump(data, f, indent=2, sort_keys=True)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def update(lab_dir: Path, key: str, value: Any) -> dict[str, Any]:
    with locked(lab_dir):
        state = read(lab_dir)
        if value is None:
            state.pop(key, None)
        else:
            state[key] = value
        write(lab_dir, state)
        return state
