"""Assumed-role credentials: one AssumeRole per role a run, a session name that says dbops, refreshed before expiry.

STS answers through botocore's Stubber with the shapes of the API reference: the lab's STS hands out an
hour, and a test cannot wait for its refresh window.
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone

import boto3
from botocore.stub import ANY, Stubber

from ops import assume_role

ROLE = "arn:aws:iam::222222222222:role/dbops-read"


def answer(key: str, expires_in: timedelta) -> dict:
    return {"Credentials": {"AccessKeyId": key, "SecretAccessKey": "secret-" + key, "SessionToken": "token-" + key,
                            "Expiration": datetime.now(timezone.utc) + expires_in},
            "AssumedRoleUser": {"AssumedRoleId": "AROA:dbops", "Arn": ROLE.replace(":role/", ":assumed-role/")}}


def test_credentials_are_assumed_once_and_refreshed_before_they_expire(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setattr(assume_role, "_CACHE", {})
    sts = boto3.client("sts", region_name="us-east-1", aws_access_key_id="a", aws_secret_access_key="b")
    stub = Stubber(sts)
    wanted = {"RoleArn": ROLE, "RoleSessionName": ANY, "DurationSeconds": 3600}
    stub.add_response("assume_role", answer("ASIAFIRST0000000", timedelta(minutes=5)), wanted)  # inside botocore's 15-min window
    stub.add_response("assume_role", answer("ASIASECOND000000", timedelta(hours=1)), wanted)
    with stub:
        first = assume_role.assumed_credentials(sts, ROLE, "http://127.0.0.1:1")
        assert assume_role.assumed_credentials(sts, ROLE, "http://127.0.0.1:1") is first, "cached for the run"
        assert first.get_frozen_credentials().access_key == "ASIASECOND000000", "5 minutes left: refreshed before use"
        assert first.get_frozen_credentials().access_key == "ASIASECOND000000", "an hour left: not assumed again"
        stub.assert_no_pending_responses()


def test_session_name_says_dbops_and_fits_sts() -> None:
    name = assume_role.session_name()
    assert name.startswith("dbops-") and 2 <= len(name) <= 64 and re.fullmatch(r"[\w+=,.@-]+", name)
