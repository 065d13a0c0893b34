"""A long wait's display: live on a terminal, the same plain lines when output is not one."""

from __future__ import annotations

import io
import os
import re

import pytest
from rich.console import Console

from ops import progress
from ops.progress import LongWait, journal_wait
from ops.report import Journal

ESCAPE = re.compile(r"\x1b\[")


class Tty(io.StringIO):
    """A stream that says it is a terminal, as a user's shell is."""

    def isatty(self) -> bool:
        return True


@pytest.fixture(autouse=True)
def plain_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """A user's shell, whatever runs these tests: no CI variable, no override, a real TERM."""
    for name in ("DBOPS_PROGRESS", "FORCE_COLOR", "TTY_COMPATIBLE", "NO_COLOR") + progress.CI_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("TERM", "xterm-256color")


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_on_a_terminal_the_wait_is_shown_live_with_its_lines_above_it() -> None:
    out, clock = Tty(), Clock()
    console = Console(file=out, force_terminal=True, width=120, color_system="standard")
    with LongWait("restore of localpg:lab-pg", 600, out, console=console, clock=clock) as wait:
        assert wait.live and wait.stream is not out
        clock.now += 42
        wait.note("cluster is creating")
        print("[10:00:00] wait     waiting for restore: 40s so far", file=wait.stream)
        wait._progress.refresh()  # type: ignore[union-attr]  # what the refresh thread draws, drawn now
    text = out.getvalue()
    assert ESCAPE.search(text), "a live display draws with terminal escape codes"
    assert "restore of localpg:lab-pg" in text and "cluster is creating" in text
    assert "0:00:42" in text and "of 600s" in text  # the time waited, measured on the wait's clock, against the deadline
    assert "waiting for restore: 40s so far" in text  # the wait's own line, printed above the display
    assert wait.stream is out  # the stream is the caller's again once the wait is over


def test_not_on_a_terminal_the_wait_prints_only_its_plain_lines() -> None:
    out = io.StringIO()
    with LongWait("restore of localpg:lab-pg", 600, out, console=Console(file=out, width=120)) as wait:
        assert not wait.live and wait.stream is out
        wait.note("cluster is creating")  # a live display's word: nothing in a log
        print("[10:00:00] wait     waiting for restore: 40s so far", file=wait.stream)
    assert out.getvalue() == "[10:00:00] wait     waiting for restore: 40s so far\n"


def test_a_quiet_caller_shows_nothing() -> None:
    with LongWait("terraform apply of env lab", None, None) as wait:
        wait.note("anything")
        assert wait.stream is None and not wait.live


def test_a_journal_waiting_on_a_terminal_echoes_above_the_display_and_keeps_its_events() -> None:
    out = Tty()
    journal = Journal("restore", "localpg:lab-pg", "lab", echo=out)
    with journal_wait(journal, "restore of localpg:lab-pg", 60) as wait:
        assert wait.live and journal.echo is wait.stream
        journal.event("wait", "waiting for restore: 10s so far")
    assert journal.echo is out  # its own stream again
    assert [e.message for e in journal.events] == ["waiting for restore: 10s so far"]
    assert "waiting for restore: 10s so far" in out.getvalue() and ESCAPE.search(out.getvalue())


def test_a_journal_not_on_a_terminal_echoes_as_it_always_did() -> None:
    out = io.StringIO()
    journal = Journal("restore", "localpg:lab-pg", "lab", echo=out)
    with journal_wait(journal, "restore of localpg:lab-pg", 60) as wait:
        assert not wait.live and journal.echo is out
        journal.event("wait", "waiting for restore: 10s so far")
    assert re.fullmatch(r"\[\d\d:\d\d:\d\d\] wait     waiting for restore: 10s so far\n", out.getvalue())


def test_a_journal_silenced_during_the_wait_stays_silent() -> None:
    journal = Journal("restore", "localpg:lab-pg", "lab", echo=Tty())
    with journal_wait(journal, "restore", 60):
        journal.echo = None  # what a closed output does (ops.report.output_closed)
    assert journal.echo is None


def plain_lines_of(stream: object) -> bool:
    """Whether a wait on `stream` prints only its plain lines (no live display)."""
    with LongWait("restore of localpg:lab-pg", 600, stream) as wait:  # type: ignore[arg-type]
        print("waiting for restore: 40s so far", file=wait.stream)
        return not wait.live and wait.stream is stream


def test_a_pipe_gets_plain_lines_even_when_colour_is_forced(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FORCE_COLOR", "1")
    monkeypatch.setenv("TTY_COMPATIBLE", "1")
    read_fd, write_fd = os.pipe()
    with os.fdopen(read_fd) as reader:
        with os.fdopen(write_fd, "w") as pipe:
            assert Console(file=pipe).is_terminal  # what rich alone would decide: a live display in a CI log
            assert plain_lines_of(pipe)
        assert reader.read() == "waiting for restore: 40s so far\n"


@pytest.mark.parametrize("variable", ["CI", "GITHUB_ACTIONS"])
def test_a_terminal_under_ci_gets_plain_lines(monkeypatch: pytest.MonkeyPatch, variable: str) -> None:
    assert not plain_lines_of(Tty())  # negative control: live on a terminal
    monkeypatch.setenv(variable, "true")
    out = Tty()
    assert plain_lines_of(out) and not ESCAPE.search(out.getvalue())


def test_a_dumb_terminal_gets_plain_lines(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TERM", "dumb")
    assert plain_lines_of(Tty())


def test_dbops_progress_forces_either_way(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DBOPS_PROGRESS", "1")
    monkeypatch.setenv("CI", "true")
    out = io.StringIO()
    assert not plain_lines_of(out) and ESCAPE.search(out.getvalue())  # forced live: rich is told it is a terminal
    monkeypatch.setenv("DBOPS_PROGRESS", "0")
    monkeypatch.delenv("CI")
    assert plain_lines_of(Tty())
    assert progress.live_display(None) is False  # a quiet caller shows nothing, forced or not


def test_on_an_80_column_terminal_a_long_description_leaves_the_time_shown() -> None:
    out, clock = Tty(), Clock()
    console = Console(file=out, force_terminal=True, width=80, color_system="standard")
    what = "restore of aurora:orders-primary-cluster-eu-west-1 as dbops-restore-20261207t081500z-4f2a"
    with LongWait(what, 3600, out, console=console, clock=clock) as wait:
        clock.now += 3
        wait.note("cluster is creating, 2 of 3 instances available")
        wait._progress.refresh()  # type: ignore[union-attr]
    text = out.getvalue()
    assert "0:00:03" in text and "of 3600s" in text  # the time waited and the deadline, always
    assert "restore of aurora:or…" in text and "cluster is cr…" in text  # the words cut short, not the time
    assert "\n" not in text.split("\x1b[?25h")[0].rstrip("\n")  # and on one line: nothing wrapped
