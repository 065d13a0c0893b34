"""The one place that makes boto3 sessions and clients.

Region, profile and endpoint come from the env config and nothing else: `embedded` resolves to
the running lab's emulator, no endpoint means AWS's own. The shell cannot redirect a command: an
AWS_REGION or AWS_DEFAULT_REGION that names another region, or an AWS_ENDPOINT_URL(_<SERVICE>)
that names another endpoint, is refused in one line (exit 2) before any call, and endpoints set
in the profile's config file are ignored (botocore's ignore_configured_endpoint_urls).

Every client is made for an operator at a terminal (and a scheduler with a deadline):
connect timeout 3 s, read timeout 10 s, botocore's `standard` retry mode with at most 3 attempts
(throttling, timeouts and transient 5xx, with backoff). The fleet reads (`backup verify`, `status`) switch
to `adaptive` (adaptive_retries): after a throttle the client also slows its own sending rate,
which keeps many concurrent reads under an API's rate limit. Drills keep `standard`: their load must meet
the service's throttles, not a limiter of the client's own that would hide them. A service endpoint whose
call still timed out after its retries is taken for dead for DEAD_FOR_S: later calls to that
endpoint fail at once with EndpointUnreachable instead of waiting out their own timeouts, so a
hung endpoint (process stopped, port still open) fails a command in about 30 s. Only that
endpoint: on AWS each service has its own, so a stalled RDS API leaves DynamoDB, CloudWatch
and Secrets Manager answering.
"""

from __future__ import annotations

import os
import threading
import time
from concurrent.futures import FIRST_EXCEPTION, ThreadPoolExecutor, wait
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any, Callable, Iterable, Iterator, TypeVar
from urllib.parse import urlparse

import boto3
import botocore.config
import botocore.exceptions

from ops.config import Config, EnvConfig
from ops import callrecord, plugins
from ops.aws_errors import TIMEOUTS as _TIMEOUTS
from ops.aws_errors import describe_aws_error
from ops.errors import ConfigError, EndpointUnreachable
from ops.proc import port_open
from ops.permissions import declare, need

CONNECT_TIMEOUT_S = 3.0
READ_TIMEOUT_S = 10.0
MAX_ATTEMPTS = 3
READ_CONCURRENCY = 16  # parallel reads of many resources (--concurrency); their adaptive retries back off on throttling
MAX_CONCURRENCY = 256
PROGRESS_EVERY_S = 5.0  # a long fleet read says how far it got this often
# An assumed role's credentials last an hour; botocore refreshes them 15 minutes before they expire.
ROLE_SESSION_S = 3600
# Answers that mean "this endpoint does not have that operation" — the only ones a check
# may turn into "could not determine". Anything else that fails is an error.
UNIMPLEMENTED_CODES = ("NotImplemented", "UnknownOperationException", "InvalidAction", "501")

T = TypeVar("T")
DEAD_FOR_S = 60.0
_SHARED: dict[tuple[str | None, str, str | None, str | None], "Aws"] = {}
_RETRY_MODE = ["standard"]


@contextmanager
def adaptive_retries() -> Iterator[None]:
    """Clients made inside slow their own rate after a throttle (the fleet reads); the mode is restored after."""
    before, _RETRY_MODE[0] = _RETRY_MODE[0], "adaptive"
    try:
        yield
    finally:
        _RETRY_MODE[0] = before


# Which account the credentials act in: every command that names an account checks it first.
ACCOUNT = declare("aws.account", need("sts:GetCallerIdentity", on="*", why="no permission is needed; listed so the set is whole"))


def resolve_endpoint(cfg: Config, env: EnvConfig) -> str | None:
    if env.is_embedded:
        return plugins.embedded_endpoint(cfg, env)
    return env.endpoint


def refuse_disagreeing_variables(env: EnvConfig, url: str | None, environ: dict[str, str] | None = None) -> None:
    """The env names the region and endpoint; a shell variable that names others would send the
    command elsewhere (an SSO profile's region, CloudShell's, a CI default), so it is refused."""
    environ = os.environ if environ is None else environ
    for var in ("AWS_REGION", "AWS_DEFAULT_REGION"):
        value = environ.get(var, "").strip()
        if value and value != env.region:
            raise ConfigError(f"{var}={value} disagrees with env '{env.name}' (region {env.region}): "
                              f"unset it, or use the env for {value}")
    where = url or f"AWS's own endpoints in {env.region}"
    for var, value in sorted(environ.items()):
        if (var == "AWS_ENDPOINT_URL" or var.startswith("AWS_ENDPOINT_URL_")) and value.strip() \
                and value.strip().rstrip("/") != (url or "").rstrip("/"):
            raise ConfigError(f"{var}={value.strip()} disagrees with env '{env.name}' ({where}): "
                              f"unset it, or set the env's endpoint in the config")


