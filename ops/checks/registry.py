"""Checks are small functions from collected state to a finding, registered by target kind.

Collect, then judge: collectors read each target's state once into a dict; a check is a
pure function of that state and the policy, so most check tests need no AWS at all. A
read that failed is carried in the state as an error and becomes an `error` finding;
an API the endpoint does not implement becomes `unknown`. Neither is ever a pass.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

from ops.aws import Read
from ops.config import EnvConfig, Policy


@dataclass(frozen=True)
class Finding:
    check_id: str
    status: str  # pass | warn | fail | unknown | error
    detail: str


CheckFn = Callable[[dict[str, Any], Policy, EnvConfig], Finding]
REGISTRY: dict[str, list[tuple[str, str, CheckFn]]] = {}


def check(kind: str, check_id: str, title: str) -> Callable[[CheckFn], CheckFn]:
    def register(fn: CheckFn) -> CheckFn:
        REGISTRY.setdefault(kind, []).append((check_id, title, fn))
        return fn

    return register


def failed_read(check_id: str, *reads: Read) -> Finding | None:
    """The finding for a check whose inputs could not be read, or None if all were read."""
    for r in reads:
        if r.unimplemented:
            return Finding(check_id, "unknown", f"could not determine: {r.error}")
        if r.error:
            return Finding(check_id, "error", f"read failed: {r.error}")
    return None


def run_checks(kind: str, state: dict[str, Any], policy: Policy, env: EnvConfig) -> list[Finding]:
    out = []
    for check_id, _title, fn in REGISTRY.get(kind, []):
        try:
            out.append(fn(state, policy, env))
        except Exception as exc:  # noqa: BLE001 — a broken check is an error finding, never a pass
            out.append(Finding(check_id, "error", f"check raised {type(exc).__name__}: {exc}"))
    return out
