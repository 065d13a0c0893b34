"""Updates that keep a resource holding data but lower what protects it: a disabled KMS key (what it
encrypted is unreadable), PITR turned off (its restore window is deleted), Aurora deletion protection
off or no final snapshot, a shorter backup retention, a backup rule removed or expiring sooner,
versioning suspended on a bucket. Read from `terraform show -json` as each change's before and after.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

Path_ = tuple[Any, ...]  # keys and list indexes into a change's before/after
_MISSING = object()
_UNKNOWN = object()  # after_unknown: the value is known only at apply


@dataclass(frozen=True)
class Weakening:
    address: str
    attribute: str
    before: str
    after: str

    def text(self) -> str:
        return f"{self.address} {self.attribute} {self.before} -> {self.after}"


def _turned_off(before: Any, after: Any) -> bool:
    return before is True and after is not True


def _turned_on(before: Any, after: Any) -> bool:
    return before is not True and (after is True or after is _UNKNOWN)


def _lowered(before: Any, after: Any) -> bool:
    if not isinstance(before, (int, float)) or isinstance(before, bool):
        return False
    return after is _UNKNOWN or not isinstance(after, (int, float)) or after < before


def _no_longer_enabled(before: Any, after: Any) -> bool:
    return before == "Enabled" and after != "Enabled"


Rule = Callable[[Any, Any], bool]

_RDS: list[tuple[Path_, Rule]] = [
    (("deletion_protection",), _turned_off),
    (("skip_final_snapshot",), _turned_on),
    (("backup_retention_period",), _lowered),
]

# Attributes read on every provider version: 3.39's names, and later providers' where they differ.
WATCHED: dict[str, list[tuple[Path_, Rule]]] = {
    "aws_kms_key": [(("is_enabled",), _turned_off)],
    "aws_dynamodb_table": [(("point_in_time_recovery", 0, "enabled"), _turned_off),
                           (("deletion_protection_enabled",), _turned_off)],
    "aws_rds_cluster": _RDS,
    "aws_db_instance": _RDS,
    "aws_backup_vault": [(("force_destroy",), _turned_on)],
    "aws_s3_bucket": [(("versioning", 0, "enabled"), _turned_off), (("force_destroy",), _turned_on)],
    "aws_s3_bucket_versioning": [(("versioning_configuration", 0, "status"), _no_longer_enabled)],
}


def _at(value: Any, path: Path_) -> Any:
    for key in path:
        if isinstance(value, dict) and key in value:
            value = value[key]
        elif isinstance(value, list) and isinstance(key, int) and 0 <= key < len(value):
            value = value[key]
        else:
            return _MISSING
    return value


def _marked(marks: Any, path: Path_) -> bool:
    """True where Terraform's before_sensitive/after_sensitive (or after_unknown) marks the path or a parent."""
    for key in path:
        if marks is True:
            return True
        marks = _at(marks, (key,))
        if marks is _MISSING:
            return False
    return marks is True


def _shown(value: Any, sensitive: bool) -> str:
    if sensitive:
        return "(sensitive)"
    if value is _UNKNOWN:
        return "(known after apply)"
    if value is _MISSING or value is None:
        return "(unset)"
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _dotted(path: Path_) -> str:
    return ".".join(str(k) for k in path if not isinstance(k, int))


def _side(change: dict[str, Any], which: str, path: Path_) -> tuple[Any, bool]:
    if which == "after" and _marked(change.get("after_unknown"), path):
        return _UNKNOWN, _marked(change.get("after_sensitive"), path)
    return _at(change.get(which), path), _marked(change.get(f"{which}_sensitive"), path)


def _backup_rules(address: str, change: dict[str, Any]) -> list[Weakening]:
    """A rule removed (no new recovery points) or its recovery points deleted sooner; a rule with
    no lifecycle keeps them forever."""
    def rules(side: str) -> dict[str, Any]:
        return {r.get("rule_name"): r for r in (change.get(side) or {}).get("rule") or [] if isinstance(r, dict)}

    def delete_after(rule: dict[str, Any]) -> Any:
        days = _at(rule, ("lifecycle", 0, "delete_after"))
        return None if days in (_MISSING, None, 0) else days

    out = []
    before, after = rules("before"), rules("after")
    for name, rule in sorted(before.items(), key=lambda item: str(item[0])):
        if name not in after:
            out.append(Weakening(address, f"rule[{name}]", "present", "removed"))
            continue
        was, now = delete_after(rule), delete_after(after[name])
        if now is not None and (was is None or now < was):
            out.append(Weakening(address, f"rule[{name}].lifecycle.delete_after",
                                 "(never)" if was is None else str(was), str(now)))
    return out


def weakenings(plan: dict[str, Any]) -> list[Weakening]:
    """Every update (and, for aws_s3_bucket_versioning, delete: it suspends versioning) that lowers a
    watched protection, with its before and after as shown (never a sensitive value)."""
    out: list[Weakening] = []
    for rc in plan.get("resource_changes") or []:
        change, type_ = rc.get("change") or {}, rc.get("type")
        actions = change.get("actions")
        if actions != ["update"] and not (type_ == "aws_s3_bucket_versioning" and actions == ["delete"]):
            continue
        if type_ == "aws_backup_plan":
            out += _backup_rules(rc["address"], change)
        for path, rule in WATCHED.get(type_, []):
            before, before_sensitive = _side(change, "before", path)
            after, after_sensitive = _side(change, "after", path)
            if before is _MISSING or not rule(before, after):
                continue
            out.append(Weakening(rc["address"], _dotted(path), _shown(before, before_sensitive), _shown(after, after_sensitive)))
    return out
