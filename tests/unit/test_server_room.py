"""The server's room as a drill judges it: CloudWatch's DatabaseConnections read as the API documents it
(a botocore Stubber: the lab publishes the metric only every 30 s), and the share a proxy may open."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import boto3
import pytest
from botocore.stub import ANY, Stubber

from ops.data import server_room
from ops.errors import CannotRun
from ops.targets.aurora import AuroraTarget

DATA = Path(__file__).parent.parent / "data"


def stubbed_target(response: dict[str, Any]) -> tuple[AuroraTarget, Stubber]:
    cw = boto3.client("cloudwatch", region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x")
    stub = Stubber(cw)
    stub.add_response("get_metric_statistics", response, {
        "Namespace": "AWS/RDS", "MetricName": "DatabaseConnections", "Dimensions": [{"Name": "DBInstanceIdentifier", "Value": "prod-1"}],
        "StartTime": ANY, "EndTime": ANY, "Period": 60, "Statistics": ["Maximum"]})
    target = object.__new__(AuroraTarget)
    target.aws = SimpleNamespace(client=lambda name, **_: cw)  # type: ignore[assignment]
    return target, stub


def recorded() -> dict[str, Any]:
    data = json.loads((DATA / "rds_database_connections.json").read_text())
    data.pop("_source")
    for point in data["Datapoints"]:
        point["Timestamp"] = datetime.fromisoformat(point["Timestamp"].replace("Z", "+00:00"))
    return data


def test_database_connections_is_the_highest_maximum_of_the_last_five_minutes() -> None:
    target, stub = stubbed_target(recorded())
    with stub:
        value, how = target.connections_metric("prod-1")
    stub.assert_no_pending_responses()
    assert value == 431.0 and "prod-1" in how


def test_no_data_point_is_not_measured_never_zero() -> None:
    target, stub = stubbed_target({"Label": "DatabaseConnections", "Datapoints": []})
    with stub:
        value, how = target.connections_metric("prod-1")
    assert value is None and "no data point of prod-1" in how


def room(metric: Any) -> server_room.Room:
    """A server with max_connections 500, 3 reserved and 120 sessions open."""
    return server_room.counted_room(500, 3, 120, "10.0.0.5:5432", metric)


def test_cloudwatch_counts_when_it_sees_more_sessions_than_the_server_answered_and_is_said_when_not_measured() -> None:
    seen = room(lambda: (431.0, "prod-1"))
    assert seen.in_use == 431 and seen.free == int(497 * 0.9) - 431
    assert "pg_stat_activity 120" in seen.in_use_from and "CloudWatch DatabaseConnections 431" in seen.in_use_from
    unread = room(lambda: (None, "no data point of prod-1 in the last 5 minutes"))
    assert unread.in_use == 120 and "CloudWatch DatabaseConnections not measured: no data point" in unread.in_use_from
    assert "not measured" in room(None).in_use_from


def test_a_proxy_may_open_its_percent_of_max_connections_and_is_refused_above_the_room() -> None:
    seen = room(lambda: (431.0, "prod-1"))  # 16 free
    share = server_room.proxy_share(90, "prod-px", 500, 2000)
    assert share.most == 450 and "MaxConnectionsPercent 90%" in share.why
    with pytest.raises(CannotRun, match="may open 450 server connection"):
        server_room.refuse_beyond(share, seen, "prod-px:5432", "lower --clients")
    small = server_room.proxy_share(3, "prod-px", 500, 2000)
    assert small.most == 15 and "may open 15" in server_room.refuse_beyond(small, seen, "prod-px:5432", "lower --clients")
    assert server_room.proxy_share(90, "prod-px", 500, 10).most == 10, "never more than the clients"
