"""A TCP endpoint that forwards to one server and can be re-pointed, as a DNS name is.

The lab's stand-in for a database endpoint whose address moves (Aurora's cluster endpoint
after a failover): new connections go to the server the endpoint points at; connections
already open stay where they are, as a client's cached connection does; a re-point can be
delayed to model DNS propagation.
"""

from __future__ import annotations

import socket
import threading
import time
from typing import Callable

Address = tuple[str, int]
Chooser = Callable[[], "Address | None"]


class Endpoint:
    """target: the server new connections reach, or a function choosing one per connection
    (a reader endpoint spreading connections over the readers; None refuses the connection)."""

    def __init__(self, target: "Address | Chooser | None", host: str = "127.0.0.1", port: int = 0,
                 on_switch: Callable[[Address], None] | None = None) -> None:
        self._target = target
        self._pending: tuple[float, Address] | None = None
        self._lock = threading.Lock()
        self._on_switch = on_switch
        self._server = socket.create_server((host, port), reuse_port=False, backlog=512)
        self._server.settimeout(0.2)
        self.address: Address = self._server.getsockname()[:2]
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, name=f"endpoint-{self.address[1]}", daemon=True)

    @property
    def port(self) -> int:
        return self.address[1]

    @property
    def target(self) -> "Address | None":
        with self._lock:
            self._apply_pending()
            target = self._target
        return target() if callable(target) else target  # None: nothing behind the name yet

    def start(self) -> "Endpoint":
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(2)
        self._server.close()

    def point_to(self, target: "Address | Chooser", after_s: float = 0.0) -> None:
        """New connections reach target from after_s seconds on (0: at once)."""
        with self._lock:
            if after_s <= 0:
                self._pending = None
                self._switch(target)
            else:
                self._pending = (time.monotonic() + after_s, target)

    def _switch(self, target: Address) -> None:
        self._target = target
        if self._on_switch is not None:
            self._on_switch(target)

    def _apply_pending(self) -> None:
        if self._pending is not None and time.monotonic() >= self._pending[0]:
            target = self._pending[1]
            self._pending = None
            self._switch(target)

    def _serve(self) -> None:
        while not self._stop.is_set():
            with self._lock:
                self._apply_pending()
            try:
                client, _ = self._server.accept()
            except (TimeoutError, socket.timeout):
                continue
            except OSError:
                return
            threading.Thread(target=self._connect, args=(client, self.target), daemon=True).start()

    def _connect(self, client: socket.socket, target: "Address | None") -> None:
        if target is None:
            client.close()
            return
        try:
            upstream = socket.create_connection(target, timeout=3)
        except OSError:
            client.close()  # the server behind the name is down: the client sees a refused/closed connection
            return
        upstream.settimeout(None)
        for a, b in ((client, upstream), (upstream, client)):
            threading.Thread(target=_pump, args=(a, b), daemon=True).start()


def _pump(src: socket.socket, dst: socket.socket) -> None:
    try:
        while True:
            data = src.recv(65536)
            if not data:
                break
            dst.sendall(data)
    except OSError:
        pass
    finally:
        for s in (src, dst):
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            s.close()
