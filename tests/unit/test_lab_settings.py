"""A lab setting that names a DynamoDB table takes only what DynamoDB would accept as one."""

from __future__ import annotations

import pytest

from ops.errors import UsageError
from ops.lab.aws import ddb_application, settings


@pytest.mark.parametrize("bad", ["../x", "ab", "orders table", "x" * 256])
def test_the_application_table_is_a_dynamodb_table_name_or_nothing(bad: str) -> None:
    ddb_application.register()
    with pytest.raises(UsageError, match=r"lab setting ddb_app_table is a DynamoDB table name \(3 to 255"):
        settings.update({ddb_application.APP_TABLE: bad})
    assert settings.get(ddb_application.APP_TABLE) == ""  # refused: unchanged
    # negative controls: a table name, and '' (none), are taken
    try:
        assert settings.update({ddb_application.APP_TABLE: "lab-orders_1.v2"})[ddb_application.APP_TABLE]["value"] == "lab-orders_1.v2"
        assert settings.update({ddb_application.APP_TABLE: ""})[ddb_application.APP_TABLE]["value"] == ""
    finally:
        settings.update({ddb_application.APP_TABLE: ""})
