"""Settings of the lab's emulated services: the knobs a test or `dbops lab set` turns at run time
(a propagation delay, a fault switch, a cost scenario).

Each lab extension registers its settings with a default, one line of documentation and, for a
number, the range it may take; the type is the default's. A value of another type or outside the
range is refused and, in a change of several settings, changes none of them. The emulator process
holds the values and serves them at `/moto-api/dbops-lab/settings` (GET: every setting; POST a
JSON object: change some). Values reset when the emulator restarts.
"""

from __future__ import annotations

import json
import re
import threading
import urllib.error
import urllib.request
from dataclasses import dataclass
from typing import Any

from ops.errors import LabError, UsageError

PATH = "/moto-api/dbops-lab/settings"


TRUE_WORDS = ("true", "on", "yes", "1")
FALSE_WORDS = ("false", "off", "no", "0")


@dataclass(frozen=True)
class Setting:
    name: str
    default: Any
    doc: str
    choices: tuple[Any, ...] = ()
    minimum: float | None = None  # numbers only: the range a value must fall in (both ends included)
    maximum: float | None = None
    integer: bool = False  # numbers only: a whole number (a count), not a duration or rate
    pattern: str | None = None  # text only: what a value must match in full ('' always allowed: none)
    pattern_doc: str = ""  # the pattern said in words, for the refusal


_registry: dict[str, Setting] = {}
_values: dict[str, Any] = {}
_listeners: list[Any] = []
_lock = threading.Lock()


def on_change(listener: Any) -> None:
    """Call listener() after every change of the settings (in the emulator process)."""
    _listeners.append(listener)


def register(name: str, default: Any, doc: str, choices: tuple[Any, ...] = (), *,
             minimum: float | None = None, maximum: float | None = None, integer: bool = False,
             pattern: str | None = None, pattern_doc: str = "") -> None:
    """A number must say its range: a lab knob with no bound takes 1e308 or a zero page size."""
    numeric = isinstance(default, (int, float)) and not isinstance(default, bool)
    if numeric and (minimum is None or maximum is None or not minimum <= default <= maximum):
        raise ValueError(f"lab setting {name}: a number needs a range holding its default {default}")
    _registry[name] = Setting(name, default, doc, choices, minimum, maximum, integer, pattern, pattern_doc)


def get(name: str) -> Any:
    with _lock:
        return _values.get(name, _registry[name].default)


def _coerce(setting: Setting, value: Any) -> Any:
    default = setting.default
    if isinstance(default, bool):
        return _boolean(setting, value)
    if isinstance(default, (int, float)):
        return _number(setting, value)
    value = str(value)
    if setting.choices and value not in setting.choices:
        raise UsageError(f"lab setting {setting.name} is one of {', '.join(map(str, setting.choices))}, not {value!r}")
    if setting.pattern and value and not re.fullmatch(setting.pattern, value):
        raise UsageError(f"lab setting {setting.name} is {setting.pattern_doc or setting.pattern} ('' for none), not {value!r}")
    return value


def _boolean(setting: Setting, value: Any) -> bool:
    if isinstance(value, bool):
        return value
    word = str(value).strip().lower() if isinstance(value, (str, int)) else None
    if word in TRUE_WORDS or word in FALSE_WORDS:
        return word in TRUE_WORDS
    raise UsageError(f"lab setting {setting.name} is true or false (or on/off, yes/no, 1/0), not {value!r}")


def _number(setting: Setting, value: Any) -> int | float:
    low, high = setting.minimum, setting.maximum
    kind = "a whole number" if setting.integer else "a number"
    wanted = f"lab setting {setting.name} takes {kind} from {low:g} to {high:g}, not {value!r}"
    if isinstance(value, bool):  # JSON true is not 1 here
        raise UsageError(wanted)
    try:
        number = float(value)
    except (TypeError, ValueError, OverflowError):
        raise UsageError(wanted) from None
    if number != number or not low <= number <= high or (setting.integer and not number.is_integer()):  # NaN fails every test
        raise UsageError(wanted)
    return int(number) if number.is_integer() and (setting.integer or isinstance(setting.default, int)) else number


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
                       **({"choices": list(s.choices)} if s.choices else {}),
                       **({"range": [s.minimum, s.maximum]} if s.minimum is not None else {})}
                for name, s in sorted(_registry.items())}


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
