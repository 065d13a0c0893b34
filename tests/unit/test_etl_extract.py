"""The COPY stream the extract hands pyarrow: COPY's one-row messages arrive as full reads, byte for byte."""

from __future__ import annotations

from ops.etl.extract_pg import _CopyStream

ROWS = [f"{i},{i % 7},status-{i % 3}\n".encode() for i in range(10_000)]


def test_a_read_is_filled_from_many_rows_not_one_row_per_read() -> None:
    stream = _CopyStream(memoryview(r) for r in ROWS)
    first = stream.read(64 << 10)
    assert len(first) == 64 << 10  # hundreds of rows in one read


def test_the_stream_carries_every_byte_in_order_across_read_boundaries() -> None:
    stream = _CopyStream(memoryview(r) for r in ROWS)
    parts = []
    while chunk := stream.read(1000):  # a size no row boundary lines up with
        assert len(chunk) <= 1000
        parts.append(chunk)
    assert b"".join(parts) == b"".join(ROWS)
    assert stream.read(1000) == b""


def test_an_empty_copy_is_an_empty_stream() -> None:
    assert _CopyStream(iter(())).read(4096) == b""


def test_utc_timestamps_parsed_without_a_zone_are_the_same_instants_as_a_cast_gives() -> None:
    from datetime import datetime

    import pyarrow as pa

    from ops.etl.extract_pg import _as

    parsed = pa.array([datetime(2024, 1, 1, 12, 30, 1, 5), None, datetime(1969, 12, 31, 23, 59, 59, 999999)], pa.timestamp("us"))
    utc = pa.timestamp("us", tz="UTC")
    assert _as(parsed, utc).type == utc
    assert _as(parsed, utc).equals(parsed.cast(utc))
    ids = pa.array([1, None], pa.int64())
    assert _as(ids, pa.int64()) is ids  # no copy of a column already of its type
    assert _as(pa.array(["1.25"]), pa.decimal128(5, 2)).to_pylist()[0] == pa.scalar(1.25).cast(pa.decimal128(5, 2)).as_py()
