"""Creating the tables dbops writes into, when two sessions may create them at the same moment."""

from __future__ import annotations

import psycopg


def create_if_absent(conn: psycopg.Connection, ddl: str) -> None:
    """Run `CREATE TABLE IF NOT EXISTS ...` on an autocommit connection. PostgreSQL looks for the table before
    it takes any lock: of two sessions creating it at once, the one that commits second fails on the catalog's
    unique index (pg_type) instead of finding the table. The table is there then, and running it again is a no-op."""
    try:
        conn.execute(ddl)
    except (psycopg.errors.UniqueViolation, psycopg.errors.DuplicateTable, psycopg.errors.DuplicateObject):
        conn.execute(ddl)
