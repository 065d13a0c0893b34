"""Plans of the modules' examples, made once per session, offline, with the mirrored provider.

Each example is planned the way a user would run it (init, plan -out, show -json) but with
`offline = true`: the provider skips its credential, account and metadata checks and does
not retry the one EC2 call provider 3.x makes when it starts. While planning, the process
has dummy credentials and a proxy on a closed loopback port, so a plan that needed AWS
fails instead of reaching anything.
"""

from __future__ import annotations

import secrets
import shutil
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator

import hcl2
import pytest

from ops.errors import TerraformError
from ops.terraform.engine import EmbeddedEngine, Workspace
from tests.conftest import REPO

TF = REPO / "terraform"
EXAMPLES = {f"{p.parents[1].name}/{p.name}": p for p in sorted(TF.glob("modules/*/examples/*")) if p.is_dir()}

_CLOSED_PORT = "http://127.0.0.1:9"
OFFLINE_ENV = {
    "AWS_ACCESS_KEY_ID": "offline", "AWS_SECRET_ACCESS_KEY": "offline",
    "HTTPS_PROXY": _CLOSED_PORT, "HTTP_PROXY": _CLOSED_PORT, "https_proxy": _CLOSED_PORT, "http_proxy": _CLOSED_PORT,
}
OFFLINE_UNSET = ("NO_PROXY", "no_proxy", "AWS_PROFILE", "AWS_DEFAULT_PROFILE", "AWS_SESSION_TOKEN")


def example_variables() -> dict[str, str]:
    """What a user passes to the examples; variables an example does not declare are ignored."""
    password = secrets.token_urlsafe(24)
    return {
        "offline": "true",
        "account_id": "123456789012",
        "vpc_id": "vpc-0123456789abcdef0",
        "subnet_ids": '["subnet-0123456789abcdef0", "subnet-0fedcba9876543210"]',
        "master_password": password,
        "aurora_master_password": password,
    }


def unwrap(value: Any) -> Any:
    """python-hcl2 wraps every attribute value in a one-item list."""
    return value[0] if isinstance(value, list) and len(value) == 1 else value


def hcl_resource(module: str, type_: str, name: str) -> dict[str, Any]:
    """The body of resource TYPE.NAME in terraform/modules/MODULE/main.tf, values unwrapped."""
    with (TF / "modules" / module / "main.tf").open() as f:
        blocks = [b[type_][name] for b in hcl2.load(f).get("resource", []) if name in b.get(type_, {})]
    assert len(blocks) == 1, f"{module}: resource {type_}.{name} not found once"
    return {k: unwrap(v) for k, v in blocks[0].items()}


def ignored_changes(resource: dict[str, Any]) -> set[str]:
    """Attributes a resource's lifecycle ignore_changes lists."""
    lifecycle = resource.get("lifecycle") or {}
    names = unwrap(lifecycle.get("ignore_changes", [])) if isinstance(lifecycle, dict) else []
    return {n.removeprefix("${").removesuffix("}") for n in (names if isinstance(names, list) else [names])}


@dataclass(frozen=True)
class ExamplePlan:
    name: str
    plan: dict[str, Any] | None
    error: str | None
    seconds: float

    def changes(self, *types: str) -> list[dict[str, Any]]:
        assert self.plan is not None, self.error
        return [rc for rc in self.plan["resource_changes"] if not types or rc["type"] in types]


@dataclass
class ExamplePlans:
    root: Path  # a copy of terraform/modules; each example is initialised in place there
    variables: dict[str, str]
    results: dict[str, ExamplePlan] = field(default_factory=dict)
    seconds: float = 0.0

    def workdir(self, name: str) -> Path:
        return self.root / "modules" / Path(EXAMPLES[name].relative_to(TF / "modules"))

    def environ(self, name: str, variables: dict[str, str]) -> dict[str, str]:
        return {**Workspace(root=REPO, workdir=self.workdir(name), variables=variables).environ(), **OFFLINE_ENV}

    def plan(self, name: str, **extra: str) -> ExamplePlan:
        """Plan one example (already copied) with extra variables; errors are returned, not raised."""
        variables = {**self.variables, **extra}
        engine = EmbeddedEngine(Workspace(root=REPO, workdir=self.workdir(name), variables=variables))
        out = self.workdir(name) / "dbops-test.tfplan"
        started = time.monotonic()
        with pytest.MonkeyPatch.context() as mp:
            for key in OFFLINE_UNSET:
                mp.delenv(key, raising=False)
            for key, value in self.environ(name, variables).items():
                mp.setenv(key, value)
            try:
                engine.plan(out=out)
                return ExamplePlan(name, engine.show_json(out), None, time.monotonic() - started)
            except TerraformError as exc:
                return ExamplePlan(name, None, str(exc), time.monotonic() - started)


def plan_examples(root: Path, names: list[str], workers: int = 2) -> ExamplePlans:
    """Copy terraform/modules under root and plan every named example, `workers` at a time.

    Every plan sees the same process environment (set before any starts), so the engines'
    own environment patches, which save and restore it, do not race.
    """
    shutil.copytree(TF / "modules", root / "modules",
                    ignore=shutil.ignore_patterns(".terraform", ".terraform.lock.hcl", "*.tfplan", "*.tfstate*"))
    plans = ExamplePlans(root, example_variables())
    started = time.monotonic()
    with pytest.MonkeyPatch.context() as mp:
        for key in OFFLINE_UNSET:
            mp.delenv(key, raising=False)
        # identical for every example: the TF_VAR_* come from one dict and the working dir
        # is not part of the environment
        for key, value in plans.environ(names[0], plans.variables).items():
            mp.setenv(key, value)
        # The first one alone: its init fills the provider cache the others link to.
        first, rest = names[:1], names[1:]
        for name in first:
            plans.results[name] = plans.plan(name)
        with ThreadPoolExecutor(max_workers=workers) as pool:
            for result in pool.map(plans.plan, rest):
                plans.results[result.name] = result
    plans.seconds = time.monotonic() - started
    return plans


@pytest.fixture(scope="session")
def example_plans(provider_mirror, tmp_path_factory) -> Iterator[ExamplePlans]:  # type: ignore[no-untyped-def]
    yield plan_examples(tmp_path_factory.mktemp("examples"), sorted(EXAMPLES))