def _check_account(aws: "Aws", env: EnvConfig, declared: str | None = None) -> None:
    if aws.role_arn:
        account = aws.account()  # an AssumeRole refused raises here, for ops.scopes to say in one line
        if account != declared:
            raise ConfigError(f"env '{env.name}': role {aws.role_arn} acts in account {account}, not the declared {declared}: "
                              "that account is refused")
        return
    try:
        account = aws.account()
    except (botocore.exceptions.BotoCoreError, botocore.exceptions.ClientError) as exc:
        raise ConfigError(f"env '{env.name}': the account the credentials act in could not be read "
                          f"(STS GetCallerIdentity): {describe_aws_error(exc) or exc}") from None
    if account != env.account_id:
        raise ConfigError(f"env '{env.name}' is account {env.account_id} in {env.region}, but the credentials act in "
                          f"account {account}: switch credentials (AWS_PROFILE) or the env")


def verify_account(cfg: Config, env: EnvConfig) -> str | None:
    """Before anything writes: the credentials act in the account the env names, or one line refuses.

    An env other than the embedded lab must name its account_id. Returns the account read (None for
    the embedded lab when its config names none: there is no other account it could be)."""
    if env.account_id is None and env.is_embedded:
        return None
    if not env.is_embedded:
        refuse_disagreeing_variables(env, env.endpoint)  # a shell pointing elsewhere is the first thing to say
    if env.account_id is None:
        raise ConfigError(f"env '{env.name}' names no account_id: set account_id = \"<12 digits>\" under [envs.{env.name}] "
                          f"to the account its drills and Terraform may act on")
    return Aws.for_env(cfg, env).account()  # for_env checked it against the env's account_id


def check_reachable(url: str, timeout: float = 2.0) -> None:
    parsed = urlparse(url)
    port = parsed.port or (443 if parsed.scheme == "https" else 80)
    if not port_open(parsed.hostname or "", port, timeout=timeout):
        raise EndpointUnreachable(f"AWS endpoint {url} is unreachable")


@dataclass(frozen=True)
class Read:
    """The outcome of one read that must not raise: a value, or an error carried as data."""

    value: Any = None
    error: str | None = None
    unimplemented: bool = False

    @property
    def ok(self) -> bool:
        return self.error is None


@dataclass
class Aws:
    """Session and client factory for one env."""

    region: str
    endpoint_url: str | None = None
    profile: str | None = None
    connect_timeout: float = CONNECT_TIMEOUT_S
    read_timeout: float = READ_TIMEOUT_S
    max_attempts: int = MAX_ATTEMPTS
    # Endpoint URL -> (why it is taken for dead, when): calls to it are refused for DEAD_FOR_S.
    dead_endpoints: dict[str, tuple[str, float]] = field(default_factory=dict, init=False)
    # Read through this role (STS AssumeRole from the profile's credentials): another account of a fleet env.
    role_arn: str | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock, init=False, repr=False)
    _account: str | None = field(default=None, init=False, repr=False)

    @classmethod
    def for_env(cls, cfg: Config, env: EnvConfig, region: str | None = None, role_arn: str | None = None) -> "Aws":
        """One Aws per endpoint, region, profile and role in a process, so they share what they learn
        (a service endpoint found dead stays dead for DEAD_FOR_S: every target of a command fails fast).

        `region` and `role_arn` are a fleet env's other regions and accounts (ops.scopes): the account a
        role acts in must be the one the env declares for it, as the env's own must be its account_id."""
        url = resolve_endpoint(cfg, env)
        refuse_disagreeing_variables(env, url)
        key = (url, region or env.region, env.profile, role_arn)
        known = _SHARED.get(key)
        if known is not None:
            return known
        if url:
            check_reachable(url)
        aws = cls(region=key[1], endpoint_url=url, profile=env.profile, role_arn=role_arn)
        declared = next((a.id for a in env.accounts if a.role_arn == role_arn), None) if role_arn else env.account_id
        if declared:
            _check_account(aws, env, declared)  # reads too: a report of another account's data must not pass for this env's
        _SHARED[key] = aws
        return aws

    @cached_property
    def session(self) -> boto3.Session:
        kwargs: dict[str, Any] = {"region_name": self.region}
        if self.profile:
            kwargs["profile_name"] = self.profile
        kwargs.update(plugins.credentials_for(self.endpoint_url) or {})  # an emulator's, else the standard chain
        try:
            session = boto3.Session(**kwargs)
        except botocore.exceptions.ProfileNotFound as exc:
            raise EndpointUnreachable(str(exc)) from None
        # Every client of the session (made here or straight from it) reports its calls to the recorder,
        # which writes only under DBOPS_RECORD_AWS_CALLS: the permissions test holds them to their declarations.
        session.events.register("provide-client-params", callrecord.on_call)
        if self.role_arn:
            from ops.assume_role import assumed_session

            session = assumed_session(session, self.role_arn, self.endpoint_url, self._config(None))
            session.events.register("provide-client-params", callrecord.on_call)
        return session

    def _config(self, attempts: int | None) -> botocore.config.Config:
        return botocore.config.Config(
            retries={"mode": _RETRY_MODE[0], "total_max_attempts": attempts or self.max_attempts},
            ignore_configured_endpoint_urls=True,
            connect_timeout=self.connect_timeout,
            read_timeout=self.read_timeout,
        )

    def client(self, service: str, region: str | None = None, attempts: int | None = None) -> Any:
        """A client of the env's; `attempts=1` for a call that must not be sent twice (a retried failover that
        the first attempt started answers InvalidDBClusterStateFault, and reads as refused)."""
        config = self._config(attempts)
        with self._lock:  # boto3 sessions are not safe to create clients from in parallel
            client = self.session.client(service, endpoint_url=self.endpoint_url, config=config, region_name=region or self.region)
        where = client.meta.endpoint_url
        client.meta.events.register_first("before-send", lambda **_: self._refuse_if_dead(where))
        # after-call-error comes once botocore's retries are spent, not on the attempt that a retry may save.
        client.meta.events.register("after-call-error", lambda exception=None, **_: self._note_unreachable(where, exception))
        return client

    def _note_unreachable(self, where: str, exception: BaseException | None) -> None:
        if isinstance(exception, _TIMEOUTS):
            with self._lock:
                self.dead_endpoints.setdefault(where, (f"{type(exception).__name__}: {exception}", time.monotonic()))

    def _refuse_if_dead(self, where: str) -> None:
        why = self.dead_reason(where)
        if why is not None:
            raise EndpointUnreachable(f"AWS endpoint {where} does not answer ({why})")

    def dead_reason(self, where: str | None = None) -> str | None:
        """Why an endpoint (any of this Aws's, when none is named) is taken for dead now; None if it is not."""
        with self._lock:
            for url, (why, at) in list(self.dead_endpoints.items()):
                if time.monotonic() - at >= DEAD_FOR_S:
                    del self.dead_endpoints[url]
                elif where is None or url == where:
                    return why if where is not None else f"{url}: {why}"
        return None

    def account(self) -> str:
        """The account these credentials act in (STS GetCallerIdentity), read once."""
        if self._account is None:
            self._account = self.client("sts").get_caller_identity()["Account"]
        return self._account

    def map(self, fn: Callable[[Any], T], items: Iterable[Any], concurrency: int | None = None,
            progress: Callable[[str], None] | None = None, what: str = "target(s)") -> list[T]:
        return bounded_map(fn, items, concurrency, progress, what)


