"""The lab's state file, `.lab/state.json`: what `lab up` started, so `lab down` stops exactly that."""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any


def state_path(lab_dir: Path) -> Path:
    return lab_dir / "state.json"


def read(lab_dir: Path) -> dict[str, Any]:
    try:
        return json.loads(state_path(lab_dir).read_text())
    except FileNotFoundError:
        return {}
    except json.JSONDecodeError:
        return {}


def write(lab_dir: Path, state: dict[str, Any]) -> None:
    lab_dir.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=lab_dir, prefix=".state.", suffix=".json")
    with os.fdopen(fd, "w") as f:
        json.dump(state, f, indent=2, sort_keys=True)
    os.replace(tmp, state_path(lab_dir))


def update(lab_dir: Path, key: str, value: Any) -> dict[str, Any]:
    state = read(lab_dir)
    if value is None:
        state.pop(key, None)
    else:
        state[key] = value
    write(lab_dir, state)
    return state
