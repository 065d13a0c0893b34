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


def proxy_metric_stub(response: dict[str, Any]) -> tuple[AuroraTarget, Stubber]:
    """DatabaseConnectionsCurrentlyInUse of an RDS Proxy, asked as the RDS user guide documents it: namespace
    AWS/RDS, dimension set ProxyName, one-minute periods summed over the proxy's instances."""
    cw = boto3.client("cloudwatch", region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x")
    stub = Stubber(cw)
    stub.add_response("get_metric_statistics", response, {
        "Namespace": "AWS/RDS", "MetricName": "DatabaseConnectionsCurrentlyInUse", "Dimensions": [{"Name": "ProxyName", "Value": "prod-px"}],
        "StartTime": ANY, "EndTime": ANY, "Period": 60, "Statistics": ["Sum"]})
    target = object.__new__(AuroraTarget)
    target.aws = SimpleNamespace(client=lambda name, **_: cw)  # type: ignore[assignment]
    return target, stub


def in_use(*sums: float) -> dict[str, Any]:
    return {"Label": "DatabaseConnectionsCurrentlyInUse",
            "Datapoints": [{"Timestamp": datetime(2026, 12, 6, 18, i), "Sum": s, "Unit": "Count"} for i, s in enumerate(sums)]}


def test_through_rds_proxy_the_drill_must_fit_in_the_proxys_free_pool_not_only_the_servers_room() -> None:
    """MaxConnectionsPercent 50 of max_connections 1000: the proxy may open 500. It holds 400 for the application;
    the server has room for 100 more, but a drill of 100 clients would take the proxy to its limit and leave the
    application's clients of the proxy waiting for a connection."""
    server = server_room.counted_room(1000, 3, 400, "10.0.0.5:5432", lambda: (400.0, "prod-1"))  # 897 * 0.9 - 400 = 497 free
    share = server_room.proxy_share(50, "prod-px", 1000, 100)
    assert "may open 100" in server_room.refuse_beyond(share, server, "prod-px:5432", "lower --clients"), "the server has room"
    target, stub = proxy_metric_stub(in_use(380.0, 400.0, 395.0))
    with stub:
        pool = server_room.proxy_pool(50, "prod-px", 1000, lambda: target.proxy_connections_metric("prod-px"))
    stub.assert_no_pending_responses()
    assert (pool.limit, pool.in_use, pool.free) == (500, 400, 100)
    assert "may take 100" in server_room.refuse_beyond_pool(share, pool, "prod-px:5432", "lower --clients")  # exactly fits
    busier = server_room.proxy_pool(50, "prod-px", 1000, lambda: (430.0, "prod-px"))
    with pytest.raises(CannotRun, match=r"may take 100 of RDS Proxy prod-px's pool of 500: 430 in use .* 70 free: "
                                         r"the proxy's other clients \(the application's\) would wait"):
        server_room.refuse_beyond_pool(share, busier, "prod-px:5432", "lower --clients")


def test_a_proxy_pool_whose_use_is_not_published_is_not_measured_and_refused() -> None:
    target, stub = proxy_metric_stub({"Label": "DatabaseConnectionsCurrentlyInUse", "Datapoints": []})
    with stub:
        pool = server_room.proxy_pool(50, "prod-px", 1000, lambda: target.proxy_connections_metric("prod-px"))
    assert pool.in_use is None and pool.free is None and "no data point of proxy prod-px" in pool.in_use_from
    with pytest.raises(CannotRun) as exc:
        server_room.refuse_beyond_pool(server_room.proxy_share(50, "prod-px", 1000, 10), pool, "prod-px:5432", "or pass --allow-exhaustion")
    assert "not measured" in str(exc.value) and "\n" not in str(exc.value) and "--allow-exhaustion" in str(exc.value)
    assert server_room.proxy_pool(50, "prod-px", 1000, None).in_use is None, "no reader of the metric: not measured, never 0"


def test_the_connections_preflight_through_a_proxy_refuses_what_the_pool_cannot_take(monkeypatch: pytest.MonkeyPatch) -> None:
    """The drill's own preflight applies both bounds (the server's room read here as a real drill would, faked to
    the example's figures) and --allow-exhaustion still runs it, saying what it found."""
    from ops.drills import connections
    from ops.targets.base import ClientEndpoint

    server = server_room.counted_room(1000, 3, 400, "10.0.0.5:5432", None)
    monkeypatch.setattr(server_room, "read_room", lambda dsn, label, metric: (server, "10.0.0.9", 5432))
    monkeypatch.setattr(connections, "_dialled_the_server", lambda dsn, addr, port: False)

    def endpoint(held: tuple[float | None, str]) -> ClientEndpoint:
        return ClientEndpoint("host=prod-px port=5432", "prod-px:5432", None, ("prod-px", 50.0), None, lambda: held)

    with pytest.raises(CannotRun, match="430 in use"):
        connections.preflight(endpoint((430.0, "prod-px")), 100, allow_exhaustion=False, via="prod-px:5432")
    with pytest.raises(CannotRun, match="not measured"):
        connections.preflight(endpoint((None, "no data point")), 100, allow_exhaustion=False, via="prod-px:5432")
    fits = connections.preflight(endpoint((300.0, "prod-px")), 100, allow_exhaustion=False, via="prod-px:5432")
    assert "300 in use" in fits and "200 free" in fits  # negative control: room in the pool, the drill runs
    forced = connections.preflight(endpoint((None, "no data point")), 100, allow_exhaustion=True, via="prod-px:5432")
    assert forced.startswith("--allow-exhaustion") and "use not measured" in forced
