"""The emulated service's clock: the host's clock shifted by the lab setting `service_clock_offset_s`.

A client whose clock is off from AWS's sees AWS's time in every response's HTTP `Date` header and
in the service's own timestamps. The lab shows that with one knob: with an offset of N seconds the
emulator's `Date` header, S3's timestamps (an object's LastModified) and DynamoDB's timestamps (the
restorable window, a restore's RestoreDateTime, the time a write is kept at in the item history, the
heartbeat items) read the host's clock plus N, and a RestoreDateTime a client sends is read on that
clock too. Clients on the host then run N seconds behind the service (ahead for a negative N).

Raising the offset after objects were written is time passing on the service: an S3 object written
before reads as N seconds old by the `Date` of a later answer (what `dbops janitor` judges an etl
batch prefix's age by), which is how a test ages the lake by hours without waiting them.

Aurora's times are not shifted: in the lab they come from its PostgreSQL servers (commit times, the
archiver), which run on the host's clock, while on AWS the database and its control plane share
AWS's clock. Shifting only the control plane would give the lab a skew AWS does not have.
"""

from __future__ import annotations

import time

from ops.lab.aws import settings

SETTING = "service_clock_offset_s"
MAX_OFFSET_S = 86_400  # a day either way: past the longest lease a lab test ages the lake beyond (etl run's 6 h)
_installed = False


def offset() -> float:
    return float(settings.get(SETTING))


def now() -> float:
    """Epoch seconds on the service's clock."""
    return time.time() + offset()


def to_host(service_epoch: float) -> float:
    """A time on the service's clock as the host's clock reads it (for the history kept in host time)."""
    return service_epoch - offset()


def install() -> None:
    """Register the setting and stamp every response's Date header with the service's clock (idempotent)."""
    global _installed
    if _installed:
        return
    settings.register(SETTING, 0.0, "seconds the emulator's clock runs ahead of the host's (negative: behind): its "
                                   "Date header and DynamoDB's timestamps; clients on the host see that skew",
                      minimum=-MAX_OFFSET_S, maximum=MAX_OFFSET_S)
    from datetime import datetime, timezone

    import moto.s3.models as s3_models
    from werkzeug.serving import WSGIRequestHandler

    # moto's S3 stamps objects (and its other times) with this naive UTC function: the service's clock instead.
    s3_models.utcnow = lambda: datetime.fromtimestamp(now(), timezone.utc).replace(tzinfo=None)  # type: ignore[attr-defined]

    stamp = WSGIRequestHandler.date_time_string

    def date_time_string(self, timestamp=None):  # type: ignore[no-untyped-def]
        return stamp(self, now() if timestamp is None else timestamp)

    WSGIRequestHandler.date_time_string = date_time_string
    _installed = True
