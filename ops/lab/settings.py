"""Settings of the lab's emulated services: the knobs a test or `dbops lab set` turns at run time
(a propagation delay, a fault switch, a cost scenario).

Each lab extension registers its settings with a default and one line of documentation; the
emulator process holds the values and serves them at `/moto-api/dbops-lab/settings`
(GET: every setting; POST a JSON object: change some). Values reset when the emulator restarts.
"""

from __future__ import annotations

import json
import threading
import urllib.error
import urllib.request
from dataclasses import dataclass
from typing import Any

from ops.errors import LabError, UsageError

PATH = "/moto-api/dbops-lab/settings"


@dataclass(frozen=True)
class Setting:
    name: str
    default: Any
    doc: str
    choices: tuple[Any, ...] = ()


_registry: dict[str, Setting] = {}
_values: dict[str, Any] = {}
_listeners: list[Any] = []
_lock = threading.Lock()


def on_change(listener: Any) -> None:
    """Call listener() after every change of the settings (in the emulator process)."""
    _listeners.append(listener)


def register(name: str, default: Any, doc: str, choices: tuple[Any, ...] = ()) -> None:
    _registry[name] = Setting(name, default, doc, choices)


def get(name: str) -> Any:
    with _lock:
        return _values.get(name, _registry[name].default)


def _coerce(setting: Setting, value: Any) -> Any:
    default = setting.default
    if isinstance(default, bool):
        if isinstance(value, str) and value.lower() in ("true", "false", "on", "off", "1", "0"):
            return value.lower() in ("true", "on", "1")
        if isinstance(value, bool):
            return value
    elif isinstance(default, (int, float)):
        try:
            number = float(value)
        except (TypeError, ValueError):
            raise UsageError(f"lab setting {setting.name} takes a number, not {value!r}") from None
        if number != number or number in (float("inf"), float("-inf")) or number < 0:
            raise UsageError(f"lab setting {setting.name} takes a finite number >= 0, not {value!r}")
        return int(number) if isinstance(default, int) and number.is_integer() else number
    else:
        value = str(value)
    if setting.choices and value not in setting.choices:
        raise UsageError(f"lab setting {setting.name} is one of {', '.join(map(str, setting.choices))}, not {value!r}")
    return value


def update(values: dict[str, Any]) -> dict[str, Any]:
    unknown = sorted(set(values) - set(_registry))
    if unknown:
        raise UsageError(f"unknown lab setting(s) {', '.join(unknown)} (known: {', '.join(sorted(_registry))})")
    coerced = {name: _coerce(_registry[name], v) for name, v in values.items()}
    with _lock:
        _values.update(coerced)
    for listener in _listeners:
        listener()
    return snapshot()


def snapshot() -> dict[str, Any]:
    with _lock:
        return {name: {"value": _values.get(name, s.default), "default": s.default, "doc": s.doc,
                       **({"choices": list(s.choices)} if s.choices else {})} for name, s in sorted(_registry.items())}


def handle(request: Any, full_url: str, headers: Any) -> tuple[int, dict[str, str], str]:
    """The emulator's route (moto's handler signature)."""
    try:
        if request.method == "POST":
            body = request.data.decode() if isinstance(request.data, bytes) else (request.data or "{}")
            data = json.loads(body or "{}")
            if not isinstance(data, dict):
                raise UsageError("lab settings are posted as a JSON object")
            return 200, {"Content-Type": "application/json"}, json.dumps(update(data))
        return 200, {"Content-Type": "application/json"}, json.dumps(snapshot())
    except (UsageError, ValueError) as exc:
        return 400, {"Content-Type": "application/json"}, json.dumps({"message": str(exc)})


def remote(endpoint: str, values: dict[str, Any] | None = None, timeout: float = 10.0) -> dict[str, Any]:
    """Read (or, with values, change) the settings of a running lab emulator."""
    data = json.dumps(values).encode() if values is not None else None
    request = urllib.request.Request(endpoint.rstrip("/") + PATH, data=data, method="POST" if data else "GET",
                                     headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as answer:
            return json.loads(answer.read())
    except urllib.error.HTTPError as exc:
        try:
            message = json.loads(exc.read()).get("message")
        except ValueError:
            message = None
        raise UsageError(message or f"the lab emulator refused the settings: HTTP {exc.code}") from None
    except (urllib.error.URLError, OSError) as exc:
        raise LabError(f"the lab emulator at {endpoint} does not answer: {exc}") from None


def install() -> None:
    from moto.moto_api._internal import urls

    urls.url_paths["{0}" + PATH + "$"] = handle