def bounded_map(fn: Callable[[Any], T], items: Iterable[Any], concurrency: int | None = None,
                progress: Callable[[str], None] | None = None, what: str = "target(s)",
                every_s: float = PROGRESS_EVERY_S) -> list[T]:
    """fn over items with at most `concurrency` at once (default READ_CONCURRENCY), results in the items' order,
    whatever order they finish in. `progress` hears how many are done every `every_s` while any is left."""
    items = list(items)
    workers = min(concurrency or READ_CONCURRENCY, len(items))
    if workers <= 1:
        return [fn(i) for i in items]
    with ThreadPoolExecutor(max_workers=workers) as pool:
        futures = [pool.submit(fn, i) for i in items]
        started, pending = time.monotonic(), set(futures)
        while pending:
            done, pending = wait(pending, timeout=every_s, return_when=FIRST_EXCEPTION)
            if any(f.exception() is not None for f in done):
                break  # its result below raises it; the others still queued are cancelled
            if pending and progress is not None:
                progress(f"read {len(futures) - len(pending)}/{len(futures)} {what} in {time.monotonic() - started:.0f} s "
                         f"({workers} at a time)")
        for f in pending:
            f.cancel()
        return [f.result() for f in futures]


def is_unimplemented(exc: botocore.exceptions.ClientError) -> bool:
    """An explicit answer that the endpoint lacks the operation (HTTP 501 or its error codes)."""
    err = exc.response.get("Error", {})
    status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
    return status == 501 or str(err.get("Code", "")) in UNIMPLEMENTED_CODES


def paged(client: Any, op: str, key: str, **kwargs: Any) -> list:
    """Every page of a listing: a list call answers one page (its own default page size), never all."""
    out: list = []
    for page in client.get_paginator(op).paginate(**kwargs):
        out += page.get(key, [])
    return out


def safe_read(fn: Callable[[], Any]) -> Read:
    """Run one AWS read; a failure comes back as data, never raised.

    Only an explicit not-implemented answer is marked unimplemented (a check may then say
    "could not determine"); a crashed endpoint, a 500, AccessDenied or a timeout is an error.
    """
    try:
        return Read(value=fn())
    except botocore.exceptions.ClientError as exc:
        if is_unimplemented(exc):
            return Read(error=f"{exc.operation_name}: not implemented by this endpoint", unimplemented=True)
        return Read(error=describe_aws_error(exc))
    except (botocore.exceptions.BotoCoreError, EndpointUnreachable, OSError) as exc:
        return Read(error=describe_aws_error(exc) or f"{type(exc).__name__}: {exc}")
