"""AWS APIs the lab's emulator adds to moto, so the lab's Terraform applies end to end.

moto 5 lacks AWS Backup selections and vault notifications and Budgets'
DescribeSubscribersForNotification, which the Terraform AWS provider calls for
aws_backup_selection, aws_backup_vault_notifications and aws_budgets_budget. They are
implemented here with the request and response shapes of the AWS API reference and kept
in the emulator's memory like everything else it stores.
"""

from __future__ import annotations

import json
import time
import uuid
from typing import Any

_installed = False


def _backup_state(backend: Any) -> tuple[dict[str, dict[str, Any]], dict[str, dict[str, Any]]]:
    if not hasattr(backend, "dbops_selections"):
        backend.dbops_selections = {}
        backend.dbops_vault_notifications = {}
    return backend.dbops_selections, backend.dbops_vault_notifications


def _install_backup() -> None:
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
        selections, _ = _backup_state(self.backup_backend)
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
        selections, _ = _backup_state(self.backup_backend)
        found = selections.get(selection_id or "")
        if not found or found["BackupPlanId"] != plan_id:
            raise ResourceNotFoundException(msg=f"Selection {selection_id} not found in plan {plan_id}")
        return json.dumps(found)

    def delete_backup_selection(self: BackupResponse) -> str:
        plan_id, selection_id = _plan_and_selection(self)
        selections, _ = _backup_state(self.backup_backend)
        if selections.get(selection_id or "", {}).get("BackupPlanId") != plan_id:
            raise ResourceNotFoundException(msg=f"Selection {selection_id} not found in plan {plan_id}")
        del selections[selection_id]  # type: ignore[arg-type]
        return "{}"

    def list_backup_selections(self: BackupResponse) -> str:
        plan_id, _ = _plan_and_selection(self)
        selections, _ = _backup_state(self.backup_backend)
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
        _, notes = _backup_state(self.backup_backend)
        notes[vault.backup_vault_name] = {"SNSTopicArn": params["SNSTopicArn"], "BackupVaultEvents": params["BackupVaultEvents"]}
        return "{}"

    def get_backup_vault_notifications(self: BackupResponse) -> str:
        vault = _vault(self)
        _, notes = _backup_state(self.backup_backend)
        if vault.backup_vault_name not in notes:
            raise ResourceNotFoundException(msg=f"No notifications for backup vault {vault.backup_vault_name}")
        return json.dumps({"BackupVaultName": vault.backup_vault_name, "BackupVaultArn": vault.backup_vault_arn,
                           **notes[vault.backup_vault_name]})

    def delete_backup_vault_notifications(self: BackupResponse) -> str:
        vault = _vault(self)
        _, notes = _backup_state(self.backup_backend)
        notes.pop(vault.backup_vault_name, None)
        return "{}"

    for fn in (create_backup_selection, get_backup_selection, delete_backup_selection, list_backup_selections,
               put_backup_vault_notifications, get_backup_vault_notifications, delete_backup_vault_notifications):
        setattr(BackupResponse, fn.__name__, fn)


def _install_budgets() -> None:
    from moto.budgets.exceptions import NotFoundException
    from moto.budgets.responses import BudgetsResponse

    def describe_subscribers_for_notification(self: BudgetsResponse) -> str:
        account_id = self._get_param("AccountId")
        budget_name = self._get_param("BudgetName")
        wanted = self._get_param("Notification")
        budget = self.backend.budgets.get(account_id, {}).get(budget_name)
        if budget is None:
            raise NotFoundException(f"Unable to get budget: {budget_name} - the budget doesn't exist.")
        for n in budget.notifications:
            if all(n.details.get(k) == v for k, v in wanted.items()):
                return json.dumps({"Subscribers": n.subscribers})
        raise NotFoundException("Unable to find notification")

    BudgetsResponse.describe_subscribers_for_notification = describe_subscribers_for_notification


NOT_IMPLEMENTED_HEADERS = {"Content-Type": "application/json", "x-amzn-ErrorType": "NotImplemented"}


def not_implemented_body(what: str) -> str:
    return json.dumps({"__type": "NotImplemented", "message": f"{what} is not implemented by the dbops lab emulator"})


def _install_explicit_not_implemented() -> None:
    """An API the emulator lacks answers HTTP 501 NotImplemented, as the service answers an
    unknown operation — not a 404 page or a 500 crash, which a client must take for errors."""
    from moto.core.responses import BaseResponse

    original = BaseResponse.call_action

    def call_action(self: BaseResponse):  # type: ignore[no-untyped-def]
        try:
            status, headers, body = original(self)
        except NotImplementedError as exc:
            return 501, dict(NOT_IMPLEMENTED_HEADERS), not_implemented_body(str(exc).replace("The ", "", 1))
        if status == 404 and not body:  # moto found no action for the request
            return 501, dict(NOT_IMPLEMENTED_HEADERS), not_implemented_body(f"{self.method} {self.path}")
        return status, headers, body

    BaseResponse.call_action = call_action

    import moto.server
    from moto.moto_server import werkzeug_app

    create = werkzeug_app.create_backend_app

    def create_backend_app(service):  # type: ignore[no-untyped-def]
        app = create(service)
        # A request no route of the service matches is an operation the emulator lacks.
        app.register_error_handler(404, lambda exc: (not_implemented_body(f"this {service} operation"), 501, NOT_IMPLEMENTED_HEADERS))
        return app

    moto.server.create_backend_app = create_backend_app
    werkzeug_app.create_backend_app = create_backend_app


def install() -> None:
    """Add the missing APIs to moto's responses (idempotent)."""
    global _installed
    if _installed:
        return
    from ops.lab import settings

    _install_explicit_not_implemented()
    settings.install()
    _install_backup()
    _install_budgets()
    # Each lab service below registers its settings and patches the moto backends it extends.
    from ops.lab import aurora

    aurora.install()
    from ops.lab import ddb_pitr

    ddb_pitr.install()
    _installed = True
