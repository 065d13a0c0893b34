"""Athena's API in the lab's emulator: both of its wire protocols, and the workgroup errors of the API reference.

Athena answers JSON 1.1 requests (`POST /` with `X-Amz-Target: AmazonAthena.OPERATION`, the body
the operation's input), which the Terraform AWS provider sends for aws_athena_workgroup; the
botocore moto reads describes Athena in rest-json only (`POST /workgroups`, `GET
/workgroups/{WorkGroup}`, ...), so moto routed neither: its one URL is `/`, where it looked for a
rest-json operation. Here a JSON 1.1 request is dispatched by its target, and every path of the
rest-json operations reaches moto's Athena, which finds the operation from the path.

Errors, as the API reference documents them (InvalidRequestException, HTTP 400):
- GetWorkGroup of a workgroup that does not exist: "WorkGroup NAME is not found." (moto answered
  200 with a null workgroup, which a client reads as a workgroup with no settings at all).
- ListTagsForResource of an existing workgroup with no tags: an empty list (moto answered the
  "does not exist" error); of a workgroup that does not exist, the error.

UpdateWorkGroup (which moto lacks, and the provider calls when a workgroup's settings change in
place, e.g. its bytes_scanned_cutoff_per_query) applies ConfigurationUpdates field by field: a value
given replaces the setting, a `Remove...` flag set to true deletes it; Description and State too.

Tag operations read an ARN without its account (`arn:aws:athena:REGION::workgroup/NAME`) as the
caller's: that is the ARN provider 3.x builds when it does not look the account up
(`skip_requesting_account_id`, which the lab env sets); on AWS the provider has the account.
Without this, the lab's plan would show the workgroup's tags as changed after every apply.
"""

from __future__ import annotations

import json
import re
from typing import Any, Callable

JSON_TARGET_PREFIX = "AmazonAthena."
_installed = False
_NO_ACCOUNT = re.compile(r"^(arn:[^:]+:athena:[^:]*:):(.*)$")


def with_account(arn: str, account: str) -> str:
    """The ARN with the account filled in when it has none."""
    return _NO_ACCOUNT.sub(lambda m: f"{m.group(1)}{account}:{m.group(2)}", arn)


def _callers_account(method: Callable[[Any], Any]) -> Callable[[Any], Any]:
    def handler(self: Any) -> Any:
        arn = self._get_param("ResourceARN")
        if arn:
            own, read = with_account(arn, self.current_account), self._get_param
            self._get_param = lambda name, if_none=None: own if name == "ResourceARN" else read(name, if_none)
        return method(self)

    return handler


# ConfigurationUpdates (and ResultConfigurationUpdates) fields that set a setting, with the flag that removes it.
_SETTINGS = {"BytesScannedCutoffPerQuery": "RemoveBytesScannedCutoffPerQuery", "EnforceWorkGroupConfiguration": None,
             "PublishCloudWatchMetricsEnabled": None, "RequesterPaysEnabled": None, "EngineVersion": None}
_RESULT_SETTINGS = {"OutputLocation": "RemoveOutputLocation", "EncryptionConfiguration": "RemoveEncryptionConfiguration",
                    "ExpectedBucketOwner": "RemoveExpectedBucketOwner", "AclConfiguration": "RemoveAclConfiguration"}


def _apply(target: dict[str, Any], updates: dict[str, Any], settings: dict[str, str | None]) -> None:
    for key, remove in settings.items():
        if remove and updates.get(remove) is True:
            target.pop(key, None)
        elif key in updates:
            target[key] = updates[key]


def apply_updates(configuration: dict[str, Any], updates: dict[str, Any]) -> None:
    """A workgroup's configuration after UpdateWorkGroup's ConfigurationUpdates."""
    _apply(configuration, updates, _SETTINGS)
    if "ResultConfigurationUpdates" in updates:
        results = configuration.setdefault("ResultConfiguration", {})
        _apply(results, updates["ResultConfigurationUpdates"] or {}, _RESULT_SETTINGS)


def _target(request: Any) -> str | None:
    target = (request.headers.get("X-Amz-Target") or "") if request is not None else ""
    return target[len(JSON_TARGET_PREFIX):] if target.startswith(JSON_TARGET_PREFIX) else None


def install() -> None:
    global _installed
    if _installed:
        return
    from moto.athena import urls
    from moto.athena.responses import AthenaResponse

    # Every rest-json path (/workgroups/NAME, /tags/ARN, /query-executions/ID/results, ...).
    urls.url_paths.setdefault("{0}/(?P<athena_path>.+)$", AthenaResponse.dispatch)

    get_action = AthenaResponse._get_action_from_request

    # moto's Athena reads its parameters from the JSON body (either protocol) and the path's fields
    # (rest-json); only the operation had to be found.
    def _get_action_from_request(self: AthenaResponse, request: Any) -> str:
        return _target(request) or get_action(self, request)

    def get_work_group(self: AthenaResponse) -> Any:
        name = self._get_param("WorkGroup")
        found = self.athena_backend.get_work_group(name)
        if found is None:
            return self.error(f"WorkGroup {name} is not found.", 400)
        return json.dumps({"WorkGroup": found})

    def list_tags_for_resource(self: AthenaResponse) -> Any:
        arn = self._get_param("ResourceARN")
        backend = self.athena_backend
        workgroup = arn.split(":workgroup/", 1)[1] if ":workgroup/" in arn else None
        if workgroup is not None and workgroup not in backend.work_groups:
            return self.error(f"Athena Resource, {arn} Does Not Exist", 400)
        if workgroup is None and not backend.list_tags_for_resource(arn):
            return self.error(f"Athena Resource, {arn} Does Not Exist", 400)
        return json.dumps(backend.list_tags_for_resource(arn) or {"Tags": []})

    def update_work_group(self: AthenaResponse) -> Any:
        name = self._get_param("WorkGroup")
        workgroup = self.athena_backend.work_groups.get(name)
        if workgroup is None:
            return self.error(f"WorkGroup {name} is not found.", 400)
        if self._get_param("Description") is not None:
            workgroup.description = self._get_param("Description")
        if self._get_param("State") is not None:
            workgroup.state = self._get_param("State")
        apply_updates(workgroup.configuration, self._get_param("ConfigurationUpdates") or {})
        return "{}"

    AthenaResponse._get_action_from_request = _get_action_from_request
    AthenaResponse.update_work_group = update_work_group
    AthenaResponse.get_work_group = get_work_group
    AthenaResponse.list_tags_for_resource = _callers_account(list_tags_for_resource)
    AthenaResponse.tag_resource = _callers_account(AthenaResponse.tag_resource)
    AthenaResponse.untag_resource = _callers_account(AthenaResponse.untag_resource)
    _installed = True
