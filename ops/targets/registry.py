"""Open a target of the configured env by its KIND:NAME."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ops.config import Config, EnvConfig
from ops.errors import ConfigError, DbopsError, UsageError
from ops.plugins import seams, target_kind
from ops.targets import TargetRef, parse_target


def secret_from_outputs(cfg: Config, env: EnvConfig, ref: TargetRef) -> str | None:
    """The master secret ARN the env's Terraform outputs give for an Aurora target, if any."""
    from ops.terraform.envs import OutputsInvalid, env_outputs

    try:
        details = env_outputs(cfg, env).get("dbops_target_details") or {}
    except OutputsInvalid:
        raise  # outputs handed in that are wrong are said, never read around
    except DbopsError:
        return None  # not applied, or outputs unreadable: --secret-arn or the RDS-managed secret remain
    arn = (details.get(str(ref)) or {}).get("secret_arn") if isinstance(details, dict) else None
    return arn or None


def open_cluster(cfg: Config, env: EnvConfig, text: str, secret_arn: str | None = None) -> Any:
    ref = parse_target(text)
    plugged = target_kind(ref.kind)
    if plugged is not None:
        return plugged.open_cluster(cfg, env, ref)
    if ref.kind == "aurora":
        from ops.targets.aurora import AuroraTarget

        target = AuroraTarget(ref, aws_of(cfg, env, ref), secret_arn, tls_root_cert(cfg, env), proxy_tls_root_cert(cfg, env),
                              verified_only=not env.is_embedded, env_name=env.name)
        if target.secret_arn is None and target.has_data_plane:
            target.secret_arn = secret_from_outputs(cfg, env, ref)
        return target
    cluster_kinds = ", ".join(["aurora", *seams().kinds])
    raise UsageError(f"{ref} is not a cluster target (cluster kinds: {cluster_kinds})")


def aws_of(cfg: Config, env: EnvConfig, ref: TargetRef) -> Any:
    """The clients of the account and region a target is in (a fleet env's, or the env's own)."""
    from ops.aws import Aws

    if ref.region is None:
        return Aws.for_env(cfg, env)
    from ops.scopes import aws_for, scope_of

    return aws_for(cfg, env, scope_of(env, ref.account, ref.region))


def tls_root_cert(cfg: Config, env: EnvConfig) -> Path | None:
    """The env's CA bundle; the lab's Aurora servers are signed by the lab's own CA and verified against it.
    None where the env names none: the target then refuses to connect (see AuroraTarget.dsn_for)."""
    if env.tls_root_cert is not None:
        if not env.tls_root_cert.is_file():
            raise ConfigError(f"envs.{env.name}.tls_root_cert: {env.tls_root_cert} is not a file")
        return env.tls_root_cert
    if env.is_embedded:
        return cfg.lab_dir / "aurora" / "tls" / "ca.crt"
    return None


def proxy_tls_root_cert(cfg: Config, env: EnvConfig) -> Path | None:
    """What a --via endpoint (RDS Proxy: Amazon's root CAs) is verified against: its own bundle, else the env's."""
    if env.proxy_tls_root_cert is not None:
        if not env.proxy_tls_root_cert.is_file():
            raise ConfigError(f"envs.{env.name}.proxy_tls_root_cert: {env.proxy_tls_root_cert} is not a file")
        return env.proxy_tls_root_cert
    return tls_root_cert(cfg, env)


def open_restorable(cfg: Config, env: EnvConfig, text: str, secret_arn: str | None = None, with_indexes: bool = False,
                    clone: bool = False) -> Any:
    """A target's restore-test operations (see ops.drills.restore.Restorable). clone: an Aurora restore to the latest
    restorable time is a copy-on-write clone (a read copy, not a test of the backups)."""
    ref = parse_target(text)
    if ref.kind == "dynamodb":
        from ops.targets.dynamodb import DynamoTarget

        return DynamoTarget(ref, aws_of(cfg, env, ref), with_indexes=with_indexes)
    cluster = open_cluster(cfg, env, text, secret_arn)
    plugged = target_kind(ref.kind)
    if plugged is not None:
        return plugged.open_restorable(cluster)
    from ops.targets.aurora import AuroraRestore

    return AuroraRestore(cluster, cfg.restore_instance_classes, copy_on_write=clone)
