"""The current reader on real footers: healthy, legacy (no num_rows, re-encoded via Thrift), corrupt."""

from __future__ import annotations

import random

import pyarrow as pa
import pytest

from migrata_samples.parquet_store import file_footer, parquet_bytes
from python_ops.parquet_repair import footer as ft
from python_ops.parquet_repair.models import EntryClass
from python_ops.parquet_repair.thrift_codec import (
    FIELD_NUM_ROWS,
    decode_generic,
    drop_fields,
    encode_generic,
    inspect_footer,
)


@pytest.fixture(scope="module")
def good() -> bytes:
    table = pa.table({"a": pa.array(range(1000), pa.int64()), "b": [str(i) for i in range(1000)]})
    return file_footer(parquet_bytes(table, 300))


def test_generic_codec_round_trips_exactly(good: bytes) -> None:
    assert encode_generic(decode_generic(good)) == good


def test_legacy_footer_lacks_only_num_rows(good: bytes) -> None:
    legacy = drop_fields(good)
    before = [f[0] for f in decode_generic(good)]
    after = [f[0] for f in decode_generic(legacy)]
    assert FIELD_NUM_ROWS in before and FIELD_NUM_ROWS not in after
    assert [f for f in before if f != FIELD_NUM_ROWS] == after
    shape = inspect_footer(legacy)
    assert shape.legacy and shape.row_group_rows == 1000 and shape.num_rows is None


def test_current_pyarrow_rejects_a_footer_without_num_rows(good: bytes) -> None:
    assert ft.decode(good).num_rows == 1000
    with pytest.raises(OSError, match="deserialize thrift"):
        ft.decode(drop_fields(good))


@pytest.mark.parametrize(
    ("make", "expected"),
    [
        (lambda g: g, EntryClass.OK),
        (drop_fields, EntryClass.LEGACY),
        (lambda g: g[: len(g) // 2], EntryClass.CORRUPT),
        (lambda g: bytes(b ^ 0x5A for b in g), EntryClass.CORRUPT),
        (lambda g: b"", EntryClass.CORRUPT),
        (lambda g: drop_fields(g) + b"\x00\x01", EntryClass.CORRUPT),
        (lambda g: drop_fields(g, (3, 4)), EntryClass.CORRUPT),
    ],
    ids=["ok", "legacy", "truncated", "garbage", "empty", "trailing-bytes", "no-row-groups"],
)
def test_classify(good: bytes, make, expected: EntryClass) -> None:  # type: ignore[no-untyped-def]
    cls, detail = ft.classify(make(good))
    assert cls is expected
    assert (detail == "") == (expected is EntryClass.OK)


def test_serialize_with_current_writer_round_trips(good: bytes) -> None:
    meta = ft.decode(good)
    again = ft.serialize(meta)
    assert ft.decode(again).num_rows == 1000
    assert ft.decode(again).schema.equals(meta.schema)


def test_cheap_num_rows_check_only_rejects_what_the_reader_rejects(good: bytes) -> None:
    # the planning shortcut may skip the reader only for bytes the reader certainly fails on
    legacy = drop_fields(good)
    assert ft.lacks_num_rows(legacy)
    assert not ft.lacks_num_rows(good)
    assert not ft.lacks_num_rows(legacy + b"\x00")  # trailing bytes: left to the reader
    assert not ft.lacks_num_rows(legacy[: len(legacy) // 2])  # unreadable: left to the reader
    rng = random.Random(5)
    rejected = 0
    for source in (good, legacy):
        for _ in range(400):
            flipped = bytearray(source)
            flipped[rng.randrange(len(flipped))] = rng.randrange(256)
            if ft.lacks_num_rows(bytes(flipped)):
                rejected += 1
                with pytest.raises(ft.DECODE_ERRORS):
                    ft.decode(bytes(flipped))
    assert rejected > 100  # most flips in a legacy footer's values keep it a complete struct
