"""Faults the lab injects for the analytics export's negative controls (`dbops lab etl-fault`).

- bad-rows: 2 % more orders in the seeded dataset (orders.orders) that break its declared rules: status
  'lost' (not an accepted value) and a negative total (out of range); their customers exist (the
  dataset's foreign key holds at the source);
- schema-change: a column added to orders.orders at the source (coupon text), which a frozen contract refuses;
- missing-partition: one partition's files of a table's newest published batch deleted from the lab's S3,
  as a lost prefix or a bad lifecycle rule would;
- heal: the bad rows and the added column removed (a lost partition is healed by the next run).

The orders are the lab's own dataset (`dbops lab seed-orders`): nothing else writes there.
"""

from __future__ import annotations

from typing import Any

KINDS = ("bad-rows", "schema-change", "missing-partition", "heal")
BAD_STATUS = "lost"
BAD_SHARE = 0.02


def bad_rows(dsn: str) -> int:
    import psycopg

    with psycopg.connect(dsn, autocommit=True) as conn:
        n, top = conn.execute("SELECT count(*), coalesce(max(id), 0) FROM orders.orders").fetchone()
        bad = max(1, int(n * BAD_SHARE))
        conn.execute("INSERT INTO orders.orders (id, customer_id, status, total_cents, currency, created_at) "
                     "SELECT %s + i, 1 + i %% 10000, %s, -100, 'EUR', now() FROM generate_series(1, %s) i", (top, BAD_STATUS, bad))
    return bad


def schema_change(dsn: str) -> None:
    import psycopg

    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute("ALTER TABLE orders.orders ADD COLUMN IF NOT EXISTS coupon text")


def heal(dsn: str) -> int:
    import psycopg

    with psycopg.connect(dsn, autocommit=True) as conn:
        removed = conn.execute("DELETE FROM orders.orders WHERE status = %s AND total_cents < 0", (BAD_STATUS,)).rowcount
        conn.execute("ALTER TABLE orders.orders DROP COLUMN IF EXISTS coupon")
    return removed


def missing_partition(s3: Any, bucket: str, manifest: dict[str, Any]) -> tuple[str, int]:
    """Delete the files of the first partition of a published batch; its value and the files deleted."""
    part = manifest.get("partition")
    if not part or not manifest["files"]:
        raise ValueError(f"table {manifest['table']}'s batch {manifest['batch']} is not partitioned")
    first = sorted({f["key"].split(f"{part}=", 1)[1].split("/", 1)[0] for f in manifest["files"]})[0]
    keys = [f["key"] for f in manifest["files"] if f"/{part}={first}/" in f["key"]]
    s3.delete_objects(Bucket=bucket, Delete={"Objects": [{"Key": k} for k in keys]})
    return f"{part}={first}", len(keys)
