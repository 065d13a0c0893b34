"""What every emulated API answer is subject to: a service's round trip and its throttling, and STS's refusals.

- api_latency_ms: each answer is delayed this long, as an AWS API call takes 30-100 ms from a client and the
  emulator answers in microseconds. The request waits in a sleep, which holds no lock and not the GIL, so
  concurrent requests wait at the same time, as they do on AWS. Off (0) by default.
- api_throttle_every: every Nth first attempt of a request is answered as a throttled request (HTTP 400,
  Throttling or ThrottlingException in the protocol's shape); retries (botocore's amz-sdk-request header
  says which attempt a request is) are served. So a client that retries throttles gets every answer, and
  one that does not gets errors. 0 (default): nothing is throttled.
- sts_denied_roles: role ARNs (comma separated) whose AssumeRole answers AccessDenied, as for a role whose
  trust policy does not name the caller.

The counts of requests and throttles are served at /moto-api/dbops-lab/api-faults.
"""

from __future__ import annotations

import json
import re
import threading
import time
from typing import Any

from ops.lab.aws import settings

LATENCY = "api_latency_ms"
THROTTLE_EVERY = "api_throttle_every"
DENIED_ROLES = "sts_denied_roles"
COUNTS_PATH = "/moto-api/dbops-lab/api-faults"
_ATTEMPT = re.compile(r"attempt=(\d+)")
_lock = threading.Lock()
_counts = {"requests": 0, "first_attempts": 0, "throttled": 0}


def register_settings() -> None:
    settings.register(LATENCY, 0.0, "milliseconds each emulated API answer is delayed (an AWS call's round trip: 30-100 ms); "
                      "concurrent requests wait at the same time", minimum=0, maximum=10_000)
    settings.register(THROTTLE_EVERY, 0, "every Nth first attempt of an API request is answered Throttling (retries are "
                      "served); 0: none", minimum=0, maximum=1_000_000, integer=True)
    settings.register(DENIED_ROLES, "", "role ARNs, comma separated, whose STS AssumeRole answers AccessDenied",
                      pattern=r"arn:aws[a-z-]*:iam::\d{12}:role/[\w+=,.@/-]+(,arn:aws[a-z-]*:iam::\d{12}:role/[\w+=,.@/-]+)*",
                      pattern_doc="role ARNs separated by commas")


def _throttled_now(environ: dict[str, Any]) -> bool:
    every = settings.get(THROTTLE_EVERY)
    attempt = _ATTEMPT.search(environ.get("HTTP_AMZ_SDK_REQUEST", ""))
    with _lock:
        _counts["requests"] += 1
        if attempt is not None and int(attempt.group(1)) > 1:
            return False
        _counts["first_attempts"] += 1
        if every and _counts["first_attempts"] % every == 0:
            _counts["throttled"] += 1
            return True
    return False


def throttle_answer(environ: dict[str, Any]) -> tuple[int, dict[str, str], str]:
    """A throttled request's answer in the protocol it was sent in (query: XML; JSON and REST-JSON: JSON)."""
    query = "x-www-form-urlencoded" in environ.get("CONTENT_TYPE", "") or "Action=" in environ.get("QUERY_STRING", "")
    if query:
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
            if _throttled_now(environ):
                status, headers, body = throttle_answer(environ)
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
