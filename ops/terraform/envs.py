"""The Terraform workspace of a configured env.

An env on the embedded lab keeps its state and data dir inside the lab dir: a new
emulator is a new, empty world, and its state goes with it.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import sys
from pathlib import Path
from typing import Any

from ops.config import Config, EnvConfig
from ops.errors import ConfigError, UsageError
from ops.plugins import embedded_endpoint
from ops.terraform.engine import Engine, Workspace, engine_for


def workspace_for(cfg: Config, env: EnvConfig) -> Workspace:
    if env.terraform_dir is None:
        raise ConfigError(f"{cfg.source}: 'envs.{env.name}.terraform_dir' is not set")
    if not env.terraform_dir.is_dir():
        raise ConfigError(f"{cfg.source}: 'envs.{env.name}.terraform_dir' {env.terraform_dir} does not exist")
    # The account's AWS Budgets limit is Terraform's own variable (account_budget_usd): the budget counts the
    # whole account, so the estate's objective in dbops.toml (monthly_budget_usd) is not passed for it.
    ws = Workspace(root=cfg.root, workdir=env.terraform_dir, variables={"region": env.region})
    if env.account_id:
        ws.variables["account_id"] = env.account_id  # the provider's allowed_account_ids
    if not env.is_embedded:
        ws.aws_environ = aws_environ(env)
    if env.is_embedded:
        url = embedded_endpoint(cfg, env)
        base = cfg.lab_dir / "terraform" / env.name
        ws.variables["aws_endpoint"] = url
        ws.data_dir = base / "data"
        ws.backend_config = {"path": str(base / "terraform.tfstate")}
        ws.variables.update(lab_secrets(base))
    return ws


# What Terraform may not be told with --var: the env names them, and STS checked them.
PINNED_VARIABLES = ("region", "account_id", "aws_endpoint")


def aws_environ(env: EnvConfig) -> dict[str, str | None]:
    """The env's region, and its profile in place of any static keys in the shell: the provider prefers
    static keys over a profile, so keys left in the environment would act in another account."""
    values: dict[str, str | None] = {"AWS_REGION": env.region, "AWS_DEFAULT_REGION": env.region}
    if env.profile:
        values.update({"AWS_PROFILE": env.profile, "AWS_ACCESS_KEY_ID": None, "AWS_SECRET_ACCESS_KEY": None,
                       "AWS_SESSION_TOKEN": None})
    return values


def lab_secrets(base: Path) -> dict[str, str]:
    """Secret inputs of a lab env: generated once per lab, kept 0600 in the lab dir, never in the repo."""
    path = base / "secrets.json"
    if path.exists():
        return json.loads(path.read_text())
    base.mkdir(parents=True, exist_ok=True)
    values = {"aurora_master_password": secrets.token_urlsafe(24)}
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as f:
        json.dump(values, f)
    return values


def engine_for_env(cfg: Config, env: EnvConfig, variables: dict[str, str] | None = None) -> Engine:
    """The env's engine; `variables` (from --var) set input variables of the env's root module."""
    ws = workspace_for(cfg, env)  # first: an env without a terraform_dir is said as such
    pinned = sorted(set(variables or {}) & set(PINNED_VARIABLES))
    if pinned:
        raise UsageError(f"--var {pinned[0]} is the env's own (set it in the config's [envs.{env.name}]), not a Terraform input to override")
    undeclared = sorted(set(variables or {}) - declared_variables(env.terraform_dir))
    if undeclared:
        raise UsageError(f"--var {undeclared[0]}: env '{env.name}' ({env.terraform_dir}) declares no variable of that name; "
                         f"--var may set {', '.join(sorted(declared_variables(env.terraform_dir) - set(PINNED_VARIABLES))) or 'none'}")
    ws.variables.update(variables or {})
    return engine_for(ws)


# The env's Terraform outputs handed to a process that cannot run Terraform (the runner's container: no
# provider mirror, a read-only root, no state backend access), as `terraform output -json` gives their
# values: {"NAME": VALUE, ...}. The drill-runner module sets it from the env's own outputs.
OUTPUTS_VARIABLE = "DBOPS_TF_OUTPUTS"
# The env those outputs are of: outputs of one env never stand for another's.
OUTPUTS_ENV_VARIABLE = "DBOPS_TF_OUTPUTS_ENV"

_announced: set[str] = set()


class OutputsInvalid(ConfigError):
    """DBOPS_TF_OUTPUTS is set but is not the outputs of this env: never read around, never replaced by Terraform's."""


def env_outputs(cfg: Config, env: EnvConfig, environ: dict[str, str] | None = None) -> dict[str, Any]:
    """The env's Terraform outputs by name: DBOPS_TF_OUTPUTS when it is set (Terraform is not run), else
    `terraform output` of the env's configuration."""
    environ = os.environ if environ is None else environ
    raw = environ.get(OUTPUTS_VARIABLE)
    if raw is None:
        return engine_for_env(cfg, env).output()
    named = environ.get(OUTPUTS_ENV_VARIABLE)
    if named is not None and named != env.name:
        raise OutputsInvalid(f"{OUTPUTS_VARIABLE} holds the outputs of env '{named}' ({OUTPUTS_ENV_VARIABLE}), not of env '{env.name}'")
    try:
        outputs = json.loads(raw)
    except ValueError as exc:
        raise OutputsInvalid(f"{OUTPUTS_VARIABLE} is not JSON ({exc}): it must be an object of output values by name") from None
    if not isinstance(outputs, dict):
        raise OutputsInvalid(f"{OUTPUTS_VARIABLE} must be a JSON object of output values by name, not {type(outputs).__name__}")
    if env.name not in _announced:
        _announced.add(env.name)
        print(f"terraform outputs of env '{env.name}': {len(outputs)} read from {OUTPUTS_VARIABLE}, Terraform not run",
              file=sys.stderr, flush=True)
    return outputs


_VARIABLE_BLOCK = re.compile(r'^\s*variable\s+"([^"]+)"\s*\{', re.M)


def declared_variables(terraform_dir: Path) -> set[str]:
    """The input variables the env's root module declares (its *.tf files): Terraform ignores a TF_VAR_
    of any other name, so a --var of another name would do nothing, silently."""
    return {name for tf in sorted(Path(terraform_dir).glob("*.tf")) for name in _VARIABLE_BLOCK.findall(tf.read_text())}


_ENV_VARIABLE = re.compile(r"(?:set using the |The )?(?:environment variable )?TF_VAR_(\w+)(?: environment variable)?")


def as_var_option(message: str) -> str:
    """Terraform's message about a variable passed as TF_VAR_NAME, naming what the user typed: --var NAME."""
    return _ENV_VARIABLE.sub(lambda m: f"{'set with ' if m.group(0).startswith('set') else ''}--var {m.group(1)}", message)
