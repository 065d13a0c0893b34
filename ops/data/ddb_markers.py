"""Marker items in a DynamoDB table: the rows a restore test judges a table restore by.

A drill writes its markers into the application's table, so they live in a key space the
application does not use, and every write and delete is conditional:

- string key attributes: `dbops-marker#<drill id>#<side>#<seq>`;
- number key attributes: a negative 38-digit integer starting with -9 (the far end of
  DynamoDB's 38-digit precision, derived from the drill id, side and seq);
- binary key attributes: the bytes of the string form.

A marker is put only if no item has its key (`attribute_not_exists`): an application item
is never overwritten, and a collision stops the drill. A marker is deleted only if its
`dbops_marker` attribute names the drill's marker source, so an application item is never
deleted. Markers are found by their keys (BatchGetItem), never by scanning the table: a
production table may hold billions of items and every scan is paid.

Heartbeat items (source `heartbeat`) are rows written once a second by whatever keeps a table
busy — in the lab, its DynamoDB heartbeat — in the same key space, one deterministic key per
epoch second (`dbops-marker#heartbeat#<second>`), so a restore test reads the ones around T by
key. Where nothing writes them (an AWS account), those keys are simply absent.
"""

from __future__ import annotations

import hashlib
import time
from datetime import datetime, timezone
from decimal import Decimal
from typing import Any, Iterator

from ops.data.markers import Marker
from ops.errors import CannotRun
from ops.permissions import declare, need

PREFIX = "dbops-marker#"
SIDES = ("before", "after")
BATCH = 100  # BatchGetItem's limit
HEARTBEAT = "heartbeat"
# Number keys of heartbeat items: -(9e37 + digest * 1e12 + epoch second), 38 digits starting with -9.
_HEARTBEAT_DIGEST = int(hashlib.sha256(HEARTBEAT.encode()).hexdigest(), 16) % 10**25


# Markers are put, read and deleted by key (conditional writes; the table is never scanned).
CALLS = declare(
    "dynamodb.markers",
    need("dynamodb:PutItem", on="dynamodb-table"),
    need("dynamodb:BatchGetItem", on="dynamodb-table"),
    need("dynamodb:DeleteItem", on="dynamodb-table"),
)


def key_for(table: dict[str, Any], drill_id: str, side: str, seq: int) -> dict[str, Any]:
    """The key of marker (drill_id, side, seq) in a table described by DescribeTable."""
    types = {a["AttributeName"]: a["AttributeType"] for a in table["AttributeDefinitions"]}
    text = f"{PREFIX}{drill_id}#{side}#{seq:04d}"
    key: dict[str, Any] = {}
    for k in table["KeySchema"]:
        t = types[k["AttributeName"]]
        if t == "N":
            digest = int(hashlib.sha256(f"{drill_id}#{side}".encode()).hexdigest(), 16) % 10**31
            key[k["AttributeName"]] = {"N": str(-(9 * 10**37 + digest * 10**6 + SIDES.index(side) * 10**4 + seq))}
        elif t == "B":
            key[k["AttributeName"]] = {"B": text.encode()}
        else:
            key[k["AttributeName"]] = {"S": text}
    return key


def heartbeat_key(table: dict[str, Any], second: int) -> dict[str, Any]:
    """The key of the heartbeat item of one epoch second."""
    types = {a["AttributeName"]: a["AttributeType"] for a in table["AttributeDefinitions"]}
    text = f"{PREFIX}{HEARTBEAT}#{second}"
    key: dict[str, Any] = {}
    for k in table["KeySchema"]:
        t = types[k["AttributeName"]]
        if t == "N":
            key[k["AttributeName"]] = {"N": str(-(9 * 10**37 + _HEARTBEAT_DIGEST * 10**12 + second))}
        elif t == "B":
            key[k["AttributeName"]] = {"B": text.encode()}
        else:
            key[k["AttributeName"]] = {"S": text}
    return key


def heartbeat_item(table: dict[str, Any], second: int, written_at: float) -> dict[str, Any]:
    """The heartbeat item of one epoch second, as PutItem takes it."""
    return heartbeat_key(table, second) | {
        "dbops_marker": {"S": HEARTBEAT}, "dbops_seq": {"N": str(second)},
        "dbops_written_at": {"N": f"{written_at:.6f}"}, "dbops_payload": {"S": f"{HEARTBEAT}-{second}-{time.time_ns()}"},
    }


