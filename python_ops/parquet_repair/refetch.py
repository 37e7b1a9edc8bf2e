"""Own re-reading one file's footer from storage and turning it into validated cache bytes.

The footer read from the file is decoded with the current reader, serialized again with the current
writer, and the result decoded once more: it is accepted only if its `num_rows` equals the sum of
its row groups and the file's own, and its schema equals the file's. When the old cache entry is a
legacy footer (structurally complete), its row count and column names must match the file too —
otherwise the file was replaced and the entry is reported, not silently rewritten.
"""

from __future__ import annotations

from python_ops.parquet_repair import footer as ft
from python_ops.parquet_repair.models import Issue, IssueKind, Refetched
from python_ops.parquet_repair.storage import Storage, StorageIssue
from python_ops.parquet_repair.thrift_codec import FooterShape, inspect_footer


def refetch(
    storage: Storage, path: str, cached: bytes | None = None, cached_shape: FooterShape | None = None
) -> Refetched:
    """Read `path`'s footer and return new cache bytes, or the issue that prevents it. Never raises.

    `cached_shape` is `inspect_footer(cached)` when the caller already made it (classification did),
    so the old bytes are not read twice; with it, `cached` itself is not needed."""
    try:
        raw = storage.read_footer(path)
    except StorageIssue as exc:
        return Refetched(path, issue=Issue(path, exc.kind.value, exc.detail))
    try:
        meta = ft.decode(raw)
        fresh = ft.serialize(meta)
        # the writer reproduced the file's bytes exactly: `meta` already is their decoding
        check = meta if fresh == raw else ft.decode(fresh)
    except ft.DECODE_ERRORS as exc:
        return Refetched(path, issue=Issue(path, IssueKind.FILE_CORRUPT.value, _line(exc)))
    new = inspect_footer(fresh)
    if (
        new.num_rows != meta.num_rows
        or new.row_group_rows != meta.num_rows
        or (check is not meta and not check.schema.equals(meta.schema))
    ):
        detail = f"re-serialized footer differs: num_rows {new.num_rows} vs file {meta.num_rows}"
        return Refetched(path, issue=Issue(path, IssueKind.FILE_CORRUPT.value, detail))
    # the shape made by classification stands for the cached bytes (it is their structural read), so a
    # read-ahead started before the batch re-read the entry needs only the shape
    old = cached_shape if cached_shape is not None else (inspect_footer(cached) if cached else None)
    if (
        old is not None
        and old.legacy
        and (old.row_group_rows != meta.num_rows or old.schema_names != new.schema_names)
    ):
        detail = (
            f"cache describes {old.row_group_rows} rows / {len(old.schema_names)} schema nodes, "
            f"file has {meta.num_rows} / {len(new.schema_names)}"
        )
        return Refetched(path, issue=Issue(path, IssueKind.MISMATCH.value, detail))
    return Refetched(path, footer=fresh, num_rows=meta.num_rows)


def _line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0][:300] if text else type(exc).__name__
