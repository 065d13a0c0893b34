"""A pipeline's destination as dbops.toml declares it: the KMS key its DynamoDB exports are written under."""

from __future__ import annotations

from typing import Any

import pytest

from ops.errors import UsageError
from ops.etl.config import parse

KEY_ID = "1234abcd-12ab-34cd-56ef-1234567890ab"


def declared(**destination: Any) -> dict[str, Any]:
    return {"destination": {"bucket": "lake", "prefix": "events", "database": "lake_db", **destination},
            "tables": {"events": {"source": "dynamodb:events", "key": ["pk"], "columns": {"pk": "string"}}}}


@pytest.mark.parametrize("key", [KEY_ID, f"arn:aws:kms:eu-west-1:123456789012:key/{KEY_ID}", "alias/dbops-lake",
                                 "arn:aws:kms:eu-west-1:123456789012:alias/dbops-lake",
                                 "mrk-1234abcd12ab34cd56ef1234567890ab"])
def test_a_kms_key_in_any_form_kms_accepts_is_the_destinations(key: str) -> None:
    assert parse("events", declared(kms_key=key), "dbops.toml").destination.kms_key == key


def test_no_kms_key_leaves_the_services_default() -> None:
    assert parse("events", declared(), "dbops.toml").destination.kms_key is None


@pytest.mark.parametrize("key", ["", "aws:kms", "key/not-a-key", 42, f"arn:aws:s3:::bucket/{KEY_ID}", "-" * 36,
                                 KEY_ID.replace("-", ""), "mrk-" + "-" * 32])
def test_a_kms_key_that_is_not_one_is_refused_naming_the_key(key: Any) -> None:
    with pytest.raises(UsageError, match="pipelines.events.destination.kms_key must be a KMS key"):
        parse("events", declared(kms_key=key), "dbops.toml")
