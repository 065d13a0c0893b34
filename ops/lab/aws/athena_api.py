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
"""

from __future__ import annotations

import json
from typing import Any

JSON_TARGET_PREFIX = "AmazonAthena."
_installed = False


def _target(request: Any) -> str | None:
    target = (request.headers.get("X-Amz-Target") or "") if request is not None else ""
    return target[len(JSON_TARGET_PREFIX):] if target.startswith(JSON_TARGET_PREFIX) else None


def install() -> None:
    global _installed
    if _installed:
        return
    from moto.athena import urls
    from moto.core.exceptions import JsonRESTError
    from moto.athena.responses import AthenaResponse

    # Every rest-json path (/workgroups/NAME, /tags/ARN, /query-executions/ID/results, ...).
    urls.url_paths.setdefault("{0}/(?P<athena_path>.+)$", AthenaResponse.dispatch)

    get_action = AthenaResponse._get_action_from_request
    parse = AthenaResponse.parse_parameters

    def _get_action_from_request(self: AthenaResponse, request: Any) -> str:
        return _target(request) or get_action(self, request)

    def parse_parameters(self: AthenaResponse, request: Any) -> None:
        if _target(request) is None:
            return parse(self, request)
        try:
            self.params = json.loads(request.data or b"{}")  # JSON 1.1: the body is the operation's input
        except ValueError as exc:
            raise JsonRESTError("SerializationException", f"the request body is not JSON: {exc}") from None
        return None

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

    AthenaResponse._get_action_from_request = _get_action_from_request
    AthenaResponse.parse_parameters = parse_parameters
    AthenaResponse.get_work_group = get_work_group
    AthenaResponse.list_tags_for_resource = list_tags_for_resource
    _installed = True
