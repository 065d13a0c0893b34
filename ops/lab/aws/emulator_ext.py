"""AWS APIs the lab's emulator adds to moto, so the lab's Terraform applies end to end.

moto 5 lacks Budgets' DescribeSubscribersForNotification, which the Terraform AWS provider
calls for aws_budgets_budget. It is implemented here with the request and response shapes of
the AWS API reference and kept in the emulator's memory like everything else it stores.
AWS Backup selections and vault notifications (aws_backup_selection,
aws_backup_vault_notifications) are in ops.lab.aws.backup_selections, backup jobs, recovery
points and restore jobs in ops.lab.aws.backup_jobs.
"""

from __future__ import annotations

import json
import re
from typing import Any

_installed = False


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


def _install_unreadable_requests_are_validation_errors() -> None:
    """A request whose values the service model cannot read (a time out of range, text where a number
    goes) answers 400 ValidationException, as the service does, not a 500 page a client retries."""
    from moto.core.exceptions import JsonRESTError, _RESTError
    from moto.core.responses import BaseResponse

    original = BaseResponse.parse_parameters

    def parse_parameters(self: BaseResponse, request: Any) -> None:
        try:
            original(self, request)
        except (RuntimeError, ValueError, OverflowError, TypeError) as exc:
            message = f"the request could not be read: {exc}"
            if "json" in (request.headers.get("Content-Type") or ""):
                raise JsonRESTError("ValidationException", message) from None
            raise _RESTError("ValidationError", message) from None

    BaseResponse.parse_parameters = parse_parameters


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


# Services moto has no backend for, by the signing name of their requests: answered 501 NotImplemented
# (moto's dispatcher would answer an HTML 500 page, which a client retries and prints).
UNIMPLEMENTED_SERVICES = {"pricing": "the AWS Price List API (pricing)"}
_SIGNING_SERVICE = re.compile(r"Credential=[^/,]+/[^/,]+/[^/,]+/([^/,]+)/aws4_request")


def _install_unimplemented_services() -> None:
    from moto.moto_server.werkzeug_app import DomainDispatcherApplication
    from werkzeug.wrappers import Response

    original = DomainDispatcherApplication.__call__

    def dispatch(self: DomainDispatcherApplication, environ: dict[str, Any], start_response: Any) -> Any:
        signed = _SIGNING_SERVICE.search(environ.get("HTTP_AUTHORIZATION", ""))
        if signed and signed.group(1) in UNIMPLEMENTED_SERVICES:
            answer = Response(not_implemented_body(UNIMPLEMENTED_SERVICES[signed.group(1)]), status=501,
                              headers=NOT_IMPLEMENTED_HEADERS)
            return answer(environ, start_response)
        return original(self, environ, start_response)

    DomainDispatcherApplication.__call__ = dispatch


def install() -> None:
    """Add the missing APIs to moto's responses (idempotent)."""
    global _installed
    if _installed:
        return
    from ops.lab.aws import settings

    _install_explicit_not_implemented()
    _install_unimplemented_services()
    _install_unreadable_requests_are_validation_errors()
    settings.install()
    from ops.lab.aws import api_faults

    api_faults.install()  # wraps the dispatcher above: a delayed or throttled answer is delayed or throttled first
    from ops.lab.aws import service_clock

    service_clock.install()
    from ops.lab.aws import backup_jobs, backup_selections

    backup_selections.install()
    backup_jobs.install()
    _install_budgets()
    # Each lab service below registers its settings and patches the moto backends it extends.
    from ops.lab.aws import aurora

    aurora.install()
    from ops.lab.aws import rds_orderable

    rds_orderable.install()
    from ops.lab.aws import ddb_pitr

    ddb_pitr.install()
    from ops.lab.aws import ddb_export

    ddb_export.install()  # exports read the item history ddb_pitr keeps
    from ops.lab.aws import ddb_heartbeat

    ddb_heartbeat.install()
    from ops.lab.aws import ddb_backups

    ddb_backups.install()
    from ops.lab.aws import ddb_capacity

    ddb_capacity.install()
    from ops.lab.aws import ddb_application

    ddb_application.install()  # the application that shares a table with a drill, and global-table replicas
    from ops.lab.aws import cost_explorer

    cost_explorer.install()
    from ops.lab.aws import s3_policy

    s3_policy.install()  # the estate's TLS-only bucket policies judged as over TLS
    from ops.lab.aws import s3_checksums

    s3_checksums.install()  # an upload whose body does not match its digest header is refused (BadDigest)
    from ops.lab.aws import athena_api

    athena_api.install()  # Athena's JSON 1.1 requests (the Terraform provider's) and its rest-json paths
    from ops.lab.aws import athena_duckdb

    athena_duckdb.install()  # Athena runs its queries on DuckDB over the lab's S3 and Glue
    _installed = True
