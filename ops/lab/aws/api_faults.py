"""What every emulated API answer is subject to: a service's round trip and its throttling, and STS's refusals.

- api_latency_ms: each answer is delayed this long, as an AWS API call takes 30-100 ms from a client and the
  emulator answers in microseconds. The request waits in a sleep, which holds no lock and not the GIL, so
  concurrent requests wait at the same time, as they do on AWS. Off (0) by default.
- api_throttle_every: every Nth first attempt of a request is answered as a throttled request (HTTP 400,
  Throttling or ThrottlingException in the protocol's shape; S3, which has no throttling error, HTTP 503
  SlowDown); retries (botocore's amz-sdk-request header says which attempt a request is) are served. So a
  client that retries throttles gets every answer, and one that does not gets errors. 0 (default): nothing is throttled.
- api_error_every: every Nth first attempt is answered as a service fault, as AWS answers some requests under
  stress: HTTP 500 in the protocol's shape (DynamoDB's InternalServerError, other JSON and query services'
  InternalFailure) and for S3 HTTP 503 SlowDown in S3's XML error shape. Retries are served. 0: none.
- api_reset_every: every Nth first attempt's connection is closed with no answer (reset), as a load balancer
  does under stress. Retries are served. 0: none.
- sts_denied_roles: role ARNs (comma separated) whose AssumeRole answers AccessDenied, as for a role whose
  trust policy does not name the caller.

First attempts are counted once, whichever knob answers them (a reset first, then an error, then a
throttle). The counts of requests, first attempts, throttles, errors and resets are served at /moto-api/dbops-lab/api-faults.
"""

from __future__ import annotations

import json
import re
import socket
import struct
import threading
import time
from typing import Any

from ops.lab.aws import settings

LATENCY = "api_latency_ms"
THROTTLE_EVERY = "api_throttle_every"
ERROR_EVERY = "api_error_every"
RESET_EVERY = "api_reset_every"
DENIED_ROLES = "sts_denied_roles"
COUNTS_PATH = "/moto-api/dbops-lab/api-faults"
_ATTEMPT = re.compile(r"attempt=(\d+)")
_lock = threading.Lock()
_SIGNING_SERVICE = re.compile(r"Credential=[^/,]+/[^/,]+/[^/,]+/([^/,]+)/aws4_request")
_counts = {"requests": 0, "first_attempts": 0, "throttled": 0, "errors": 0, "resets": 0}


def register_settings() -> None:
    settings.register(LATENCY, 0.0, "milliseconds each emulated API answer is delayed (an AWS call's round trip: 30-100 ms); "
                      "concurrent requests wait at the same time", minimum=0, maximum=10_000)
    settings.register(THROTTLE_EVERY, 0, "every Nth first attempt of an API request is answered Throttling (retries are "
                      "served); 0: none", minimum=0, maximum=1_000_000, integer=True)
    settings.register(ERROR_EVERY, 0, "every Nth first attempt of an API request is answered a service fault, HTTP 500 "
                      "(S3: 503 SlowDown; retries are served); 0: none", minimum=0, maximum=1_000_000, integer=True)
    settings.register(RESET_EVERY, 0, "every Nth first attempt of an API request has its connection closed with no "
                      "answer (retries are served); 0: none", minimum=0, maximum=1_000_000, integer=True)
    settings.register(DENIED_ROLES, "", "role ARNs, comma separated, whose STS AssumeRole answers AccessDenied",
                      pattern=r"arn:aws[a-z-]*:iam::\d{12}:role/[\w+=,.@/-]+(,arn:aws[a-z-]*:iam::\d{12}:role/[\w+=,.@/-]+)*",
                      pattern_doc="role ARNs separated by commas")


def _fault_now(environ: dict[str, Any]) -> str | None:
    """Which fault, if any, answers this request: "reset", "error" or "throttle" (first attempts only)."""
    attempt = _ATTEMPT.search(environ.get("HTTP_AMZ_SDK_REQUEST", ""))
    with _lock:
        _counts["requests"] += 1
        if attempt is not None and int(attempt.group(1)) > 1:
            return None
        _counts["first_attempts"] += 1
        n = _counts["first_attempts"]
        for fault, knob, counted in (("reset", RESET_EVERY, "resets"), ("error", ERROR_EVERY, "errors"),
                                     ("throttle", THROTTLE_EVERY, "throttled")):
            every = settings.get(knob)
            if every and n % every == 0:
                _counts[counted] += 1
                return fault
    return None


def _is_query(environ: dict[str, Any]) -> bool:
    return "x-www-form-urlencoded" in environ.get("CONTENT_TYPE", "") or "Action=" in environ.get("QUERY_STRING", "")


def _signing_service(environ: dict[str, Any]) -> str | None:
    signed = _SIGNING_SERVICE.search(environ.get("HTTP_AUTHORIZATION", ""))
    return signed.group(1) if signed else None


