"""The bounds of an answer (ops.query.answer): values cut with a marker, rows and bytes bounded, rows fetched in
small batches so a result of huge rows is never fetched whole."""

from __future__ import annotations

import base64
import json

from ops.query.answer import MAX_ANSWER_BYTES, MAX_VALUE_BYTES, cut, take


class Cursor:
    """A cursor over rows made on demand, counting the rows it handed out."""

    def __init__(self, rows: int, value: object) -> None:
        self.left, self.value, self.served, self.asks = rows, value, 0, []

    def fetchmany(self, n: int) -> list[tuple[object]]:
        self.asks.append(n)
        n = min(n, self.left)
        self.left -= n
        self.served += n
        return [(self.value,)] * n


def test_a_long_text_is_cut_at_the_cap_with_a_marker_naming_its_size() -> None:
    value, size, was_cut = cut("é" * 10_000)
    assert was_cut and size == 20_000 and value.endswith("… [value cut: 20000 bytes]")
    assert len(value.split("…")[0].encode()) <= MAX_VALUE_BYTES
    assert cut("x" * MAX_VALUE_BYTES) == ("x" * MAX_VALUE_BYTES, MAX_VALUE_BYTES, False)


def test_bytes_and_documents_over_the_cap_are_cut_too() -> None:
    raw, size, was_cut = cut(b"\x00" * 10_000)
    assert was_cut and size == 10_000 and raw["cut_from_bytes"] == 10_000
    assert base64.b64decode(raw["base64"]) == b"\x00" * MAX_VALUE_BYTES
    doc, _, was_cut = cut({"k": ["v" * 9000]})
    assert was_cut and isinstance(doc, str) and doc.startswith('{"k": ["vvv')
    assert cut({"k": 1}) == ({"k": 1}, len(json.dumps({"k": 1})), False)


def test_huge_rows_stop_the_fetch_after_the_byte_bound() -> None:
    cur = Cursor(10, "x" * 20_000_000)
    taken = take(cur.fetchmany, 500)
    assert taken.truncated_by == "byte_limit" and len(taken.rows) == 1 and taken.values_cut == 1
    assert cur.served == 2  # the row kept, and one to know there were more: not the ten


def test_many_small_rows_stop_near_the_byte_bound() -> None:
    cur = Cursor(400, "y" * 4000)
    taken = take(cur.fetchmany, 500)
    kept = sum(len(r[0]) for r in taken.rows)
    assert taken.truncated_by == "byte_limit" and MAX_ANSWER_BYTES <= kept < MAX_ANSWER_BYTES + 4000
    assert cur.served < 400 and max(cur.asks) <= 64


def test_the_row_limit_asks_one_more_row_and_says_so() -> None:
    cur = Cursor(50, 1)
    taken = take(cur.fetchmany, 10)
    assert len(taken.rows) == 10 and taken.truncated_by == "row_limit" and cur.served == 11
    whole = take(Cursor(10, 1).fetchmany, 10)
    assert len(whole.rows) == 10 and whole.truncated_by is None


def test_an_answer_ending_right_at_the_byte_bound_is_not_called_truncated() -> None:
    taken = take(Cursor(1, "z" * MAX_ANSWER_BYTES).fetchmany, 10)
    assert len(taken.rows) == 1 and taken.truncated_by is None
