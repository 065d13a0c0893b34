"""Athena in the lab's emulator as the API reference gives it: the JSON 1.1 requests the Terraform
provider sends (X-Amz-Target) and botocore's rest-json requests reach the same workgroups; a missing
workgroup is InvalidRequestException; tags are read back, including through the account-less ARN
provider 3.x builds without an account lookup."""

from __future__ import annotations

import json
import shutil
from typing import Any, Iterator

import pytest
import requests
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from botocore.exceptions import ClientError

from ops.aws import Aws
from ops.lab import lab as lab_core
from ops.lab.aws import emulator
from tests.conftest import Cli, traversable_tmpdir, write_config

ACCOUNT = "123456789012"


@pytest.fixture(scope="module")
def alab() -> Iterator[Cli]:
    """An emulator of its own (no PostgreSQL)."""
    root = traversable_tmpdir("dbops-athena-")
    cli = Cli(write_config(root), root / ".lab")
    lab_core.up(cli.config, lab_core.LabOptions(with_postgres=False), lambda _: None)
    yield cli
    lab_core.down(cli.config, lambda _: None)
    shutil.rmtree(root, ignore_errors=True)


def athena(cli: Cli) -> Any:
    cfg = cli.config
    return Aws.for_env(cfg, cfg.env("lab")).client("athena")


