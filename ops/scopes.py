"""The accounts and regions a fleet env reads, and the AWS clients of each.

An env reads its own region with the credentials' own account, as every command does; a fleet env
(`regions`, `[[envs.NAME.accounts]]` in dbops.toml) also reads the other regions of that account and
every region of each listed account through the role it names. A scope whose account cannot be read
(a role that cannot be assumed, credentials of another account) is refused in one line and the
other scopes are read all the same.
"""

from __future__ import annotations

from dataclasses import dataclass

import botocore.exceptions

from ops.aws import Aws
from ops.aws_errors import describe_aws_error
from ops.config import Config, EnvConfig
from ops.errors import ConfigError, UsageError


@dataclass(frozen=True)
class Scope:
    account: str | None  # None: the credentials' own, an env without account_id
    region: str
    role_arn: str | None = None

    @property
    def label(self) -> str:
        return f"{self.account or 'own account'}/{self.region}"


def scopes(env: EnvConfig) -> list[Scope]:
    """The env's own region first, then its other regions, then each listed account's regions."""
    home = [Scope(env.account_id, r) for r in env.all_regions]
    return home + [Scope(a.id, r, a.role_arn) for a in env.accounts for r in env.all_regions]


def is_home(env: EnvConfig, scope: Scope) -> bool:
    return scope.role_arn is None and scope.region == env.region


def scope_of(env: EnvConfig, account: str | None, region: str | None) -> Scope:
    """The scope a target names (none: the env's own), refused in one line when the env does not list it."""
    if region is None:
        return Scope(env.account_id, env.region)
    for scope in scopes(env):
        # an env without account_id lists no other account: its own, whatever its id, is the one named
        if scope.region == region and (account is None or scope.account in (account, None)):
            return scope
    listed = ", ".join(s.label for s in scopes(env))
    raise UsageError(f"{account}/{region} is not a region of an account env '{env.name}' reads (it reads {listed}): "
                     f"list it under [envs.{env.name}] regions or accounts")


def aws_for(cfg: Config, env: EnvConfig, scope: Scope) -> Aws:
    """The clients of a scope; ConfigError (one line) when its account cannot be read or is not the one declared."""
    if is_home(env, scope):
        return Aws.for_env(cfg, env)
    try:
        return Aws.for_env(cfg, env, region=scope.region, role_arn=scope.role_arn)
    except (botocore.exceptions.BotoCoreError, botocore.exceptions.ClientError) as exc:
        raise ConfigError(f"account {scope.account} ({scope.label}): role {scope.role_arn} could not be assumed: "
                          f"{describe_aws_error(exc) or exc}") from None
