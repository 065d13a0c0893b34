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
    except UnicodeDecodeError as exc:
        raise LabError(f"lab state {path} is corrupt (not UTF-8: {exc.reason}); move it aside and run `dbops lab down` "
                       f"to stop what still runs under {lab_dir.resolve()}") from None
    try:
        data = json.loads(text)
    except ValueError as exc:
        raise LabError(
            f"lab state {path} is corrupt ({exc}); move it aside and run `dbops lab down` "
            f"to stop what still runs under {lab_dir.resolve()}"
        ) from None
    problem = _misfit(data, SHAPE, "") or _outside(data, lab_dir)
    if problem:
        # Read as it is, a hand-edited entry fails later as a TypeError that names neither file nor key.
        raise LabError(f"lab state {path} is malformed: {problem}; fix it, or move it aside and run `dbops lab down` "
                       f"to stop what still runs under {lab_dir.resolve()}")
    return data


def _outside(data: dict[str, Any], lab_dir: Path) -> str | None:
    """A data directory the lab would start and stop must be the lab's own (a copied lab dir names the original's)."""
    pg = data.get("postgres") or {}
    paths = [("postgres.root", pg.get("root"))] + [(f"postgres.members[{i}].datadir", m.get("datadir"))
                                                    for i, m in enumerate(pg.get("members") or [])]
    for where, path in paths:
        if path is not None and not Path(path).resolve().is_relative_to(lab_dir.resolve()):
            return f"'{where}' is {path}, outside the lab dir {lab_dir.resolve()}"
    return None


class _Closed(dict):
    """An entry that may hold these keys only (it becomes keyword arguments)."""


# What the lab reads of each entry; a key ending in "?" may be absent. Other top-level keys are left alone.
_MEMBER = _Closed({"name": str, "port": int, "datadir": str, "host?": str, "user?": str})
SHAPE: dict[str, Any] = {
    # A pid without its start time could be any process by now: both are needed to stop one.
    "emulator?": {"pid": int, "started": int, "port": int, "endpoint": str},
    "heartbeat?": {"pid": int, "started": int},
    "postgres?": {"root": str, "mode": str, "writer": str, "members": [_MEMBER], "pooler?": {"port": int}},
}
_KINDS = {dict: "an object", list: "a list", str: "a string", int: "an integer", float: "a number",
          bool: "a boolean", type(None): "null"}


def _kind(value: Any) -> str:
    return _KINDS.get(type(value), type(value).__name__)


def _misfit(value: Any, shape: Any, where: str) -> str | None:
    """Where value does not have the shape, said in a few words; None when it has."""
    said = f"'{where}'" if where else "the file"
    if isinstance(shape, dict):
        if not isinstance(value, dict):
            return f"{said} is {_kind(value)}, not an object"
        names = {key.rstrip("?") for key in shape}
        if isinstance(shape, _Closed) and set(value) - names:
            return f"{said} has unknown key(s) {', '.join(sorted(set(value) - names))}"
        for key, inner in shape.items():
            name = key.rstrip("?")
            if name not in value:
                if key.endswith("?"):
                    continue
                return f"'{where + '.' if where else ''}{name}' is missing"
            problem = _misfit(value[name], inner, f"{where + '.' if where else ''}{name}")
            if problem:
                return problem
        return None
    if isinstance(shape, list):
        if not isinstance(value, list):
            return f"{said} is {_kind(value)}, not a list"
        return next(filter(None, (_misfit(v, shape[0], f"{where}[{i}]") for i, v in enumerate(value))), None)
    kinds = shape if isinstance(shape, tuple) else (shape,)
    if (isinstance(value, bool) and bool not in kinds) or not isinstance(value, kinds):  # JSON true is no pid
        return f"{said} is {_kind(value)}, not {' or '.join(_KINDS[k] for k in kinds)}"
    return None


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
