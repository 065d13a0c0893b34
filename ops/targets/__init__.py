"""Targets are addressed as KIND:NAME (aurora:lab-aurora, dynamodb:orders, localpg:lab-pg)."""

from __future__ import annotations

from dataclasses import dataclass

from ops.errors import UsageError

# The kinds the core knows; plugins add theirs (ops.plugins: the lab's localpg).
KINDS = ("aurora", "dynamodb")


@dataclass(frozen=True)
class TargetRef:
    kind: str
    name: str

    def __str__(self) -> str:
        return f"{self.kind}:{self.name}"


def parse_target(text: str) -> TargetRef:
    kind, sep, name = text.partition(":")
    if not sep or not name:
        raise UsageError(f"target '{text}' must be KIND:NAME (kinds: {', '.join(known_kinds())})")
    if kind not in known_kinds():
        raise UsageError(f"unknown target kind '{kind}' in '{text}' (known: {', '.join(known_kinds())})")
    return TargetRef(kind, name)


def known_kinds() -> tuple[str, ...]:
    from ops.plugins import seams

    return (*KINDS, *seams().kinds)
