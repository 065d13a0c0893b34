"""Reports: one model, three writers (JSON, Markdown, JUnit XML), and an HTML page drawn from the JSON (ops.report_html).

A drill or check fills a Journal as it runs; `finish()` freezes it into a Report.
Reports are written atomically and never overwrite an existing one.
"""

from __future__ import annotations

import json
import os
import re
import stat
import sys
import tempfile
from dataclasses import asdict, dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, Callable, TextIO
from xml.sax.saxutils import escape, quoteattr

from ops.clock import iso, utcnow
from ops.errors import UsageError

SCHEMA = "dbops.report/v1"
REPORT_STATUSES = ("pass", "fail", "inconclusive", "error", "aborted")
CHECK_STATUSES = ("pass", "warn", "fail", "unknown", "error")
EXIT_CODES = {"pass": 0, "fail": 1, "error": 2, "aborted": 3, "inconclusive": 4}
# Worst last: what a scheduler running several drills reports for the whole run.
SEVERITY = ("pass", "inconclusive", "fail", "error", "aborted")


@dataclass(frozen=True)
class Check:
    id: str
    status: str
    detail: str
    title: str = ""
    objective: bool = False  # what the drill or check exists for: not judged means not a pass

    def __post_init__(self) -> None:
        if self.status not in CHECK_STATUSES:
            raise ValueError(f"check status {self.status!r} not in {CHECK_STATUSES}")


@dataclass(frozen=True)
class Event:
    at: str
    phase: str
    message: str


@dataclass(frozen=True)
class Report:
    kind: str
    target: str
    env: str
    started_at: str
    finished_at: str
    status: str
    summary: str
    measurements: dict[str, float | int | None]
    not_measured: dict[str, str]
    objectives: dict[str, float | int]
    checks: tuple[Check, ...]
    events: tuple[Event, ...]
    details: dict[str, Any] = field(default_factory=dict)
    schema: str = SCHEMA
    # Where it ran: the env's region, and its account (as the config names it; checked by STS before any write).
    region: str | None = None
    account: str | None = None

    @property
    def exit_code(self) -> int:
        return EXIT_CODES[self.status]

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["checks"] = [asdict(c) for c in self.checks]
        data["events"] = [asdict(e) for e in self.events]
        return {"schema": data.pop("schema"), **data}


def derive_status(checks: list[Check] | tuple[Check, ...], required: tuple[str, ...] = ()) -> str:
    """fail > error > inconclusive > pass.

    Only "measured and met" passes: no checks at all, an objective check that is `unknown`,
    or a required objective that was never judged makes the run inconclusive. A `warn`
    and an `unknown` check that is not an objective may still pass.
    """
    statuses = {c.status for c in checks}
    if "fail" in statuses:
        return "fail"
    if "error" in statuses:
        return "error"
    if inconclusive_reasons(checks, required):
        return "inconclusive"
    return "pass"


def inconclusive_reasons(checks: list[Check] | tuple[Check, ...], required: tuple[str, ...] = ()) -> list[str]:
    if not checks:
        return ["nothing was checked"]
    judged = {c.id for c in checks}
    reasons = [f"{cid} was not judged" for cid in required if cid not in judged]
    reasons += [f"{c.id}: {c.detail}" for c in checks if c.objective and c.status == "unknown"]
    return reasons


def deciding_checks(report: Report) -> list[str]:
    """The checks that decided the verdict: the failed ones for fail, the errored ones for error, the
    objectives not measured (unknown, or never judged) for inconclusive; none for pass and aborted."""
    if report.status in ("fail", "error"):
        return [c.id for c in report.checks if c.status == report.status]
    if report.status == "inconclusive":
        judged = {c.id for c in report.checks}
        never = [cid for cid in report.details.get("required", []) if cid not in judged]
        return never + [c.id for c in report.checks if c.objective and c.status == "unknown"]
    return []


