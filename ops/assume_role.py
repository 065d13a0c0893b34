"""Credentials of a role in another account, for the fleet reads of an env that lists accounts.

STS AssumeRole from the credentials of the env's own account, with a session name that says dbops made
it (CloudTrail in the other account shows who read it). One set of credentials per role and endpoint in
a process, shared by every region read through it, and refreshed by botocore before they expire
(RefreshableCredentials: 15 minutes ahead), so a fleet read longer than the session's hour never
sends a request with expired credentials.
"""

from __future__ import annotations

import getpass
import os
import re
import threading
from typing import Any

import boto3
import botocore.credentials
import botocore.session

from ops.permissions import declare, need

SESSION_S = 3600
# A fleet env's reads of its other accounts.
CALLS = declare("assume_role", need("sts:AssumeRole", on="fleet-role"))
_CACHE: dict[tuple[str | None, str], botocore.credentials.RefreshableCredentials] = {}
_lock = threading.Lock()


def session_name() -> str:
    """dbops-<user>-<pid>: within STS's 2-64 characters of [\\w+=,.@-]."""
    try:
        user = getpass.getuser()
    except (KeyError, OSError):
        user = "unknown"
    return re.sub(r"[^\w+=,.@-]", "-", f"dbops-{user}-{os.getpid()}")[:64]


def assumed_credentials(sts: Any, role_arn: str, endpoint_url: str | None) -> botocore.credentials.RefreshableCredentials:
    """The role's credentials, assumed once per process and refreshed before expiry. The first AssumeRole is
    made here, so a role that cannot be assumed raises now (botocore's ClientError), not on a later read."""
    key = (endpoint_url, role_arn)
    with _lock:
        known = _CACHE.get(key)
        if known is not None:
            return known

        def fetch() -> dict[str, str]:
            answer = sts.assume_role(RoleArn=role_arn, RoleSessionName=session_name(), DurationSeconds=SESSION_S)["Credentials"]
            return {"access_key": answer["AccessKeyId"], "secret_key": answer["SecretAccessKey"],
                    "token": answer["SessionToken"], "expiry_time": answer["Expiration"].isoformat()}

        credentials = botocore.credentials.RefreshableCredentials.create_from_metadata(fetch(), fetch, "assume-role")
        _CACHE[key] = credentials
        return credentials


def assumed_session(base: boto3.Session, role_arn: str, endpoint_url: str | None, config: Any) -> boto3.Session:
    """A session in the role's account and the base session's region."""
    sts = base.client("sts", endpoint_url=endpoint_url, config=config)
    core = botocore.session.Session()
    core._credentials = assumed_credentials(sts, role_arn, endpoint_url)  # noqa: SLF001 — botocore's documented-by-use hook for custom credentials
    return boto3.Session(botocore_session=core, region_name=base.region_name)
