"""Off the lab, a password goes only over a connection whose server is verified; a proxy has a CA bundle of its own."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.stub import Stubber
from psycopg.conninfo import conninfo_to_dict

from ops.aws import Aws
from ops.errors import ConfigError
from ops.targets import parse_target
from ops.targets.aurora import AuroraTarget

CLUSTER = {"Endpoint": "orders.cluster-x.us-east-1.rds.amazonaws.com", "Port": 5432, "DBClusterIdentifier": "orders"}
SECRET = "arn:aws:secretsmanager:us-east-1:123456789012:secret:orders-master"


class KnownCluster(AuroraTarget):
    def _cluster(self) -> dict[str, Any]:
        return CLUSTER

    def proxy_at(self, host: str) -> None:  # TLS only here: no RDS Proxy at the via endpoint
        return None


def target(tmp_path: Path, tls: bool, proxy: bool, verified_only: bool) -> tuple[AuroraTarget, Stubber]:
    sm = boto3.client("secretsmanager", region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x")
    stub = Stubber(sm)
    aws = Aws(region="us-east-1")
    aws.client = lambda service, region=None: sm  # type: ignore[method-assign]
    rds_bundle, proxy_bundle = tmp_path / "global-bundle.pem", tmp_path / "amazon-root-cas.pem"
    t = KnownCluster(parse_target("aurora:orders"), aws, SECRET, rds_bundle if tls else None, proxy_bundle if proxy else None,
                     verified_only=verified_only, env_name="prod")
    return t, stub


def answer(stub: Stubber) -> None:
    stub.add_response("get_secret_value", {"SecretString": json.dumps({"username": "u", "password": "p"})}, {"SecretId": SECRET})


def test_without_a_ca_bundle_off_the_lab_no_secret_is_even_read(tmp_path: Path) -> None:
    t, stub = target(tmp_path, tls=False, proxy=False, verified_only=True)
    with stub, pytest.raises(ConfigError) as raised:
        t.dsn_for(CLUSTER)
    assert "envs.prod.tls_root_cert is not set" in str(raised.value)
    stub.assert_no_pending_responses()
    # Negative control: the lab (not verified_only) may still only encrypt when it has no bundle.
    lab, stub = target(tmp_path, tls=False, proxy=False, verified_only=False)
    answer(stub)
    with stub:
        assert conninfo_to_dict(lab.dsn_for(CLUSTER))["sslmode"] == "require"


def test_a_via_endpoint_is_verified_against_the_proxy_bundle_and_the_cluster_against_the_rds_bundle(tmp_path: Path) -> None:
    t, stub = target(tmp_path, tls=True, proxy=True, verified_only=True)
    answer(stub)
    answer(stub)
    with stub:
        direct: dict[str, Any] = conninfo_to_dict(t.dsn_for(CLUSTER))
        via: dict[str, Any] = conninfo_to_dict(t.client_endpoint("127.0.0.1:6432").dsn)
    assert (direct["sslmode"], direct["sslrootcert"]) == ("verify-full", str(tmp_path / "global-bundle.pem"))
    assert (via["sslmode"], via["sslrootcert"]) == ("verify-full", str(tmp_path / "amazon-root-cas.pem"))
    assert via["host"] == "127.0.0.1" and via["port"] == "6432"
