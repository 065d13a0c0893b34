"""A drill's owner is named so that another container with the same host name never judges it by pid."""

from __future__ import annotations

import os
import socket

from ops.proc import machine, owner_alive, owner_id, start_time


def test_a_pid_is_judged_only_in_the_process_table_it_belongs_to() -> None:
    me = owner_id()
    assert owner_alive(me) is True
    host, boot, namespace = machine().split("/")
    assert host == socket.gethostname() and boot and namespace
    pid = os.getpid()
    # Same host name, another PID namespace (a container) or another boot: that pid is not ours to judge.
    assert owner_alive(f"{host}/{boot}/1:{pid}:{start_time(pid)}") is None
    assert owner_alive(f"{host}/00000000/{namespace}:{pid}:{start_time(pid)}") is None
    # The old form, host name alone, is not judged either: it may be another container's.
    assert owner_alive(f"{host}:{pid}:{start_time(pid)}") is None
    # Negative control: our own table, a pid that is gone.
    assert owner_alive(f"{machine()}:999999:1") is False