def heartbeat_keys(table: dict[str, Any], t: datetime, window_s: int) -> list[dict[str, Any]]:
    """Keys of the heartbeat items of the seconds within window_s of t."""
    second = int(t.timestamp())
    return [heartbeat_key(table, s) for s in range(second - window_s, second + window_s + 1)]


def source_name(drill_id: str, side: str) -> str:
    return f"{drill_id}:{side}"


def write(ddb: Any, table: dict[str, Any], drill_id: str, side: str, count: int,
          interval_s: float = 0.02) -> dict[tuple[str, int], tuple[float, float]]:
    """Put `count` markers for one side of T; a key that exists already stops the drill, unchanged.

    Returns, per marker (source, seq), the client times between which its PutItem was sent and
    answered: the item was written in between, whatever the client's clock says of the service's."""
    name = table["TableName"]
    hash_key = next(k["AttributeName"] for k in table["KeySchema"] if k["KeyType"] == "HASH")
    spans: dict[tuple[str, int], tuple[float, float]] = {}
    for seq in range(1, count + 1):
        sent = time.time()
        item = key_for(table, drill_id, side, seq) | {
            "dbops_marker": {"S": source_name(drill_id, side)}, "dbops_seq": {"N": str(seq)},
            "dbops_written_at": {"N": f"{sent:.6f}"}, "dbops_payload": {"S": f"{drill_id}-{side}-{seq}-{time.time_ns()}"},
        }
        try:
            ddb.put_item(TableName=name, Item=item, ConditionExpression="attribute_not_exists(#k)",
                         ExpressionAttributeNames={"#k": hash_key})
            spans[(source_name(drill_id, side), seq)] = (sent, time.time())
        except ddb.exceptions.ConditionalCheckFailedException:
            raise CannotRun(f"marker key {item[hash_key]} already exists in {name}: an item in the drill's key space "
                            "that the drill did not write; nothing was overwritten, the drill stops") from None
        if interval_s:
            time.sleep(interval_s)
    return spans


def keys(table: dict[str, Any], drill_id: str, count: int, sides: tuple[str, ...] = SIDES) -> list[dict[str, Any]]:
    return [key_for(table, drill_id, side, seq) for side in sides for seq in range(1, count + 1)]


def _batches(items: list[Any], size: int) -> Iterator[list[Any]]:
    for i in range(0, len(items), size):
        yield items[i : i + size]


def read(ddb: Any, table_name: str, wanted: list[dict[str, Any]], drill_id: str, consistent: bool = True) -> list[Marker]:
    """The drill's markers and heartbeat items among `wanted` keys that exist in table_name
    (BatchGetItem, unprocessed keys retried)."""
    out: list[Marker] = []
    for batch in _batches(wanted, BATCH):
        request: dict[str, Any] = {table_name: {"Keys": batch, "ConsistentRead": consistent}}
        for attempt in range(8):
            answer = ddb.batch_get_item(RequestItems=request)
            for item in answer.get("Responses", {}).get(table_name, []):
                source = item.get("dbops_marker", {}).get("S", "")
                if source.split(":", 1)[0] == drill_id or source == HEARTBEAT:
                    out.append(Marker(source, int(item["dbops_seq"]["N"]),
                                      datetime.fromtimestamp(float(Decimal(item["dbops_written_at"]["N"])), timezone.utc),
                                      item["dbops_payload"]["S"]))
            request = answer.get("UnprocessedKeys") or {}
            if not request:
                break
            time.sleep(min(2.0, 0.05 * 2**attempt))
        else:
            raise CannotRun(f"{table_name}: BatchGetItem left keys unprocessed after 8 attempts (throttled?)")
    return sorted(out, key=Marker.key)


def remove(ddb: Any, table: dict[str, Any], drill_id: str, count: int) -> int:
    """Delete this drill's markers; an item that is not one of them is left alone. Returns the count deleted."""
    deleted = 0
    for side in SIDES:
        for seq in range(1, count + 1):
            try:
                ddb.delete_item(TableName=table["TableName"], Key=key_for(table, drill_id, side, seq),
                                ConditionExpression="dbops_marker = :m",
                                ExpressionAttributeValues={":m": {"S": source_name(drill_id, side)}})
                deleted += 1
            except ddb.exceptions.ConditionalCheckFailedException:
                pass  # not there, or not ours
    return deleted