def headline(report: Report, text: str) -> str:
    """A one-line summary: the status, the checks that decided it, then what was measured."""
    ids = deciding_checks(report)
    if len(ids) > 4:
        ids = ids[:4] + [f"{len(ids) - 4} more"]
    said = "not measured: " if report.status == "inconclusive" else ""
    return report.status.upper() + (f" ({said}{', '.join(ids)})" if ids else "") + f": {text}"


def escalated(report: Report, check: Check, said: str) -> tuple[str, str]:
    """The status and summary of `report` once `check` is added after it was judged: a failing or erroring check
    turns a pass or an inconclusive run into its own status, its summary saying why first."""
    if check.status in ("fail", "error") and report.status in ("pass", "inconclusive"):
        return check.status, f"{check.status.upper()} ({check.id}): {said}; was: {report.summary}"
    return report.status, report.summary


# C0 controls but tab and newline, DEL and C1: invalid in XML 1.0 or taken by a terminal as a command (clear the
# screen, set its title), never as text.
_CONTROLS = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")


def printable(text: str) -> str:
    """Text from a report (a target, a summary: whatever a hand edit put there) made safe to print to a terminal or
    put in XML: each control character written out as \\xNN, so it is seen and never acted on."""
    return _CONTROLS.sub(lambda m: f"\\x{ord(m.group()):02x}", text)


def measured(value: Any, fmt: str = "{}") -> str:
    """A figure as a summary line shows it: formatted, or "not measured" — never "None" or a default."""
    return "not measured" if value is None else fmt.format(value)


def worst(statuses: list[str]) -> str:
    """The worst of several report statuses (pass when there are none)."""
    return max(statuses, key=SEVERITY.index, default="pass")


def output_closed(stream: Any) -> None:
    """The reader of a drill's output went away (`dbops drill ... 2>&1 | head`): the drill stops as on SIGTERM
    (its handler, set by ops.drills.common.interruptible, aborts it; inside a cleanup it is deferred), so it
    cleans up, writes its report and exits 3. What it would still print goes to /dev/null. Without a drill's
    handler, the closed pipe is raised as it was."""
    import os
    import signal

    try:
        os.dup2(os.open(os.devnull, os.O_WRONLY), stream.fileno())
    except (OSError, ValueError, AttributeError):
        pass  # a stream without a descriptor: it is not written to again (echo is off)
    if signal.getsignal(signal.SIGTERM) in (signal.SIG_DFL, signal.SIG_IGN, None):
        raise BrokenPipeError("the output's reader went away")
    os.kill(os.getpid(), signal.SIGTERM)


