"""How a refused client connection is classed: the class names the cause, not only the exception type."""

from __future__ import annotations

import psycopg

from ops.data.clients import error_class


def test_a_refused_connection_is_its_own_class() -> None:
    exc = psycopg.OperationalError('connection failed: connection to server at "127.0.0.1", port 1 failed: Connection refused\n'
                                   "\tIs the server running on that host and accepting TCP/IP connections?")
    assert error_class(exc) == "connection refused"


def test_another_error_carries_its_cause() -> None:
    exc = psycopg.OperationalError('connection failed: connection to server at "10.0.0.1", port 5432 failed: '
                                   "SSL error: certificate verify failed")
    assert error_class(exc) == "other: OperationalError (certificate verify failed)"
    assert error_class(psycopg.OperationalError("")) == "other: OperationalError"
