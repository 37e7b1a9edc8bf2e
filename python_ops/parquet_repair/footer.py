"""Own decoding and serializing footers with the current pyarrow reader and writer.

The cache holds the serialized Thrift FileMetaData alone (what a parquet file carries between its
last `PAR1`-framed length and the magic). pyarrow has no public "decode these bytes" call, so the
bytes are framed as the smallest valid parquet tail, `PAR1 <footer> <len:u32le> PAR1`, and opened
with the reader behind `pyarrow.parquet.read_metadata` (`ParquetReader.open` with the options
`ParquetFile` passes) — exactly the reader queries use, without the Python wrapper's per-call work
(column path index) that metadata alone never needs. The writer side is
`FileMetaData.write_metadata_file`, which frames a freshly serialized footer the same way.
"""

from __future__ import annotations

import struct

import pyarrow as pa
import pyarrow.parquet as pq
from pyarrow._parquet import ParquetReader

from python_ops.parquet_repair.models import EntryClass
from python_ops.parquet_repair.thrift_codec import FooterShape, inspect_footer, lacks_num_rows

MAGIC = b"PAR1"
# what the reader raises on bytes it cannot decode; damaged footers can also hit NotImplemented
# paths (e.g. "Integers with more than 64 bits"), which are no OSError/ValueError
DECODE_ERRORS = (OSError, ValueError, pa.ArrowException)


def frame(footer: bytes) -> bytes:
    """Frame footer bytes as a minimal parquet tail that `read_metadata` accepts."""
    return MAGIC + footer + struct.pack("<I", len(footer)) + MAGIC


def decode(footer: bytes) -> pq.FileMetaData:
    """Decode cached footer bytes with the current reader; raises OSError on what it cannot read."""
    reader = ParquetReader()
    # the arguments `pq.ParquetFile` (hence `read_metadata`) opens with; C++ parses without the GIL
    reader.open(pa.BufferReader(frame(footer)), pre_buffer=True, arrow_extensions_enabled=True)
    return reader.metadata


def serialize(meta: pq.FileMetaData) -> bytes:
    """Serialize `meta` with the current writer and return the bare footer bytes."""
    sink = pa.BufferOutputStream()
    meta.write_metadata_file(sink)
    framed = sink.getvalue().to_pybytes()
    length = struct.unpack("<I", framed[-8:-4])[0]
    return framed[-8 - length : -8]


def classify(footer: bytes | None) -> tuple[EntryClass, str]:
    """Say whether the current reader decodes `footer`; if not, whether it is legacy or corrupt."""
    cls, detail, _shape = classify_shape(footer)
    return cls, detail


def classify_shape(footer: bytes | None) -> tuple[EntryClass, str, FooterShape | None]:
    """`classify`, plus the structural read made for an undecodable footer (None when it decoded).

    Say whether the current reader decodes `footer`; if not, whether it is legacy or corrupt.

    The reader's error does not tell a missing `num_rows` from garbage ("TProtocolException:
    Invalid data" for both), so a failed decode is inspected structurally: a complete FileMetaData
    whose only missing required field is `num_rows` is legacy, anything else is corrupt.
    """
    if not footer:
        return EntryClass.CORRUPT, "empty metadata", inspect_footer(b"")
    if lacks_num_rows(footer):
        # certain to fail in the reader (its Thrift code requires num_rows): skip its full parse,
        # which costs as much on a footer lacking only num_rows as on a healthy one
        reader_error = "no num_rows in the Thrift struct, which the reader requires"
    else:
        try:
            decode(footer)
            return EntryClass.OK, "", None
        except DECODE_ERRORS as exc:
            reader_error = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    shape = inspect_footer(footer)
    if shape.legacy:
        return EntryClass.LEGACY, f"Required field num_rows is missing (reader: {reader_error})", shape
    if not shape.parsed:
        return EntryClass.CORRUPT, f"not a FileMetaData ({shape.error or reader_error})", shape
    if shape.trailing_bytes:
        return EntryClass.CORRUPT, f"{shape.trailing_bytes} bytes after the FileMetaData", shape
    missing = ", ".join(str(f) for f in shape.missing_required) or "none"
    return EntryClass.CORRUPT, f"required fields missing: {missing} (reader: {reader_error})", shape
