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
    # A fleet env's target in another account or region: KIND:NAME@ACCOUNT/REGION (no AWS name holds an @).
    account: str | None = None
    region: str | None = None

    def __str__(self) -> str:
        where = f"@{self.account}/{self.region}" if self.region else ""
        return f"{self.kind}:{self.name}{where}"


def parse_target(text: str) -> TargetRef:
    kind, sep, name = text.partition(":")
    if not sep or not name:
        raise UsageError(f"target '{text}' must be KIND:NAME (kinds: {', '.join(known_kinds())})")
    if kind not in known_kinds():
        raise UsageError(f"unknown target kind '{kind}' in '{text}' (known: {', '.join(known_kinds())})")
    name, at, where = name.partition("@")
    if not at:
        return TargetRef(kind, name)
    account, slash, region = where.partition("/")
    if kind not in KINDS or not name or not slash or not (len(account) == 12 and account.isdigit()) or not region:
        raise UsageError(f"target '{text}' must be KIND:NAME@ACCOUNT/REGION (an Aurora or DynamoDB target of a 12-digit "
                         "account and a region the env lists)")
    return TargetRef(kind, name, account, region)


def known_kinds() -> tuple[str, ...]:
    from ops.plugins import seams

    return (*KINDS, *seams().kinds)
