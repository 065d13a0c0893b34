"""One line for an AWS error that means 'could not run'.

Below ops.errors, which describes every error a command prints, and ops.aws, which makes the clients:
it knows botocore's exceptions and nothing of dbops.
"""

from __future__ import annotations

import botocore.exceptions

TIMEOUTS = (botocore.exceptions.ConnectTimeoutError, botocore.exceptions.ReadTimeoutError,
            botocore.exceptions.EndpointConnectionError)


def describe_aws_error(exc: BaseException) -> str | None:
    """One line for an AWS error that means 'could not run', or None if it is not one."""
    if isinstance(exc, TIMEOUTS):
        return f"AWS endpoint unreachable: {exc}"
    if isinstance(exc, botocore.exceptions.NoCredentialsError):
        return "no AWS credentials found (set AWS_PROFILE or configure the standard credential chain)"
    if isinstance(exc, botocore.exceptions.NoRegionError):
        return "no AWS region set (set the env's `region` in the config)"
    if isinstance(exc, botocore.exceptions.ClientError):
        err = exc.response.get("Error", {})
        message = str(err.get("Message") or "").strip().splitlines()
        return f"AWS {exc.operation_name} failed: {err.get('Code')}: {message[0] if message else ''}"
    if isinstance(exc, botocore.exceptions.BotoCoreError):
        return f"AWS call failed: {exc}"
    return None