class Journal:
    """Collects a drill's or check's events, measurements and checks as it runs."""

    def __init__(
        self,
        kind: str,
        target: str,
        env: str,
        clock: Callable[[], datetime] = utcnow,
        echo: TextIO | None | bool = True,
    ) -> None:
        self.kind, self.target, self.env = kind, target, env
        self.clock = clock
        self.echo = sys.stderr if echo is True else (echo or None)
        self.started_at = clock()
        self.events: list[Event] = []
        self.checks: list[Check] = []
        self.measurements: dict[str, float | int | None] = {}
        self.not_measured: dict[str, str] = {}
        self.objectives: dict[str, float | int] = {}
        self.details: dict[str, Any] = {}
        self.required: tuple[str, ...] = ()

    def require(self, *check_ids: str) -> None:
        """Declare the objective checks of this run: each must be judged, or the run is inconclusive."""
        self.required += tuple(c for c in check_ids if c not in self.required)

    def event(self, phase: str, message: str) -> None:
        now = self.clock()
        self.events.append(Event(iso(now), phase, message))
        if self.echo is not None:
            try:
                print(f"[{now:%H:%M:%S}] {phase:<8} {message}", file=self.echo, flush=True)
            except BrokenPipeError:
                stream, self.echo = self.echo, None
                output_closed(stream)

    def measure(self, name: str, value: float | int) -> None:
        self.measurements[name] = round(value, 3) if isinstance(value, float) else value

    def mark_not_measured(self, name: str, reason: str) -> None:
        """A measurement that could not be taken is null with a reason, never zero."""
        self.measurements[name] = None
        self.not_measured[name] = reason

    def check(self, id: str, status: str, detail: str, title: str = "", objective: bool = False) -> Check:
        c = Check(id, status, detail, title, objective=objective or id in self.required)
        self.checks.append(c)
        self.event("check", f"{id}: {status} — {detail}")
        return c

    def failed_detail(self) -> str:
        return "; ".join(f"{c.id}: {c.detail}" for c in self.checks if c.status in ("fail", "error"))

    def inconclusive_reasons(self) -> list[str]:
        return inconclusive_reasons(self.checks, self.required)

    def finish(self, status: str | None = None, summary: str = "") -> Report:
        status = status or derive_status(self.checks, self.required)
        if status not in REPORT_STATUSES:
            raise ValueError(f"report status {status!r} not in {REPORT_STATUSES}")
        if self.required:
            self.details["required"] = list(self.required)
        if status == "inconclusive":
            self.details["inconclusive_because"] = self.inconclusive_reasons()
        return Report(
            kind=self.kind,
            target=self.target,
            env=self.env,
            started_at=iso(self.started_at),
            finished_at=iso(self.clock()),
            status=status,
            summary=summary or status.upper(),
            measurements=dict(self.measurements),
            not_measured=dict(self.not_measured),
            objectives=dict(self.objectives),
            checks=tuple(self.checks),
            events=tuple(self.events),
            details=dict(self.details),
        )


def render_json(report: Report) -> str:
    return json.dumps(report.to_dict(), indent=2, sort_keys=False) + "\n"


def _fmt(value: Any) -> str:
    if value is None:
        return "not measured"
    if isinstance(value, float):
        return f"{value:.3f}"
    return str(value)


def render_markdown(report: Report) -> str:
    lines = [
        f"# {report.kind} — {report.target}",
        "",
        f"**Status: {report.status.upper()}** — {report.summary}",
        "",
        f"- env: `{report.env}`" + (f", region `{report.region}`" if report.region else "")
        + (f", account `{report.account}`" if report.account else ""),
        f"- started: {report.started_at}",
        f"- finished: {report.finished_at}",
        "",
    ]
    if report.measurements:
        lines += ["## Measurements", "", "| measurement | value | objective |", "|---|---|---|"]
        for name, value in report.measurements.items():
            shown = _fmt(value)
            if name in report.not_measured:
                shown = f"not measured ({report.not_measured[name]})"
            lines.append(f"| {name} | {shown} | {_fmt(report.objectives.get(name, ''))} |")
        lines.append("")
    if report.checks:
        lines += ["## Checks", "", "| id | status | detail |", "|---|---|---|"]
        for c in report.checks:
            lines.append(f"| {c.id} | {c.status} | {c.detail.replace('|', '/')} |")
        lines.append("")
    for title, body in report.details.get("markdown_sections", []):
        lines += [f"## {title}", "", body, ""]
    lines += ["## Events", "", "| at | phase | message |", "|---|---|---|"]
    for e in report.events:
        lines.append(f"| {e.at} | {e.phase} | {e.message.replace('|', '/')} |")
    return "\n".join(lines) + "\n"


def xml_attr(text: str) -> str:
    """A quoted XML attribute value that parses, whatever characters the text holds."""
    return quoteattr(printable(text))


def xml_text(text: str) -> str:
    return escape(printable(text))


