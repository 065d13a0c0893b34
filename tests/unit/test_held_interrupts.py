"""proc.held_interrupts: a step is held whole, and the interrupt that came meanwhile is raised after it."""

from __future__ import annotations

import os
import signal
import time

import pytest

from ops.proc import held_interrupts


def _handled(done, timeout_s: float = 10.0) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout_s
    while not done() and time.monotonic() < deadline:
        time.sleep(0.001)


def test_the_interrupt_is_raised_once_the_step_is_done() -> None:
    said: list[str] = []
    finished = []
    with pytest.raises(KeyboardInterrupt, match="interrupted while stopping pgbench ran"):
        with held_interrupts(said.append, "stopping pgbench"):
            os.kill(os.getpid(), signal.SIGINT)
            _handled(lambda: said)
            finished.append(True)
    assert finished == [True] and said and "stopping pgbench is in progress" in said[0]


def test_a_step_that_fails_while_an_interrupt_is_held_still_stops_the_run() -> None:
    said: list[str] = []
    with pytest.raises(KeyboardInterrupt) as stopped:
        with held_interrupts(said.append, "dropping role x"):
            os.kill(os.getpid(), signal.SIGTERM)
            _handled(lambda: said)
            raise RuntimeError("can't start new thread")
    assert isinstance(stopped.value.__cause__, RuntimeError)


def test_without_an_interrupt_the_step_runs_and_its_error_is_its_own() -> None:
    with pytest.raises(RuntimeError):
        with held_interrupts(lambda _: None, "a step"):
            raise RuntimeError("its own")
    with held_interrupts(lambda _: None, "a step"):
        pass
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler, "the handlers it held with are restored"


def test_an_interrupted_command_ignores_a_second_interrupt_on_its_way_out(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """Python restores the default handlers as it finalizes: a second Ctrl-C then would end the process by signal
    (130) instead of exit 3. main() ignores both signals once the run is aborted; a run that was not is left alone."""
    import click

    from ops import proc
    from ops.cli import cli, main

    monkeypatch.setattr(proc._Interrupts, "count", 0)  # the tests above counted theirs: a dbops process starts at 0

    def stopped() -> None:
        raise KeyboardInterrupt("signal 2")

    cli.add_command(click.Command("stopped-for-test", callback=stopped))
    try:
        with pytest.raises(SystemExit) as done:
            main(["stopped-for-test"])
        assert done.value.code == 3
        assert signal.getsignal(signal.SIGINT) is signal.SIG_IGN and signal.getsignal(signal.SIGTERM) is signal.SIG_IGN
        signal.signal(signal.SIGINT, signal.default_int_handler)
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        with pytest.raises(SystemExit) as done:  # negative control: a run that was not interrupted
            main(["--version"])
        assert done.value.code == 0 and signal.getsignal(signal.SIGINT) is signal.default_int_handler
    finally:
        cli.commands.pop("stopped-for-test", None)
