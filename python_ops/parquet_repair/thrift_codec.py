"""Own the Thrift-level view of a parquet footer (FileMetaData, TCompactProtocol, parquet.thrift ids).

Two tools, both through the `thrift` library's protocol, never by byte guessing:
- `inspect_footer`: a fast structural read (C-accelerated, minimal struct specs, unknown fields
  skipped) saying which top-level fields a footer carries — how a footer written without the
  required `num_rows` (field 3) is told apart from garbage or truncated bytes.
- `decode_generic` / `encode_generic` / `drop_fields`: a lossless generic tree of (field id, type,
  value) that re-encodes a footer with chosen top-level fields removed. The test-data generator
  uses it to produce footers the way an old writer did; repair uses it to compare schemas.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from thrift.protocol import TCompactProtocol
from thrift.Thrift import TType
from thrift.transport import TTransport

# parquet.thrift FileMetaData field ids
FIELD_VERSION = 1
FIELD_SCHEMA = 2
FIELD_NUM_ROWS = 3
FIELD_ROW_GROUPS = 4
REQUIRED_FIELDS = (FIELD_VERSION, FIELD_SCHEMA, FIELD_NUM_ROWS, FIELD_ROW_GROUPS)

# A generic field: (field id, thrift type, value); containers keep their element types.
Field = tuple[int, int, Any]


class _Struct:
    """A decoded struct with only the fields named in its spec (others are skipped by the decoder)."""

    thrift_spec: tuple[Any, ...] = ()
    # absent fields read as None through these class attributes; the decoder passes only present ones
    version = schema = num_rows = row_groups = name = num_children = total_byte_size = None

    def __init__(self, **kwargs: Any) -> None:
        self.__dict__.update(kwargs)


class _RowGroup(_Struct):
    pass


class _SchemaElement(_Struct):
    pass


class _FileMetaData(_Struct):
    pass


_SchemaElement.thrift_spec = (
    None,
    None,
    None,
    None,
    (4, TType.STRING, "name", "BINARY", None),
    (5, TType.I32, "num_children", None, None),
)
_RowGroup.thrift_spec = (
    None,
    None,
    (2, TType.I64, "total_byte_size", None, None),
    (3, TType.I64, "num_rows", None, None),
)
_FileMetaData.thrift_spec = (
    None,
    (1, TType.I32, "version", None, None),
    (2, TType.LIST, "schema", (TType.STRUCT, [_SchemaElement, None], False), None),
    (3, TType.I64, "num_rows", None, None),
    (4, TType.LIST, "row_groups", (TType.STRUCT, [_RowGroup, None], False), None),
)
# as generated code does (`fix_spec`): the nested [class, spec] pairs carry the nested spec
_FileMetaData.thrift_spec[2][3][1][1] = _SchemaElement.thrift_spec
_FileMetaData.thrift_spec[4][3][1][1] = _RowGroup.thrift_spec


@dataclass(frozen=True)
class FooterShape:
    """What a structural read found: which required fields exist and whether every byte was used."""

    parsed: bool
    missing_required: tuple[int, ...] = ()
    trailing_bytes: int = 0
    num_rows: int | None = None
    row_group_rows: int | None = None
    schema_names: tuple[str, ...] = ()
    error: str = ""

    @property
    def legacy(self) -> bool:
        """A complete FileMetaData whose only defect is the missing `num_rows` (what old writers made)."""
        return self.parsed and self.trailing_bytes == 0 and self.missing_required == (FIELD_NUM_ROWS,)


def inspect_footer(footer: bytes) -> FooterShape:
    """Read `footer` structurally with the accelerated compact protocol; never raises."""
    if not footer:
        return FooterShape(False, error="empty")
    buffer = TTransport.TMemoryBuffer(footer)
    proto = TCompactProtocol.TCompactProtocolAccelerated(buffer, fallback=True)
    meta = _FileMetaData()
    try:
        if proto._fast_decode is not None:
            proto._fast_decode(meta, proto, [_FileMetaData, _FileMetaData.thrift_spec])
        else:  # pragma: no cover - the C extension ships with the wheel
            _slow_read(meta, proto)
    except Exception as exc:  # the decoder raises several types for bad input
        return FooterShape(False, error=f"{type(exc).__name__}: {exc}".strip())
    used = buffer._buffer.tell()
    missing = tuple(
        fid
        for fid, attr in (
            (FIELD_VERSION, meta.version),  # type: ignore[attr-defined]
            (FIELD_SCHEMA, meta.schema),  # type: ignore[attr-defined]
            (FIELD_NUM_ROWS, meta.num_rows),  # type: ignore[attr-defined]
            (FIELD_ROW_GROUPS, meta.row_groups),  # type: ignore[attr-defined]
        )
        if attr is None
    )
    row_groups = meta.row_groups or []  # type: ignore[attr-defined]
    rg_rows = sum(rg.num_rows or 0 for rg in row_groups)
    names = tuple(
        (e.name or b"").decode("utf-8", "replace") if isinstance(e.name, bytes) else str(e.name)
        for e in (meta.schema or [])  # type: ignore[attr-defined]
    )
    return FooterShape(
        True,
        missing_required=missing,
        trailing_bytes=len(footer) - used,
        num_rows=meta.num_rows,  # type: ignore[attr-defined]
        row_group_rows=rg_rows,
        schema_names=names,
    )


class _NumRowsOnly(_Struct):
    pass


# every other field is skipped by the C decoder without building anything
_NumRowsOnly.thrift_spec = (None, None, None, (3, TType.I64, "num_rows", None, None))


def lacks_num_rows(footer: bytes) -> bool:
    """True when `footer` is certainly undecodable: one complete compact-protocol struct, every byte
    used, without the `num_rows` i64 at its top level — what an old writer produced.

    The reader's generated Thrift code requires num_rows, so such bytes need no full decode. Bytes
    this decoder cannot read say False (undecided): measured on flipped bytes, the reader and this
    decoder can disagree there. False never means decodable. About 10 us, a fifth of a full parse."""
    if not footer:
        return False
    buffer = TTransport.TMemoryBuffer(footer)
    proto = TCompactProtocol.TCompactProtocolAccelerated(buffer, fallback=True)
    if proto._fast_decode is None:  # pragma: no cover - the C extension ships with the wheel
        return False
    found = _NumRowsOnly()
    try:
        proto._fast_decode(found, proto, [_NumRowsOnly, _NumRowsOnly.thrift_spec])
    except Exception:  # the decoder raises several types for bad input; leave those to the reader
        return False
    return found.num_rows is None and buffer._buffer.tell() == len(footer)


def _slow_read(meta: _FileMetaData, proto: Any) -> None:  # pragma: no cover
    fields = {fid: value for fid, _t, value in _read_struct(proto)}
    meta.version = fields.get(FIELD_VERSION)  # type: ignore[attr-defined]
    meta.num_rows = fields.get(FIELD_NUM_ROWS)  # type: ignore[attr-defined]
    meta.schema = fields.get(FIELD_SCHEMA)  # type: ignore[attr-defined]
    meta.row_groups = fields.get(FIELD_ROW_GROUPS)  # type: ignore[attr-defined]


# ---- lossless generic tree -------------------------------------------------------------------


def _read_value(proto: Any, ttype: int) -> Any:
    if ttype == TType.STRUCT:
        return _read_struct(proto)
    if ttype == TType.BOOL:
        return proto.readBool()
    if ttype == TType.BYTE:
        return proto.readByte()
    if ttype == TType.I16:
        return proto.readI16()
    if ttype == TType.I32:
        return proto.readI32()
    if ttype == TType.I64:
        return proto.readI64()
    if ttype == TType.DOUBLE:
        return proto.readDouble()
    if ttype == TType.STRING:
        return proto.readBinary()
    if ttype in (TType.LIST, TType.SET):
        etype, size = proto.readListBegin() if ttype == TType.LIST else proto.readSetBegin()
        values = [_read_value(proto, etype) for _ in range(size)]
        proto.readListEnd() if ttype == TType.LIST else proto.readSetEnd()
        return (etype, values)
    if ttype == TType.MAP:
        ktype, vtype, size = proto.readMapBegin()
        pairs = [(_read_value(proto, ktype), _read_value(proto, vtype)) for _ in range(size)]
        proto.readMapEnd()
        return (ktype, vtype, pairs)
    raise ValueError(f"unknown thrift type {ttype}")


def _read_struct(proto: Any) -> list[Field]:
    proto.readStructBegin()
    fields: list[Field] = []
    while True:
        _name, ftype, fid = proto.readFieldBegin()
        if ftype == TType.STOP:
            break
        fields.append((fid, ftype, _read_value(proto, ftype)))
        proto.readFieldEnd()
    proto.readStructEnd()
    return fields


def _write_value(proto: Any, ttype: int, value: Any) -> None:
    if ttype == TType.STRUCT:
        _write_struct(proto, value)
    elif ttype == TType.BOOL:
        proto.writeBool(value)
    elif ttype == TType.BYTE:
        proto.writeByte(value)
    elif ttype == TType.I16:
        proto.writeI16(value)
    elif ttype == TType.I32:
        proto.writeI32(value)
    elif ttype == TType.I64:
        proto.writeI64(value)
    elif ttype == TType.DOUBLE:
        proto.writeDouble(value)
    elif ttype == TType.STRING:
        proto.writeBinary(value)
    elif ttype in (TType.LIST, TType.SET):
        etype, values = value
        (proto.writeListBegin if ttype == TType.LIST else proto.writeSetBegin)(etype, len(values))
        for item in values:
            _write_value(proto, etype, item)
        (proto.writeListEnd if ttype == TType.LIST else proto.writeSetEnd)()
    elif ttype == TType.MAP:
        ktype, vtype, pairs = value
        proto.writeMapBegin(ktype, vtype, len(pairs))
        for key, item in pairs:
            _write_value(proto, ktype, key)
            _write_value(proto, vtype, item)
        proto.writeMapEnd()
    else:
        raise ValueError(f"unknown thrift type {ttype}")


def _write_struct(proto: Any, fields: list[Field]) -> None:
    proto.writeStructBegin("s")
    for fid, ftype, value in fields:
        proto.writeFieldBegin("f", ftype, fid)
        _write_value(proto, ftype, value)
        proto.writeFieldEnd()
    proto.writeFieldStop()
    proto.writeStructEnd()


def decode_generic(footer: bytes) -> list[Field]:
    """Decode a FileMetaData into a lossless generic tree; raises on bytes that are not one struct."""
    buffer = TTransport.TMemoryBuffer(footer)
    fields = _read_struct(TCompactProtocol.TCompactProtocol(buffer))
    if buffer._buffer.tell() != len(footer):
        raise ValueError(f"{len(footer) - buffer._buffer.tell()} bytes after the FileMetaData struct")
    return fields


def encode_generic(fields: list[Field]) -> bytes:
    """Encode a generic tree back to compact-protocol bytes (round-trips `decode_generic` exactly)."""
    buffer = TTransport.TMemoryBuffer()
    _write_struct(TCompactProtocol.TCompactProtocol(buffer), fields)
    return buffer.getvalue()


def drop_fields(footer: bytes, field_ids: tuple[int, ...] = (FIELD_NUM_ROWS,)) -> bytes:
    """Re-encode `footer` without the given top-level fields (default: `num_rows`, as old writers did)."""
    return encode_generic([f for f in decode_generic(footer) if f[0] not in field_ids])


def schema_fingerprint(footer: bytes) -> bytes:
    """The footer's schema (field 2) re-encoded on its own: equal bytes mean an equal parquet schema."""
    fields = [f for f in decode_generic(footer) if f[0] == FIELD_SCHEMA]
    return encode_generic(fields)
