"""The one way the export opens DuckDB: in process, loading no extension (no network at run time), and reading
time in UTC as Athena does. DuckDB's session time zone is otherwise the machine's: a cast of a timestamp to a
date, or a timestamp literal, would answer differently in a shell with another TZ."""

from __future__ import annotations

from typing import Any


def connect(**settings: Any) -> Any:
    import duckdb

    con = duckdb.connect(":memory:", config={"autoload_known_extensions": False, "autoinstall_known_extensions": False,
                                             **settings})
    con.execute("SET TimeZone='UTC'")
    return con
