"""Own reading and validating OpenLineage run events: JSON text → `Event` or an `EventError` naming the field.

Pure: no database. Accepts what the OpenLineage spec accepts — timestamps with nanoseconds or without a
timezone (read as UTC), unicode names, unknown/custom facets (kept as they are), the parent run facet.
"""

from __future__ import annotations

import functools
import json
import re
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from python_ops.lineage.raw import canonical_json, key_of

EVENT_TYPES = ("START", "RUNNING", "COMPLETE", "FAIL", "ABORT", "OTHER")
# A state changes only to a greater (rank, event time): terminal states are never regressed by late events.
STATE_RANK = {"OTHER": 0, "START": 1, "RUNNING": 2, "COMPLETE": 3, "FAIL": 3, "ABORT": 3}
TERMINAL = frozenset({"COMPLETE", "FAIL", "ABORT"})

_IDS = uuid.UUID("0b5f7a0e-3c1d-4f7e-9d0a-6a1f3e2b9c44")
_FRACTION = re.compile(r"(\.\d{6})\d+")  # Python keeps microseconds: drop the nanosecond digits


@functools.lru_cache(maxsize=65536)  # ingestion asks for the same few names again and again
def namespace_uuid(name: str) -> uuid.UUID:
    return uuid.uuid5(_IDS, f"namespace:{name}")


@functools.lru_cache(maxsize=65536)
def job_uuid(namespace: str, name: str) -> uuid.UUID:
    return uuid.uuid5(_IDS, f"job:{namespace}:{name}")


@functools.lru_cache(maxsize=262144)
def dataset_uuid(namespace: str, name: str) -> uuid.UUID:
    return uuid.uuid5(_IDS, f"dataset:{namespace}:{name}")


