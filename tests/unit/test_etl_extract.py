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
