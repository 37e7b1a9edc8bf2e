"""Own what every migrata asset carries: owners, tags and kinds per capability, and typed metadata.

`typed_metadata` turns the plain values `python_ops` reports (numbers, text, lists of row dicts,
nested dicts) into Dagster metadata values (`MetadataValue.int`, `.table`, `.json`, …), so the UI
plots numbers and shows tables instead of Python reprs or JSON strings. The Dagster path and the
CLI's runless reports (`dagster_defs.reporting`) both call it, so both carry the same metadata.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

from dagster import MetadataValue, TableColumn, TableRecord, TableSchema

OWNERS = ["team:data-platform"]
ROW_COUNT = "dagster/row_count"

# the engines each capability's Python assets touch (shown as kind badges in the UI)
KINDS = {
    "lineage": {"python", "postgres"},
    "archive": {"python", "postgres", "clickhouse"},
    "parquet_repair": {"python", "postgres", "parquet"},
    "partitions": {"python", "postgres"},
    "migrations": {"python", "postgres", "alembic"},
}


def tags(capability: str) -> dict[str, str]:
    """The tags of a capability's assets (filterable in the UI's asset catalog)."""
    return {"capability": capability, "layer": "ops"}


def asset_kwargs(capability: str) -> dict[str, Any]:
    """`@asset(**asset_kwargs("archive"), …)`: group, kinds, owners and tags of a capability's asset."""
    return {"group_name": capability, "kinds": KINDS[capability], "owners": OWNERS, "tags": tags(capability)}


def _table(rows: Sequence[Mapping[str, Any]]) -> MetadataValue:
    names = list(dict.fromkeys(k for r in rows for k in r))
    schema = TableSchema(columns=[TableColumn(n, _column_type(rows, n)) for n in names])
    records = [TableRecord({n: _cell(r.get(n)) for n in names}) for r in rows]
    return MetadataValue.table(records, schema=schema)


def _column_type(rows: Sequence[Mapping[str, Any]], name: str) -> str:
    values = [r.get(name) for r in rows if r.get(name) is not None]
    if values and all(isinstance(v, bool) for v in values):
        return "bool"
    if values and all(isinstance(v, int) and not isinstance(v, bool) for v in values):
        return "int"
    if values and all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in values):
        return "float"
    return "string"


def _cell(value: Any) -> str | int | float | bool | None:
    if value is None or isinstance(value, (str, int, float, bool)):
        return value
    return json.dumps(value, default=str)


def _value(value: Any) -> Any:
    if isinstance(value, MetadataValue) or value is None:
        return value
    if isinstance(value, bool):
        return MetadataValue.bool(value)
    if isinstance(value, int):
        return MetadataValue.int(value)
    if isinstance(value, float):
        return MetadataValue.float(value)
    if isinstance(value, str):
        stripped = value.strip()
        if stripped[:1] in "[{" and stripped[-1:] in "]}":  # a JSON string from an older report
            try:
                return _value(json.loads(stripped))
            except ValueError:
                pass
        return MetadataValue.md(value) if "\n" in value else MetadataValue.text(value)
    if isinstance(value, Sequence) and value and all(isinstance(r, Mapping) for r in value):
        return _table(value)
    return MetadataValue.json(json.loads(json.dumps(value, default=str)))


def typed_metadata(meta: Mapping[str, Any]) -> dict[str, Any]:
    """Dagster metadata values for a report's plain values (None values are left out)."""
    return {key: _value(v) for key, v in meta.items() if v is not None}


__all__ = ["KINDS", "OWNERS", "ROW_COUNT", "asset_kwargs", "tags", "typed_metadata"]
