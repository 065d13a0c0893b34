"""DynamoDB ListBackups for the lab's emulator as the API reference describes it, whatever moto's version does.

- BackupType: USER when absent (the service's default), SYSTEM, AWS_BACKUP, or ALL — "all types of
  on-demand backups (USER and SYSTEM)": backups AWS Backup made are listed only under AWS_BACKUP.
  Any other value is a ValidationException.
- TimeRangeLowerBound is inclusive and TimeRangeUpperBound exclusive, both on the time the backup was
  requested (epoch seconds).
- TableName takes the table's name or ARN; Limit (1 to 100) pages the answer, LastEvaluatedBackupArn
  and ExclusiveStartBackupArn continue it. Oldest first.

DeleteTable of a table with point-in-time recovery on leaves a SYSTEM backup, as the service does
(kept 35 days): it is listed under the table's name, so a table made again under that name finds it.
"""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

BACKUP_TYPES = {"USER": {"USER"}, "SYSTEM": {"SYSTEM"}, "AWS_BACKUP": {"AWS_BACKUP"}, "ALL": {"USER", "SYSTEM"}}

_installed = False


def _when(value: Any, name: str) -> datetime:
    from moto.dynamodb.exceptions import MockValidationException

    if isinstance(value, datetime):  # moto parses the request by the service model
        return _aware(value)
    try:
        return datetime.fromtimestamp(float(value), timezone.utc)
    except (TypeError, ValueError, OverflowError):
        raise MockValidationException(f"{name}: {value!r} is not a time in epoch seconds") from None


def select(backups: list[Any], body: dict[str, Any]) -> tuple[list[Any], str | None]:
    """The backups one ListBackups request answers, and the ARN to continue from when more remain."""
    from moto.dynamodb.exceptions import MockValidationException

    kind = body.get("BackupType") or "USER"
    if kind not in BACKUP_TYPES:
        raise MockValidationException(
            f"1 validation error detected: Value '{kind}' at 'backupType' failed to satisfy constraint: "
            f"Member must satisfy enum value set: [USER, SYSTEM, AWS_BACKUP, ALL]")
    limit = body.get("Limit")
    if limit is not None and not (isinstance(limit, int) and 1 <= limit <= 100):
        raise MockValidationException(f"1 validation error detected: Value '{limit}' at 'limit' failed to satisfy "
                                      f"constraint: Member must have value between 1 and 100")
    table = body.get("TableName")
    chosen = [b for b in backups if b.type in BACKUP_TYPES[kind]
              and (table is None or table in (b.table.name, b.table.table_arn))]
    if body.get("TimeRangeLowerBound") is not None:
        lower = _when(body["TimeRangeLowerBound"], "TimeRangeLowerBound")
        chosen = [b for b in chosen if _aware(b.creation_date_time) >= lower]
    if body.get("TimeRangeUpperBound") is not None:
        upper = _when(body["TimeRangeUpperBound"], "TimeRangeUpperBound")
        chosen = [b for b in chosen if _aware(b.creation_date_time) < upper]
    chosen.sort(key=lambda b: (_aware(b.creation_date_time), b.arn))
    start = body.get("ExclusiveStartBackupArn")
    if start:
        arns = [b.arn for b in chosen]
        chosen = chosen[arns.index(start) + 1:] if start in arns else []
    if limit is not None and len(chosen) > limit:
        return chosen[:limit], chosen[limit - 1].arn
    return chosen, None


def _aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)


def install() -> None:
    """Replace moto's ListBackups answer (idempotent)."""
    global _installed
    if _installed:
        return
    from moto.dynamodb.responses import DynamoHandler, DynamoResult

    def list_backups(self: DynamoHandler) -> Any:
        from moto.dynamodb.exceptions import MockValidationException

        try:
            body = self.body
        except (RuntimeError, ValueError, OverflowError) as exc:  # moto's parser: a time out of range, not a number
            raise MockValidationException(f"the request could not be read: {exc}") from None
        if not isinstance(body, dict):
            raise MockValidationException("the request body must be a JSON object")
        page, last = select(list(self.dynamodb_backend.backups.values()), body)
        response: dict[str, Any] = {"BackupSummaries": [b.summary for b in page]}
        if last:
            response["LastEvaluatedBackupArn"] = last
        return DynamoResult(response)

    DynamoHandler.list_backups = list_backups
    _install_system_backup_on_delete()
    _installed = True


def _install_system_backup_on_delete() -> None:
    from moto.dynamodb.models import DynamoDBBackend
    from moto.dynamodb.models.table import Backup

    delete_table = DynamoDBBackend.delete_table

    def delete_with_system_backup(self: DynamoDBBackend, name: str) -> Any:
        table = self.get_table(name)
        pitr = table.continuous_backups.get("PointInTimeRecoveryDescription", {})
        deleted = delete_table(self, name)
        if pitr.get("PointInTimeRecoveryStatus") == "ENABLED":
            backup = Backup(self.account_id, self.region_name, f"{deleted.name}$DeletedTableBackup", deleted, type_="SYSTEM")
            self.backups[backup.arn] = backup
        return deleted

    DynamoDBBackend.delete_table = delete_with_system_backup