def render_junit(report: Report) -> str:
    """One test case per check; a report without checks gets one case for its status.

    An objective that was not measured is an error case (type "inconclusive"), never a
    skipped one: CI treats skipped as fine, and an unmeasured objective is not.
    """
    checks = list(report.checks) or [Check(report.kind, {"pass": "pass", "inconclusive": "unknown"}.get(report.status, "fail"),
                                           report.summary, objective=True)]
    judged = {c.id for c in checks}
    checks += [Check(cid, "unknown", "not judged: the run stopped before it", objective=True)
               for cid in report.details.get("required", []) if cid not in judged]
    extra = 1 if report.status == "aborted" else 0
    failures = sum(c.status == "fail" for c in checks)
    errors = sum(c.status == "error" or (c.status == "unknown" and c.objective) for c in checks) + extra
    skipped = sum(c.status == "unknown" and not c.objective for c in checks)
    suite = f"dbops.{report.kind}.{report.target}"
    out = [
        '<?xml version="1.0" encoding="UTF-8"?>',
        f"<testsuite name={xml_attr(suite)} tests=\"{len(checks) + extra}\" "
        f'failures="{failures}" errors="{errors}" skipped="{skipped}" timestamp={xml_attr(report.started_at)}>',
    ]
    for c in checks:
        out.append(f"  <testcase classname={xml_attr(suite)} name={xml_attr(c.id)}>")
        if c.status == "fail":
            out.append(f"    <failure message={xml_attr(c.detail)}/>")
        elif c.status == "error":
            out.append(f"    <error message={xml_attr(c.detail)}/>")
        elif c.status == "unknown" and c.objective:
            out.append(f"    <error type=\"inconclusive\" message={xml_attr('not measured: ' + c.detail)}/>")
        elif c.status == "unknown":
            out.append(f"    <skipped message={xml_attr(c.detail)}/>")
        elif c.status == "warn":
            out.append(f"    <system-out>{xml_text('warn: ' + c.detail)}</system-out>")
        out.append("  </testcase>")
    if report.status == "aborted":
        out.append(f"  <testcase classname={xml_attr(suite)} name=\"aborted\">")
        out.append(f"    <error message={xml_attr(report.summary)}/>")
        out.append("  </testcase>")
    out.append("</testsuite>")
    return "\n".join(out) + "\n"