def _slow_down() -> tuple[int, dict[str, str], str]:
    """S3's answer to a request it will not serve now, fault or throttle alike: HTTP 503 SlowDown in S3's XML error."""
    body = ("<?xml version=\"1.0\" encoding=\"UTF-8\"?><Error><Code>SlowDown</Code><Message>Please reduce your "
            "request rate.</Message><RequestId>dbopslaberror</RequestId></Error>")
    return 503, {"Content-Type": "application/xml"}, body


def error_answer(environ: dict[str, Any]) -> tuple[int, dict[str, str], str]:
    """A service fault's answer in the protocol it was sent in: S3's 503 SlowDown (S3's XML error), a query
    service's 500 InternalFailure (XML), DynamoDB's 500 InternalServerError, other JSON services' InternalFailure."""
    service = _signing_service(environ)
    if service == "s3":
        return _slow_down()
    if _is_query(environ):
        body = ("<ErrorResponse><Error><Type>Receiver</Type><Code>InternalFailure</Code><Message>We encountered an "
                "internal error. Please try again.</Message></Error><RequestId>dbops-lab-error</RequestId></ErrorResponse>")
        return 500, {"Content-Type": "text/xml"}, body
    code = "InternalServerError" if service == "dynamodb" else "InternalFailure"
    body = json.dumps({"__type": code, "message": "Internal server error"})
    return 500, {"Content-Type": "application/x-amz-json-1.0", "x-amzn-ErrorType": code}, body


def reset(environ: dict[str, Any]) -> None:
    """Close the request's connection with no answer: a TCP reset (linger 0), as from a peer that gave up."""
    connection = environ.get("werkzeug.socket")
    if connection is not None:
        connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        connection.shutdown(socket.SHUT_RDWR)
    # werkzeug takes this for a dropped connection: it writes nothing and closes the socket.
    raise ConnectionResetError("dbops lab: api_reset_every closed this connection")


def throttle_answer(environ: dict[str, Any]) -> tuple[int, dict[str, str], str]:
    """A throttled request's answer in the protocol it was sent in (query: XML; JSON and REST-JSON: JSON). S3 has
    no throttling error of its own: it answers 503 SlowDown (S3 user guide, "Amazon S3 error best practices")."""
    if _signing_service(environ) == "s3":
        return _slow_down()
    if _is_query(environ):
        body = ("<ErrorResponse><Error><Type>Sender</Type><Code>Throttling</Code><Message>Rate exceeded</Message></Error>"
                "<RequestId>dbops-lab-throttle</RequestId></ErrorResponse>")
        return 400, {"Content-Type": "text/xml"}, body
    body = json.dumps({"__type": "ThrottlingException", "message": "Rate exceeded"})
    return 400, {"Content-Type": "application/x-amz-json-1.0", "x-amzn-ErrorType": "ThrottlingException"}, body


def counts(request: Any, full_url: str, headers: Any) -> tuple[int, dict[str, str], str]:
    with _lock:
        return 200, {"Content-Type": "application/json"}, json.dumps(_counts)


def _install_dispatch() -> None:
    from moto.moto_server.werkzeug_app import DomainDispatcherApplication
    from werkzeug.wrappers import Response

    original = DomainDispatcherApplication.__call__

    def dispatch(self: DomainDispatcherApplication, environ: dict[str, Any], start_response: Any) -> Any:
        if not environ.get("PATH_INFO", "").startswith("/moto-api"):
            delay = settings.get(LATENCY)
            if delay:
                time.sleep(delay / 1000)
            fault = _fault_now(environ)
            if fault == "reset":
                reset(environ)
            if fault is not None:
                status, headers, body = (error_answer if fault == "error" else throttle_answer)(environ)
                return Response(body, status=status, headers=headers)(environ, start_response)
        return original(self, environ, start_response)

    DomainDispatcherApplication.__call__ = dispatch


def _install_denied_roles() -> None:
    from moto.sts.exceptions import STSClientError
    from moto.sts.models import STSBackend

    original = STSBackend.assume_role

    def assume_role(self: Any, region_name: str, role_session_name: str, role_arn: str, *args: Any, **kwargs: Any) -> Any:
        denied = [r for r in settings.get(DENIED_ROLES).split(",") if r]
        if role_arn in denied:
            raise STSClientError("AccessDenied", f"User is not authorized to perform: sts:AssumeRole on resource: {role_arn}")
        return original(self, region_name, role_session_name, role_arn, *args, **kwargs)

    STSBackend.assume_role = assume_role


def install() -> None:
    from moto.moto_api._internal import urls

    register_settings()
    _install_dispatch()
    _install_denied_roles()
    urls.url_paths["{0}" + COUNTS_PATH + "$"] = counts