def json11(cli: Cli, operation: str, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
    """One signed JSON 1.1 request (POST /, X-Amz-Target: AmazonAthena.OPERATION), as the Terraform provider sends it."""
    url = emulator.endpoint(cli.lab_dir)
    assert url is not None
    request = AWSRequest(method="POST", url=f"{url}/", data=json.dumps(body),
                         headers={"X-Amz-Target": f"AmazonAthena.{operation}", "Content-Type": "application/x-amz-json-1.1"})
    SigV4Auth(Credentials("testing", "testing"), "athena", "us-east-1").add_auth(request)
    answer = requests.post(f"{url}/", data=request.body, headers=dict(request.headers), timeout=10)
    return answer.status_code, answer.json()


def test_a_workgroup_made_over_json_11_is_read_over_rest_json_and_back(alab: Cli) -> None:
    config = {"EnforceWorkGroupConfiguration": True, "BytesScannedCutoffPerQuery": 1024 ** 3,
              "ResultConfiguration": {"OutputLocation": "s3://lake/athena-results/",
                                      "EncryptionConfiguration": {"EncryptionOption": "SSE_KMS", "KmsKey": "arn:aws:kms:us-east-1:123456789012:key/k"}}}
    status, _ = json11(alab, "CreateWorkGroup", {"Name": "tf-made", "Configuration": config, "Tags": [{"Key": "env", "Value": "lab"}]})
    assert status == 200
    got = athena(alab).get_work_group(WorkGroup="tf-made")["WorkGroup"]["Configuration"]
    assert got["BytesScannedCutoffPerQuery"] == 1024 ** 3 and got["ResultConfiguration"] == config["ResultConfiguration"]
    athena(alab).create_work_group(Name="sdk-made", Configuration={"BytesScannedCutoffPerQuery": 10 * 1024 ** 2})
    status, body = json11(alab, "GetWorkGroup", {"WorkGroup": "sdk-made"})
    assert status == 200 and body["WorkGroup"]["Configuration"]["BytesScannedCutoffPerQuery"] == 10 * 1024 ** 2
    names = {w["Name"] for w in athena(alab).list_work_groups()["WorkGroups"]}
    assert {"primary", "tf-made", "sdk-made"} <= names


def test_a_missing_workgroup_is_invalid_request_on_both_protocols(alab: Cli) -> None:
    status, body = json11(alab, "GetWorkGroup", {"WorkGroup": "never-made"})
    assert (status, body["__type"], body["Message"]) == (400, "InvalidRequestException", "WorkGroup never-made is not found.")
    with pytest.raises(ClientError) as caught:
        athena(alab).get_work_group(WorkGroup="never-made")
    assert caught.value.response["Error"]["Code"] == "InvalidRequestException"
    # Negative control: once made, the same request succeeds, and after its deletion fails again.
    athena(alab).create_work_group(Name="never-made")
    assert json11(alab, "GetWorkGroup", {"WorkGroup": "never-made"})[0] == 200
    assert json11(alab, "DeleteWorkGroup", {"WorkGroup": "never-made", "RecursiveDeleteOption": True})[0] == 200
    assert json11(alab, "GetWorkGroup", {"WorkGroup": "never-made"})[0] == 400


def test_tags_are_read_through_the_account_less_arn_and_an_untagged_workgroup_has_none(alab: Cli) -> None:
    json11(alab, "CreateWorkGroup", {"Name": "tagged", "Tags": [{"Key": "dbops:component", "Value": "analytics-lake"}]})
    for arn in (f"arn:aws:athena:us-east-1:{ACCOUNT}:workgroup/tagged", "arn:aws:athena:us-east-1::workgroup/tagged"):
        status, body = json11(alab, "ListTagsForResource", {"ResourceARN": arn})
        assert (status, body) == (200, {"Tags": [{"Key": "dbops:component", "Value": "analytics-lake"}]}), arn
    status, _ = json11(alab, "TagResource", {"ResourceARN": "arn:aws:athena:us-east-1::workgroup/tagged", "Tags": [{"Key": "env", "Value": "lab"}]})
    assert status == 200
    tags = athena(alab).list_tags_for_resource(ResourceARN=f"arn:aws:athena:us-east-1:{ACCOUNT}:workgroup/tagged")["Tags"]
    assert {t["Key"]: t["Value"] for t in tags} == {"dbops:component": "analytics-lake", "env": "lab"}
    athena(alab).create_work_group(Name="untagged")
    assert json11(alab, "ListTagsForResource", {"ResourceARN": f"arn:aws:athena:us-east-1:{ACCOUNT}:workgroup/untagged"}) == (200, {"Tags": []})
    status, body = json11(alab, "ListTagsForResource", {"ResourceARN": f"arn:aws:athena:us-east-1:{ACCOUNT}:workgroup/gone"})
    assert (status, body["__type"]) == (400, "InvalidRequestException")


def test_update_work_group_changes_and_removes_settings_and_refuses_a_missing_workgroup(alab: Cli) -> None:
    json11(alab, "CreateWorkGroup", {"Name": "capped", "Configuration": {
        "BytesScannedCutoffPerQuery": 1024 ** 3, "ResultConfiguration": {"OutputLocation": "s3://lake/r/",
                                                                      "EncryptionConfiguration": {"EncryptionOption": "SSE_S3"}}}})
    status, _ = json11(alab, "UpdateWorkGroup", {"WorkGroup": "capped", "Description": "lake", "ConfigurationUpdates": {
        "BytesScannedCutoffPerQuery": 2 * 1024 ** 3, "ResultConfigurationUpdates": {"RemoveEncryptionConfiguration": True}}})
    assert status == 200
    got = athena(alab).get_work_group(WorkGroup="capped")["WorkGroup"]
    assert got["Description"] == "lake" and got["Configuration"]["BytesScannedCutoffPerQuery"] == 2 * 1024 ** 3
    assert got["Configuration"]["ResultConfiguration"] == {"OutputLocation": "s3://lake/r/"}
    athena(alab).update_work_group(WorkGroup="capped", State="DISABLED",
                                   ConfigurationUpdates={"RemoveBytesScannedCutoffPerQuery": True})
    got = athena(alab).get_work_group(WorkGroup="capped")["WorkGroup"]
    assert got["State"] == "DISABLED" and "BytesScannedCutoffPerQuery" not in got["Configuration"]
    status, body = json11(alab, "UpdateWorkGroup", {"WorkGroup": "not-there", "Description": "x"})
    assert (status, body["__type"], body["Message"]) == (400, "InvalidRequestException", "WorkGroup not-there is not found.")
