"""Injectable clocks: wall time for reports, monotonic time for durations, and a service's clock as a client reads it."""

from __future__ import annotations

import threading
import time
import weakref
from datetime import datetime, timezone
from email.utils import parsedate_to_datetime
from typing import Any, Callable


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


def iso(ts: datetime) -> str:
    return ts.astimezone(timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def parse_iso(value: Any) -> datetime | None:
    """A time written by `iso` (or any ISO 8601 time with a zone); None for anything else, a zoneless time included."""
    if not isinstance(value, str):
        return None
    try:
        t = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return t if t.tzinfo is not None else None


def monotonic() -> float:
    return time.monotonic()


def wait_until(predicate: Callable[[], bool], timeout: float, interval: float = 0.1) -> bool:
    """Poll predicate until it holds or timeout passes; returns whether it held."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(interval)
    return predicate()


def wait_for(what: str, predicate: Callable[[], bool], timeout: float, interval: float,
             progress: Callable[[str], None], every: float = 10.0) -> bool:
    """wait_until with a line of progress every `every` seconds: what, how long so far, the deadline."""
    started = time.monotonic()
    deadline_wall = utcnow().timestamp() + timeout
    last = [started]

    def check() -> bool:
        now = time.monotonic()
        if now - last[0] >= every:
            last[0] = now
            progress(f"waiting for {what}: {now - started:.0f}s so far, deadline "
                     f"{datetime.fromtimestamp(deadline_wall, timezone.utc):%H:%M:%S} UTC")
        return predicate()

    return wait_until(check, timeout, interval)


class ServiceClock:
    """A service's clock as this client reads it: the HTTP Date header of its responses.

    A Date header names the whole second the service answered in. A response that was asked for at
    client time `sent`, arrived at `received` and says D was made at some service time in
    [D, D + 1) and some client time in [sent, received): the service's clock then runs between
    D - received and D + 1 - sent seconds ahead of ours. Every response narrows that interval; its
    width, the measured round trip included, is the guard a time read on this client carries.
    """

    RESOLUTION_S = 1.0  # HTTP-date (RFC 9110) names whole seconds

    def __init__(self) -> None:
        self._lo = float("-inf")
        self._hi = float("inf")
        self._lock = threading.Lock()
        self.samples = 0

    @classmethod
    def reading(cls, client: Any) -> ServiceClock:
        """A new clock fed by every response a boto3 client receives from now on. Each user (a drill)
        takes its own: what it learns is not mixed with what others learnt before a clock was stepped."""
        clock = cls()
        with _attach_lock:
            readers = _readers.get(client)
            if readers is None:
                readers = _readers[client] = weakref.WeakSet()
                _listen(client, readers)
            readers.add(clock)
        return clock

    def observe(self, sent: float, received: float, date: float) -> None:
        """One response: asked for at client time `sent`, received at `received`, stamped `date` (whole seconds)."""
        lo, hi = date - received, date + self.RESOLUTION_S - sent
        with self._lock:
            self.samples += 1
            if max(lo, self._lo) > min(hi, self._hi):
                # A clock was stepped (ours or the service's): what was learnt before no longer holds.
                self._lo, self._hi = lo, hi
            else:
                self._lo, self._hi = max(lo, self._lo), min(hi, self._hi)

    def offset_bounds(self) -> tuple[float, float]:
        """How far the service's clock runs ahead of ours: (at least, at most) seconds."""
        with self._lock:
            if not self.samples:
                raise RuntimeError("the service's clock has not been read yet (no response with a Date header)")
            return self._lo, self._hi

    def span(self, sent: float, received: float) -> tuple[float, float]:
        """Service epoch seconds between which something done between client times sent and received happened."""
        lo, hi = self.offset_bounds()
        return sent + lo, received + hi

    def now_bounds(self) -> tuple[datetime, datetime]:
        earliest, latest = self.span(time.time(), time.time())
        return datetime.fromtimestamp(earliest, timezone.utc), datetime.fromtimestamp(latest, timezone.utc)


_readers: "weakref.WeakKeyDictionary[Any, weakref.WeakSet[ServiceClock]]" = weakref.WeakKeyDictionary()
_attach_lock = threading.Lock()
_sent = threading.local()  # when this thread last sent a request


def _listen(client: Any, readers: "weakref.WeakSet[ServiceClock]") -> None:
    """Hand every answer's Date header, with when it was asked for and received, to the client's readers."""

    def before_send(**_: Any) -> None:
        _sent.at = time.time()

    def after_call(http_response: Any = None, **_: Any) -> None:
        received = time.time()
        sent = getattr(_sent, "at", None)
        date = (http_response.headers.get("Date") if http_response is not None else None) or ""
        try:
            stamped = parsedate_to_datetime(date).timestamp()
        except (TypeError, ValueError, IndexError):
            return  # no Date header: nothing learnt
        if sent is not None:
            for clock in list(readers):
                clock.observe(sent, received, stamped)

    client.meta.events.register("before-send", before_send, unique_id=f"dbops-clock-send-{id(readers)}")
    client.meta.events.register("after-call", after_call, unique_id=f"dbops-clock-answer-{id(readers)}")
