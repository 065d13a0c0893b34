"""A long wait's display: live on a terminal, the same plain lines when output is not one."""

from __future__ import annotations

import io
import re

from rich.console import Console

from ops.progress import LongWait
from ops.report import Journal

ESCAPE = re.compile(r"\x1b\[")


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_on_a_terminal_the_wait_is_shown_live_with_its_lines_above_it() -> None:
    out, clock = io.StringIO(), Clock()
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


def test_a_journal_echoing_through_a_live_wait_keeps_its_events() -> None:
    out = io.StringIO()
    journal = Journal("restore", "localpg:lab-pg", "lab", echo=out)
    with LongWait("restore", 60, journal.echo, console=Console(file=out, force_terminal=True, width=120)) as wait:
        journal.echo = wait.stream
        journal.event("wait", "waiting for restore: 10s so far")
        journal.echo = out
    assert [e.message for e in journal.events] == ["waiting for restore: 10s so far"]
    assert "waiting for restore: 10s so far" in out.getvalue()
