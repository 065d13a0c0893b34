"""AWS Backup selections and vault notifications for the lab's emulator, and which resources a
selection covers.

moto 5 lacks CreateBackupSelection, GetBackupSelection, DeleteBackupSelection,
ListBackupSelections and the vault notification APIs, which the Terraform AWS provider calls
for aws_backup_selection and aws_backup_vault_notifications. They are implemented here with
the request and response shapes of the AWS API reference and kept in the emulator's memory
like everything else it stores.

`selects` decides whether a selection covers a resource as AWS Backup does (BackupSelection in
the API reference): a resource is selected when its ARN matches one of `Resources` (wildcards
allowed) or its tags match one of `ListOfTags` (STRINGEQUALS, any one suffices); every one of
`Conditions` must hold as well (alone, they select among all resources); `NotResources`
excludes.
"""

from __future__ import annotations

import fnmatch
import json
import time
import uuid
from typing import Any

TAG_KEY_PREFIX = "aws:ResourceTag/"


def state(backend: Any) -> tuple[dict[str, dict[str, Any]], dict[str, dict[str, Any]]]:
    """The selections (by id) and vault notifications (by vault name) of one Backup backend."""
    if not hasattr(backend, "dbops_selections"):
        backend.dbops_selections = {}
        backend.dbops_vault_notifications = {}
    return backend.dbops_selections, backend.dbops_vault_notifications


def _arn_matches(patterns: list[str], arn: str) -> bool:
    return any(p == "*" or fnmatch.fnmatchcase(arn, p) for p in patterns)


def _condition_holds(kind: str, condition: dict[str, str], tags: dict[str, str]) -> bool:
    key = condition.get("ConditionKey", "")
    key = key[len(TAG_KEY_PREFIX):] if key.startswith(TAG_KEY_PREFIX) else key
    value, wanted = tags.get(key), condition.get("ConditionValue", "")
    if kind == "StringEquals":
        return value == wanted
    if kind == "StringNotEquals":
        return value != wanted
    if kind == "StringLike":
        return value is not None and fnmatch.fnmatchcase(value, wanted)
    if kind == "StringNotLike":
        return value is None or not fnmatch.fnmatchcase(value, wanted)
    return False


def selects(selection: dict[str, Any], arn: str, tags: dict[str, str]) -> bool:
    """Whether a BackupSelection (as given to CreateBackupSelection) covers the resource."""
    resources = selection.get("Resources") or []
    list_of_tags = selection.get("ListOfTags") or []
    conditions = selection.get("Conditions") or {}
    by_arn = _arn_matches(resources, arn)
    by_tag = any(t.get("ConditionType", "STRINGEQUALS") == "STRINGEQUALS" and tags.get(t.get("ConditionKey", "")) == t.get("ConditionValue")
                 for t in list_of_tags)
    chosen = by_arn or by_tag or (not resources and not list_of_tags and any(conditions.values()))
    if not chosen:
        return False
    for kind, items in conditions.items():
        if not all(_condition_holds(kind, c, tags) for c in items or []):
            return False
    return not _arn_matches(selection.get("NotResources") or [], arn)


def install() -> None:
    from moto.backup import urls
    from moto.backup.exceptions import ResourceNotFoundException
    from moto.backup.responses import BackupResponse

    urls.url_paths["{0}/backup-vaults/(?P<name>[^/]+)/notification-configuration$"] = BackupResponse.dispatch

    def _plan_and_selection(self: BackupResponse) -> tuple[str, str | None]:
        parts = self.path.split("/plans/", 1)[1].strip("/").split("/")
        return parts[0], (parts[2] if len(parts) > 2 else None)

    def create_backup_selection(self: BackupResponse) -> str:
        plan_id, _ = _plan_and_selection(self)
        self.backup_backend.get_backup_plan(backup_plan_id=plan_id, version_id=None)  # 404 for an unknown plan
        params = json.loads(self.body)
        selections, _ = state(self.backup_backend)
        selection_id = str(uuid.uuid4())
        selections[selection_id] = {
            "BackupPlanId": plan_id,
            "SelectionId": selection_id,
            "BackupSelection": params["BackupSelection"],
            "CreationDate": time.time(),
            "CreatorRequestId": params.get("CreatorRequestId"),
        }
        return json.dumps({"SelectionId": selection_id, "BackupPlanId": plan_id, "CreationDate": selections[selection_id]["CreationDate"]})

    def get_backup_selection(self: BackupResponse) -> str:
        plan_id, selection_id = _plan_and_selection(self)
        selections, _ = state(self.backup_backend)
        found = selections.get(selection_id or "")
        if not found or found["BackupPlanId"] != plan_id:
            raise ResourceNotFoundException(msg=f"Selection {selection_id} not found in plan {plan_id}")
        return json.dumps(found)

    def delete_backup_selection(self: BackupResponse) -> str:
        plan_id, selection_id = _plan_and_selection(self)
        selections, _ = state(self.backup_backend)
        if selections.get(selection_id or "", {}).get("BackupPlanId") != plan_id:
            raise ResourceNotFoundException(msg=f"Selection {selection_id} not found in plan {plan_id}")
        del selections[selection_id]  # type: ignore[arg-type]
        return "{}"

    def list_backup_selections(self: BackupResponse) -> str:
        plan_id, _ = _plan_and_selection(self)
        selections, _ = state(self.backup_backend)
        rows = [
            {
                "SelectionId": s["SelectionId"],
                "SelectionName": s["BackupSelection"]["SelectionName"],
                "BackupPlanId": plan_id,
                "CreationDate": s["CreationDate"],
                "CreatorRequestId": s["CreatorRequestId"],
                "IamRoleArn": s["BackupSelection"]["IamRoleArn"],
            }
            for s in selections.values()
            if s["BackupPlanId"] == plan_id
        ]
        return json.dumps({"BackupSelectionsList": rows})

    def _vault(self: BackupResponse) -> Any:
        name = self.path.split("/backup-vaults/", 1)[1].split("/")[0]
        vault = self.backup_backend.vaults.get(name)
        if vault is None:
            raise ResourceNotFoundException(msg=f"Backup vault {name} not found")
        return vault

    def put_backup_vault_notifications(self: BackupResponse) -> str:
        vault = _vault(self)
        params = json.loads(self.body)
        _, notes = state(self.backup_backend)
        notes[vault.backup_vault_name] = {"SNSTopicArn": params["SNSTopicArn"], "BackupVaultEvents": params["BackupVaultEvents"]}
        return "{}"

    def get_backup_vault_notifications(self: BackupResponse) -> str:
        vault = _vault(self)
        _, notes = state(self.backup_backend)
        if vault.backup_vault_name not in notes:
            raise ResourceNotFoundException(msg=f"No notifications for backup vault {vault.backup_vault_name}")
        return json.dumps({"BackupVaultName": vault.backup_vault_name, "BackupVaultArn": vault.backup_vault_arn,
                           **notes[vault.backup_vault_name]})

    def delete_backup_vault_notifications(self: BackupResponse) -> str:
        vault = _vault(self)
        _, notes = state(self.backup_backend)
        notes.pop(vault.backup_vault_name, None)
        return "{}"

    for fn in (create_backup_selection, get_backup_selection, delete_backup_selection, list_backup_selections,
               put_backup_vault_notifications, get_backup_vault_notifications, delete_backup_vault_notifications):
        setattr(BackupResponse, fn.__name__, fn)
