"""A service endpoint is taken for dead only after botocore's retries are spent, and only that endpoint.

Two tiny HTTP servers on loopback stand in for two AWS service endpoints (AWS gives each service its
own); one of them stalls for as many requests as it is told to.
"""

from __future__ import annotations

import http.server
import json
import threading
import time
from typing import Iterator

import pytest

from ops.aws import Aws
from ops.errors import EndpointUnreachable

READ_TIMEOUT_S = 0.5


class Endpoint:
    def __init__(self) -> None:
        self.stall_next = 0
        self.requests = 0
        endpoint = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802
                self.rfile.read(int(self.headers.get("Content-Length", 0)))
                endpoint.requests += 1
                if endpoint.stall_next > 0:
                    endpoint.stall_next -= 1
                    time.sleep(READ_TIMEOUT_S * 3)
                body = json.dumps({"TableNames": []}).encode()
                try:
                    self.send_response(200)
                    self.send_header("Content-Type", "application/x-amz-json-1.0")
                    self.send_header("Content-Length", str(len(body)))
                    self.end_headers()
                    self.wfile.write(body)
                except OSError:
                    pass  # the client gave up waiting

            def log_message(self, *_: object) -> None:
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def endpoints() -> Iterator[tuple[Endpoint, Endpoint]]:
    pair = (Endpoint(), Endpoint())
    yield pair
    for e in pair:
        e.close()


def aws_on(url: str) -> Aws:
    return Aws(region="us-east-1", endpoint_url=url, read_timeout=READ_TIMEOUT_S)


def test_a_timeout_that_a_retry_saves_marks_nothing_dead(endpoints: tuple[Endpoint, Endpoint]) -> None:
    stalled, _ = endpoints
    aws = aws_on(stalled.url)
    stalled.stall_next = 1
    assert aws.client("dynamodb").list_tables()["TableNames"] == []
    assert stalled.requests == 2, "the first attempt timed out and the retry was sent"
    assert aws.dead_reason() is None
    assert aws.client("dynamodb").list_tables()["TableNames"] == []


def test_an_endpoint_whose_retries_all_timed_out_is_refused_and_no_other(endpoints: tuple[Endpoint, Endpoint]) -> None:
    stalled, healthy = endpoints
    aws = aws_on(stalled.url)
    stalled.stall_next = 3
    with pytest.raises(Exception) as raised:
        aws.client("dynamodb").list_tables()
    assert "timeout" in type(raised.value).__name__.lower() or "timed out" in str(raised.value)
    assert stalled.requests == 3, "all three attempts were made before giving up"
    started = time.monotonic()
    with pytest.raises(EndpointUnreachable) as refused:
        aws.client("dynamodb").list_tables()
    assert time.monotonic() - started < READ_TIMEOUT_S and stalled.requests == 3, "refused at once, nothing sent"
    assert stalled.url in str(refused.value)
    # Another service's endpoint (AWS gives each its own URL) is not taken for dead with it.
    aws.endpoint_url = healthy.url
    assert aws.client("dynamodb").list_tables()["TableNames"] == []
    assert aws.dead_reason(healthy.url) is None and aws.dead_reason(stalled.url) is not None
