"""The one place that makes boto3 sessions and clients.

Region, profile and endpoint come from the env config; `embedded` resolves to the
running lab's emulator; AWS_ENDPOINT_URL, when set, wins over both. Every client has
adaptive retries and short connect/read timeouts so a dead endpoint fails fast.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from functools import cached_property
from typing import Any
from urllib.parse import urlparse

import boto3
import botocore.config
import botocore.exceptions

from ops.config import Config, EnvConfig
from ops.errors import EndpointUnreachable, LabError
from ops.lab import emulator, process

# The emulator accepts any credentials; these never reach AWS.
EMULATOR_CREDENTIALS = {"aws_access_key_id": "testing", "aws_secret_access_key": "testing"}


def resolve_endpoint(cfg: Config, env: EnvConfig) -> str | None:
    override = os.environ.get("AWS_ENDPOINT_URL")
    if override:
        return override
    if env.is_embedded:
        url = emulator.endpoint(cfg.lab_dir)
        if url is None:
            raise LabError(f"env '{env.name}' uses the embedded lab, which is not running: run `dbops lab up`")
        return url
    return env.endpoint


def check_reachable(url: str, timeout: float = 2.0) -> None:
    parsed = urlparse(url)
    port = parsed.port or (443 if parsed.scheme == "https" else 80)
    if not process.port_open(parsed.hostname or "", port, timeout=timeout):
        raise EndpointUnreachable(f"AWS endpoint {url} is unreachable")


@dataclass
class Aws:
    """Session and client factory for one env."""

    region: str
    endpoint_url: str | None = None
    profile: str | None = None
    connect_timeout: float = 3.0
    read_timeout: float = 30.0
    max_attempts: int = 5

    @classmethod
    def for_env(cls, cfg: Config, env: EnvConfig) -> "Aws":
        url = resolve_endpoint(cfg, env)
        if url:
            check_reachable(url)
        return cls(region=os.environ.get("AWS_REGION") or env.region, endpoint_url=url, profile=env.profile)

    @property
    def emulated(self) -> bool:
        return self.endpoint_url is not None and urlparse(self.endpoint_url).hostname in ("127.0.0.1", "localhost")

    @cached_property
    def session(self) -> boto3.Session:
        kwargs: dict[str, Any] = {"region_name": self.region}
        if self.profile:
            kwargs["profile_name"] = self.profile
        if self.emulated:
            kwargs.update(EMULATOR_CREDENTIALS)
        try:
            return boto3.Session(**kwargs)
        except botocore.exceptions.ProfileNotFound as exc:
            raise EndpointUnreachable(str(exc)) from None

    def client(self, service: str) -> Any:
        config = botocore.config.Config(
            # The emulator is local: a retry cannot help, and it answers APIs it lacks with 500s.
            retries={"mode": "adaptive", "max_attempts": 1 if self.emulated else self.max_attempts},
            connect_timeout=self.connect_timeout,
            read_timeout=self.read_timeout,
        )
        return self.session.client(service, endpoint_url=self.endpoint_url, config=config)


def describe_aws_error(exc: BaseException) -> str | None:
    """One line for an AWS error that means 'could not run', or None if it is not one."""
    if isinstance(exc, (botocore.exceptions.EndpointConnectionError, botocore.exceptions.ConnectTimeoutError)):
        return f"AWS endpoint unreachable: {exc}"
    if isinstance(exc, botocore.exceptions.NoCredentialsError):
        return "no AWS credentials found (set AWS_PROFILE or configure the standard credential chain)"
    if isinstance(exc, botocore.exceptions.NoRegionError):
        return "no AWS region set (set `region` in dbops.toml or AWS_REGION)"
    if isinstance(exc, botocore.exceptions.ClientError):
        err = exc.response.get("Error", {})
        return f"AWS {exc.operation_name} failed: {err.get('Code')}: {err.get('Message')}"
    return None


def safe_read(fn: Any, emulated: bool = False) -> Any:
    """Run one AWS read; a failure comes back as data (ops.checks.registry.Read), never raised.

    An operation the endpoint does not implement (the emulator's 404/500 for APIs it
    lacks) is marked unimplemented, so a check can say "could not determine".
    """
    from ops.checks.registry import Read

    try:
        return Read(value=fn())
    except botocore.exceptions.ClientError as exc:
        err = exc.response.get("Error", {})
        status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
        code = str(err.get("Code", ""))
        unimplemented = code in ("NotImplemented", "UnknownOperationException", "InvalidAction") or (
            emulated and (status in (404, 500, 501) or code in ("404", "500")))
        what = "not implemented by this endpoint" if unimplemented else f"{code}: {err.get('Message', '')}"
        return Read(error=f"{exc.operation_name}: {what}", unimplemented=unimplemented)
    except (botocore.exceptions.BotoCoreError, OSError) as exc:
        return Read(error=f"{type(exc).__name__}: {exc}")
