"""Targets are addressed as KIND:NAME (aurora:lab-aurora, dynamodb:orders, localpg:lab-pg)."""

from __future__ import annotations

from dataclasses import dataclass

from ops.errors import UsageError

KINDS = ("aurora", "dynamodb", "localpg")


@dataclass(frozen=True)
class TargetRef:
    kind: str
    name: str

    def __str__(self) -> str:
        return f"{self.kind}:{self.name}"


def parse_target(text: str) -> TargetRef:
    kind, sep, name = text.partition(":")
    if not sep or not name:
        raise UsageError(f"target '{text}' must be KIND:NAME (kinds: {', '.join(KINDS)})")
    if kind not in KINDS:
        raise UsageError(f"unknown target kind '{kind}' in '{text}' (known: {', '.join(KINDS)})")
    return TargetRef(kind, name)