def _safe(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", name)


def _umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


_UMASK = _umask()  # read once, at import: os.umask can only be read by setting it


def _temp_beside(path: Path, text: str) -> str:
    """text in a synced temp file in path's directory, for a link or rename to put in place whole; with the mode a
    plain write would leave (the replaced file's, or the umask's), not mkstemp's 0600."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-")
    try:
        try:
            mode = stat.S_IMODE(path.stat().st_mode)
        except OSError:
            mode = 0o666 & ~_UMASK
        os.fchmod(fd, mode)
        with os.fdopen(fd, "w") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
    except BaseException:
        os.unlink(tmp)
        raise
    return tmp


def write_exclusive(path: Path, text: str) -> Path:
    """Write text to path atomically; if path exists, pick path-1, path-2... never overwrite."""
    tmp = _temp_beside(path, text)
    try:
        candidate, n = path, 0
        while True:
            try:
                os.link(tmp, candidate)  # fails if candidate exists: no overwrite, no race
                return candidate
            except FileExistsError:
                n += 1
                candidate = path.with_name(f"{path.stem}-{n}{path.suffix}")
    finally:
        os.unlink(tmp)


def report_id(report: Report) -> str:
    stamp = report.started_at.replace("-", "").replace(":", "").split(".")[0] + "Z"
    return f"{stamp}-{_safe(report.target)}"


def write_replacing(path: Path, text: str) -> Path:
    """Write text to path atomically, replacing what is there: a reader sees the old file or the new one, and an
    interrupted write leaves no partial file and no temp file behind. What is not a regular file (/dev/stdout, a
    pipe) is written to as it is."""
    if path.exists() and not path.is_file():
        path.write_text(text)
        return path
    tmp = _temp_beside(path, text)
    try:
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return path


def write(report: Report, report_dir: Path, junit: Path | None = None) -> dict[str, Path]:
    """Write JSON, Markdown and JUnit where asked (the evidence and CI's verdict), then the HTML page: drawing it
    takes a second or two, and an interrupt meanwhile must cost only the page."""
    base = report_dir / report.kind / f"{report_id(report)}.json"
    json_path = write_exclusive(base, render_json(report))
    md_path = json_path.with_suffix(".md")
    md_path = write_exclusive(md_path, render_markdown(report))
    paths = {"json": json_path, "md": md_path}
    if junit is not None:
        paths["junit"] = write_replacing(junit, render_junit(report))  # chosen by the caller (CI), who expects it replaced
    html_path = write_html(json_path)
    if html_path is not None:
        paths["html"] = html_path
    return paths


def write_html(json_path: Path) -> Path | None:
    """The HTML page beside a report's JSON, exactly `json_path.with_suffix(".html")`, drawn from the JSON as
    written: a view derived from it, so a stale page is replaced (atomically), never kept beside a new one. A page
    that cannot be rendered or written is said in one line on stderr and returns None: the JSON report and its
    verdict stand."""
    try:
        from ops.report_html import render

        return write_replacing(json_path.with_suffix(".html"), render(json.loads(json_path.read_text())))
    except Exception as exc:  # noqa: BLE001 — a page is a view of the report; losing it must not lose the report
        print(f"dbops: warning: HTML page not written for {json_path.name}: {type(exc).__name__}: {exc}", file=sys.stderr)
        return None


# A kind is a directory of the report dir by name: anything else would make the glob below reach elsewhere.
_KIND = re.compile(r"[A-Za-z0-9_-]+")


REQUIRED_TEXT = ("kind", "target", "status", "started_at")  # what every listing sorts, filters or shows by
OPTIONAL_OBJECTS = ("measurements", "not_measured", "objectives", "details")  # read with .get() when present


def read_report(path: Path) -> dict[str, Any] | str:
    """A report's JSON as a dict, or why the file is not one (a hand edit, a truncated copy, another tool's file)."""
    try:
        data = json.loads(path.read_bytes().decode("utf-8"))
    except OSError as exc:
        return f"not readable: {exc.strerror or exc}"
    except UnicodeDecodeError:
        return "not UTF-8 text"
    except RecursionError:
        return "not a report: JSON nested too deep"
    except ValueError as exc:  # json.JSONDecodeError: an empty or truncated file among them
        return f"not JSON ({exc})"
    if not isinstance(data, dict):
        return f"not a JSON object (a JSON {type(data).__name__})"
    if data.get("schema") != SCHEMA:
        return f"schema is not {SCHEMA}"
    missing = [k for k in REQUIRED_TEXT if not isinstance(data.get(k), str)]
    if missing:
        return f"{', '.join(missing)} missing or not text"
    wrong = [k for k in OPTIONAL_OBJECTS if data.get(k) is not None and not isinstance(data[k], dict)]
    if wrong:
        return f"{', '.join(wrong)} not a JSON object"
    return data


def list_reports(report_dir: Path, kind: str | None = None,
                 on_skip: Callable[[Path, str], None] | None = None) -> list[dict[str, Any]]:
    """Every report's JSON under report_dir (of one kind, a plain name), oldest first. A file that is not a
    report (see `read_report`) is left out, and `on_skip(path, why)` told of it: the CLI warns, MCP need not."""
    if kind is not None and not _KIND.fullmatch(kind):
        raise UsageError(f"report kind '{kind}' is not a kind: letters, digits, '-' and '_' only")
    found = []
    pattern = f"{kind}/*.json" if kind else "*/*.json"
    for path in sorted(report_dir.glob(pattern)):
        data = read_report(path)
        if isinstance(data, str):
            if on_skip is not None:
                on_skip(path, data)
            continue
        data["id"] = path.stem
        data["path"] = str(path)
        found.append(data)
    return sorted(found, key=lambda d: (d["started_at"], d["id"]))
