"""Which tables a rerun of a published T leaves alone: a snapshot is skipped whole, and never when a table that is
extracted references it (its reference rule is judged against the same batch)."""

from __future__ import annotations

from ops.etl.config import TableSpec
from ops.etl.run import not_extracted


def spec(name: str, source: str, references: dict[str, str] | None = None) -> TableSpec:
    return TableSpec(name, source, ("id",), {"id": "bigint"}, rules={"references": references} if references else {})


CUSTOMERS = spec("customers", "localpg:lab-pg")
ORDERS = spec("orders", "localpg:lab-pg", {"customer_id": "customers.id"})
EVENTS = spec("events", "dynamodb:events")
CLICKS = spec("clicks", "dynamodb:clicks", {"event_id": "events.id"})


def test_every_table_published_extracts_none() -> None:
    assert not_extracted((CUSTOMERS, ORDERS, EVENTS), {"customers", "orders", "events"}) == {"customers", "orders", "events"}


def test_a_postgresql_source_is_skipped_only_when_all_its_tables_are_published() -> None:
    assert not_extracted((CUSTOMERS, ORDERS, EVENTS), {"customers", "events"}) == {"events"}
    assert not_extracted((CUSTOMERS, ORDERS), set()) == set()


def test_a_published_table_referenced_by_an_extracted_one_is_extracted_with_it() -> None:
    assert not_extracted((EVENTS, CLICKS), {"events"}) == set()
    assert not_extracted((EVENTS, CLICKS), {"clicks"}) == {"clicks"}  # clicks references events; nothing references clicks
    # Extracting events (not published) makes nothing else needed; extracting orders pulls its source's customers.
    assert not_extracted((CUSTOMERS, ORDERS, EVENTS, CLICKS), {"customers", "clicks"}) == {"clicks"}
