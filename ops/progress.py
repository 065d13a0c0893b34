"""A long wait's progress: a live display on a terminal, the plain lines it always printed otherwise.

On a terminal (a Terraform apply, a restore, the weekly drill run by hand) a spinner, the time waited
against the deadline and the latest word from the wait stay on one line, and the lines the wait
prints appear above it. Piped to a file, a log or CI, nothing changes: the same plain lines, no
escape codes.

Whether the display is live is decided here, not by rich: rich takes a pipe for a terminal when
FORCE_COLOR or TTY_COMPATIBLE is set, as CI systems often do to colour their logs, and a log would
then fill with spinner frames.
"""

from __future__ import annotations

import io
import os
import sys
import time
from contextlib import contextmanager
from types import TracebackType
from typing import Any, Callable, Iterator, Mapping, TextIO

from rich.console import Console, RenderableType
from rich.progress import Progress, ProgressColumn, SpinnerColumn, Task, TextColumn, TimeElapsedColumn
from rich.progress_bar import ProgressBar
from rich.table import Column
from rich.text import Text


# Set (to anything but "", "0" or "false") by CI systems: their log is no terminal, whatever it emulates.
CI_VARIABLES = ("CI", "GITHUB_ACTIONS", "GITLAB_CI", "BUILDKITE", "CIRCLECI", "JENKINS_URL", "TEAMCITY_VERSION", "TF_BUILD")


def live_display(stream: TextIO | None, environ: Mapping[str, str] = os.environ) -> bool:
    """Whether a wait on `stream` is shown live: DBOPS_PROGRESS=1 or 0 says so; otherwise only when the stream
    itself is a terminal, TERM is not "dumb" and no CI variable is set. A stream of None never is."""
    if stream is None:
        return False
    forced = environ.get("DBOPS_PROGRESS", "").strip()
    if forced in ("0", "1"):
        return forced == "1"
    try:
        on_terminal = bool(stream.isatty())
    except (AttributeError, ValueError, OSError):  # no isatty, or a closed stream: not a terminal
        return False
    under_ci = any(environ.get(name, "").strip().lower() not in ("", "0", "false") for name in CI_VARIABLES)
    return on_terminal and environ.get("TERM") != "dumb" and not under_ci


class _DeadlineBar(ProgressColumn):
    """The time waited as a share of the deadline, redrawn as time passes (no caller has to tick it)."""

    def render(self, task: Task) -> RenderableType:
        if not task.total:
            return Text("")
        return ProgressBar(total=task.total, completed=min(task.elapsed or 0.0, task.total), width=24)


class _Deadline(ProgressColumn):
    def render(self, task: Task) -> RenderableType:
        return Text(f"of {task.total:.0f}s" if task.total else "")


def _cut(share: int) -> Column:
    """A column of text that takes `share` of the width the fixed columns leave, cut short with an ellipsis."""
    return Column(ratio=share, no_wrap=True, overflow="ellipsis")


class _Lines(io.TextIOBase):
    """A stream whose whole lines are printed above the live display."""

    def __init__(self, console: Console) -> None:
        self.console, self.pending = console, ""

    def write(self, text: str) -> int:
        self.pending += text
        *lines, self.pending = self.pending.split("\n")
        for line in lines:
            self.console.print(line, markup=False, highlight=False, emoji=False, soft_wrap=True)
        return len(text)


class LongWait:
    """`with LongWait("restore of X", deadline_s, stream) as wait:` — `wait.note(text)` shows the latest word
    (live only, see `live_display`), `wait.stream` is where the wait's lines are written (plain: `stream` itself).
    A stream of None is a quiet caller: nothing is shown either way."""

    def __init__(self, what: str, deadline_s: float | None, stream: TextIO | None,
                 console: Console | None = None, clock: Callable[[], float] = time.monotonic) -> None:
        self.what, self.deadline_s, self.original = what, deadline_s, stream
        self.live = live_display(stream)
        # rich is told, not asked: its own guess reads FORCE_COLOR and TTY_COMPATIBLE as "a terminal"
        self.console = console or (Console(file=stream, stderr=stream is sys.stderr, force_terminal=self.live)
                                   if stream is not None else None)
        self.clock = clock
        self._progress: Progress | None = None
        self._task = None
        self.stream: TextIO | None = stream

    def __enter__(self) -> "LongWait":
        if self.live:
            assert self.console is not None
            # the time waited and the deadline keep their width on any terminal: the description and the note
            # share what is left, cut short with an ellipsis, never wrapped onto a second line
            self._progress = Progress(SpinnerColumn(), TextColumn("{task.description}", table_column=_cut(3)), _DeadlineBar(),
                                      TimeElapsedColumn(), _Deadline(), TextColumn("{task.fields[note]}", table_column=_cut(2)),
                                      console=self.console, transient=True, expand=True,
                                      refresh_per_second=4, get_time=self.clock,
                                      # what is printed to stderr meanwhile goes above the display; stdout is left
                                      # alone: it may be --json for a program, never to be moved onto the terminal
                                      redirect_stdout=False, redirect_stderr=self.original is sys.stderr)
            self._progress.start()
            self._task = self._progress.add_task(self.what, total=self.deadline_s, note="")
            self.stream = _Lines(self.console)  # type: ignore[assignment]
        return self

    def note(self, text: str) -> None:
        if self._progress is not None:
            self._progress.update(self._task, note=text)  # type: ignore[arg-type]

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        if self._progress is not None:
            self._progress.stop()
            self._progress = None
        self.stream = self.original


@contextmanager
def journal_wait(journal: Any, what: str, deadline_s: float | None) -> Iterator[LongWait]:
    """A LongWait on a journal's echo (a drill's or a check's): the journal's lines go above the display meanwhile,
    and its echo is its own again after, unless a closed output silenced it meanwhile."""
    with LongWait(what, deadline_s, journal.echo) as wait:
        saved, journal.echo = journal.echo, wait.stream
        try:
            yield wait
        finally:
            if journal.echo is wait.stream:
                journal.echo = saved