class EventError(ValueError):
    """An event does not follow the OpenLineage spec; `field` is the dotted path of the offending field."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


@dataclass(frozen=True)
class DatasetRef:
    namespace: str
    name: str
    facets: dict[str, Any]
    io_facets: dict[str, Any]


@dataclass(frozen=True)
class Parent:
    run_uuid: uuid.UUID
    job_namespace: str
    job_name: str


@dataclass
class Event:
    """One validated run event, with the parts the normalized store needs pulled out."""

    event_id: uuid.UUID
    event_time: datetime
    event_type: str
    run_uuid: uuid.UUID
    job_namespace: str
    job_name: str
    producer: str | None
    payload: dict[str, Any]
    payload_json: str
    run_facets: dict[str, Any] = field(default_factory=dict)
    job_facets: dict[str, Any] = field(default_factory=dict)
    inputs: list[DatasetRef] = field(default_factory=list)
    outputs: list[DatasetRef] = field(default_factory=list)
    parent: Parent | None = None
    nominal_start: datetime | None = None
    nominal_end: datetime | None = None


def parse_time(value: Any, where: str) -> datetime:
    """ISO-8601 timestamp → aware datetime; nanoseconds truncated to microseconds, no zone means UTC."""
    if not isinstance(value, str) or not value.strip():
        raise EventError(where, "must be an ISO-8601 timestamp string")
    try:
        parsed = datetime.fromisoformat(_FRACTION.sub(r"\1", value.strip()))
    except ValueError:
        raise EventError(where, f"cannot parse {value[:64]!r} as an ISO-8601 timestamp") from None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _object(value: Any, where: str, *, required: bool = True) -> dict[str, Any]:
    if value is None and not required:
        return {}
    if not isinstance(value, dict):
        raise EventError(where, "is required and must be a JSON object" if required else "must be an object")
    return value


def _name(value: Any, where: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise EventError(where, "is required and must be a non-empty string")
    return value


def _uuid(value: Any, where: str) -> uuid.UUID:
    if not isinstance(value, str):
        raise EventError(where, "is required and must be a UUID string")
    try:
        return uuid.UUID(value)
    except ValueError:
        raise EventError(where, f"{value[:64]!r} is not a UUID") from None


def _datasets(value: Any, where: str, io_key: str) -> list[DatasetRef]:
    if value is None:
        return []
    if not isinstance(value, list):
        raise EventError(where, "must be a JSON array of datasets")
    refs = []
    for i, item in enumerate(value):
        at = f"{where}[{i}]"
        item = _object(item, at)
        refs.append(
            DatasetRef(
                _name(item.get("namespace"), f"{at}.namespace"),
                _name(item.get("name"), f"{at}.name"),
                _object(item.get("facets"), f"{at}.facets", required=False),
                _object(item.get(io_key), f"{at}.{io_key}", required=False),
            )
        )
    return refs


def validate(obj: Any) -> Event:
    """Check one decoded event against the spec's run-event shape; raise `EventError` naming the field."""
    event = _object(obj, "event")
    event_time = parse_time(event.get("eventTime"), "eventTime")
    event_type = event.get("eventType") or "OTHER"
    if not isinstance(event_type, str) or event_type.upper() not in EVENT_TYPES:
        raise EventError("eventType", f"must be one of {', '.join(EVENT_TYPES)}, got {event_type!r}")
    run = _object(event.get("run"), "run")
    run_uuid = _uuid(run.get("runId"), "run.runId")
    job = _object(event.get("job"), "job")
    run_facets = _object(run.get("facets"), "run.facets", required=False)
    producer = event.get("producer")
    if producer is not None and not isinstance(producer, str):
        raise EventError("producer", "must be a URI string")
    parent = None
    if "parent" in run_facets:
        facet = _object(run_facets["parent"], "run.facets.parent")
        prun = _object(facet.get("run"), "run.facets.parent.run")
        pjob = _object(facet.get("job"), "run.facets.parent.job")
        parent = Parent(
            _uuid(prun.get("runId"), "run.facets.parent.run.runId"),
            _name(pjob.get("namespace"), "run.facets.parent.job.namespace"),
            _name(pjob.get("name"), "run.facets.parent.job.name"),
        )
    nominal_start = nominal_end = None
    if "nominalTime" in run_facets:
        facet = _object(run_facets["nominalTime"], "run.facets.nominalTime")
        where = "run.facets.nominalTime"
        nominal_start = parse_time(facet.get("nominalStartTime"), f"{where}.nominalStartTime")
        if facet.get("nominalEndTime") is not None:
            nominal_end = parse_time(facet["nominalEndTime"], f"{where}.nominalEndTime")
    text = canonical_json(event)
    if "\\u0000" in text:
        raise EventError("event", "contains a NUL character (\\u0000), which Postgres jsonb cannot store")
    return Event(
        event_id=key_of(text),
        event_time=event_time,
        event_type=event_type.upper(),
        run_uuid=run_uuid,
        job_namespace=_name(job.get("namespace"), "job.namespace"),
        job_name=_name(job.get("name"), "job.name"),
        producer=producer,
        payload=event,
        payload_json=text,
        run_facets=run_facets,
        job_facets=_object(job.get("facets"), "job.facets", required=False),
        inputs=_datasets(event.get("inputs"), "inputs", "inputFacets"),
        outputs=_datasets(event.get("outputs"), "outputs", "outputFacets"),
        parent=parent,
        nominal_start=nominal_start,
        nominal_end=nominal_end,
    )


def split_document(text: str, source: str = "<input>") -> Iterator[tuple[str, Any]]:
    """Yield (location, decoded value or EventError) from a JSON object, a JSON array or NDJSON text.

    Locations read `FILE index N` for arrays and `FILE line N` for NDJSON, so a rejected event can be found.
    """
    stripped = text.lstrip()
    if not stripped:
        return
    if stripped[0] == "[":
        try:
            values = json.loads(text)
        except json.JSONDecodeError as exc:
            yield f"{source} line {exc.lineno}", EventError("json", f"invalid JSON array: {exc.msg}")
            return
        for i, value in enumerate(values):
            yield f"{source} index {i}", value
        return
    try:
        yield f"{source} index 0", json.loads(text)
        return
    except json.JSONDecodeError:
        pass  # not one document: NDJSON, one event per line
    for lineno, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            yield f"{source} line {lineno}", json.loads(line)
        except json.JSONDecodeError as exc:
            yield (
                f"{source} line {lineno}",
                EventError("json", f"invalid JSON: {exc.msg} at column {exc.colno}"),
            )
