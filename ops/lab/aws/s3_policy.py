"""Bucket policies in the lab's S3: a statement conditioned on aws:SecureTransport is judged as over TLS.

moto evaluates a bucket policy's statements without their conditions, so the estate's TLS-only statement
(Deny s3:* when aws:SecureTransport is false: terraform/modules/analytics-lake) denies every request the lab
serves, where on AWS it denies only plain-HTTP ones. The lab stands for AWS reached over HTTPS: a statement whose
only condition is aws:SecureTransport applies when its value is "true" and is left out when it is "false".
Statements with other conditions keep moto's evaluation.
"""

from __future__ import annotations

import json
from typing import Any

_installed = False


def over_tls(policy: dict[str, Any]) -> dict[str, Any]:
    """The policy as it applies to a request made over TLS, for statements conditioned on aws:SecureTransport only."""
    kept = []
    for statement in policy.get("Statement", []):
        condition = statement.get("Condition") or {}
        secure = {k.lower(): v for k, v in (condition.get("Bool") or {}).items()}.get("aws:securetransport")
        if set(condition) == {"Bool"} and len(condition["Bool"]) == 1 and secure is not None:
            if str(secure).lower() == "false":
                continue  # applies to plain HTTP only
            statement = {k: v for k, v in statement.items() if k != "Condition"}
        kept.append(statement)
    return dict(policy, Statement=kept)


def install() -> None:
    global _installed
    if _installed:
        return
    from moto.iam.access_control import IAMPolicy, PermissionResult
    from moto.s3.models import FakeBucket

    def get_permission(self: FakeBucket, action: str, resource: str) -> Any:
        if self.policy is None:
            return PermissionResult.NEUTRAL
        policy = over_tls(json.loads(self.policy.decode()))
        if not policy["Statement"]:
            return PermissionResult.NEUTRAL
        return IAMPolicy(json.dumps(policy)).is_action_permitted(action, resource)

    FakeBucket.get_permission = get_permission
    _installed = True
