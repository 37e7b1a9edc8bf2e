"""Own reading and validating OpenLineage events: JSON text → `Event` or an `EventError` naming the field.

Pure: no database. Every OpenLineage 2.x event kind: a RunEvent, a DatasetEvent or a JobEvent, told
apart by `schemaURL` (`…#/$defs/DatasetEvent`) or, without one, by shape (`run`, `dataset`, `job`).
Accepts what the spec accepts — timestamps with nanoseconds or without a timezone (read as UTC),
unicode names, unknown/custom facets (kept as they are), the parent run facet, the columnLineage facet.
Refuses what would break later: JSON nested deeper than a bound, NaN/Infinity, lone surrogates
(`\\ud800`, which no UTF-8 text can hold) and NUL characters (which jsonb cannot hold), each named by
field; and an `eventTime` outside the accepted window (no partition is ever made for 1970 or 9999).
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Collection, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

from python_ops.lineage.raw import canonical_json, key_of

Kind = Literal["run", "dataset", "job"]
DEFAULT_MAX_DEPTH = 64
_FRACTION = re.compile(r"(\.\d{6})\d+")  # Python keeps microseconds: drop the nanosecond digits
_SCHEMA_KIND = {"RunEvent": "run", "DatasetEvent": "dataset", "JobEvent": "job"}


class EventError(ValueError):
    """An event does not follow the OpenLineage spec; `field` is the dotted path of the offending field."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


@dataclass(frozen=True)
class TimeWindow:
    """Event times accepted: not before `earliest`, not more than `ahead` after now."""

    earliest: datetime = datetime(2000, 1, 1, tzinfo=UTC)
    ahead: timedelta = timedelta(days=1)

    def check(self, value: datetime, where: str = "eventTime") -> None:
        latest = datetime.now(UTC) + self.ahead
        if value < self.earliest or value > latest:
            raise EventError(
                where,
                f"{value.isoformat()} is outside the accepted window [{self.earliest.isoformat()}, "
                f"now + {self.ahead}]; send the real event time (the window is "
                "MIGRATA_LINEAGE__EARLIEST_EVENT_TIME / __MAX_FUTURE_HOURS)",
            )


@dataclass(frozen=True)
class DatasetRef:
    namespace: str
    name: str
    facets: dict[str, Any]
    io_facets: dict[str, Any]


@dataclass(frozen=True)
class ColumnEdge:
    """One entry of a columnLineage facet: output dataset's field ← input dataset's field."""

    namespace: str
    name: str
    field: str
    input_namespace: str
    input_name: str
    input_field: str
    transformations: str  # JSON array as text


@dataclass(frozen=True)
class Parent:
    run_uuid: uuid.UUID
    job_namespace: str
    job_name: str


@dataclass
class Event:
    """One validated event, with the parts the normalized store needs pulled out."""

    kind: Kind
    event_id: uuid.UUID
    event_time: datetime
    producer: str | None
    payload_json: str
    event_type: str | None = None
    run_uuid: uuid.UUID | None = None
    job_namespace: str | None = None
    job_name: str | None = None
    dataset: DatasetRef | None = None  # a DatasetEvent's dataset
    run_facets: dict[str, Any] = field(default_factory=dict)
    job_facets: dict[str, Any] = field(default_factory=dict)
    inputs: list[DatasetRef] = field(default_factory=list)
    outputs: list[DatasetRef] = field(default_factory=list)
    columns: list[ColumnEdge] = field(default_factory=list)
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


def _columns(ref: DatasetRef) -> list[ColumnEdge]:
    """The columnLineage facet of a dataset as column edges; entries not of the spec's shape are skipped
    (the facet itself is kept with the dataset's facets either way)."""
    fields = ref.facets.get("columnLineage", {})
    fields = fields.get("fields") if isinstance(fields, dict) else None
    if not isinstance(fields, dict):
        return []
    edges = []
    for out_field, spec in fields.items():
        inputs = spec.get("inputFields") if isinstance(spec, dict) else None
        for item in inputs if isinstance(inputs, list) else []:
            if not isinstance(item, dict):
                continue
            ns, name, in_field = item.get("namespace"), item.get("name"), item.get("field")
            if all(isinstance(v, str) and v for v in (ns, name, in_field)):
                transformations = item.get("transformations") or []
                edges.append(
                    ColumnEdge(
                        ref.namespace, ref.name, out_field, ns, name, in_field,  # type: ignore[arg-type]
                        json.dumps(transformations if isinstance(transformations, list) else []),
                    )
                )  # fmt: skip
    return edges


def _dataset(item: Any, at: str, io_key: str | None) -> DatasetRef:
    item = _object(item, at)
    return DatasetRef(
        _name(item.get("namespace"), f"{at}.namespace"),
        _name(item.get("name"), f"{at}.name"),
        _object(item.get("facets"), f"{at}.facets", required=False),
        _object(item.get(io_key), f"{at}.{io_key}", required=False) if io_key else {},
    )


def _datasets(value: Any, where: str, io_key: str) -> list[DatasetRef]:
    if value is None:
        return []
    if not isinstance(value, list):
        raise EventError(where, "must be a JSON array of datasets")
    return [_dataset(item, f"{where}[{i}]", io_key) for i, item in enumerate(value)]


def check_structure(value: Any, max_depth: int = DEFAULT_MAX_DEPTH) -> None:
    """Refuse JSON nested deeper than `max_depth` and strings no UTF-8 text can hold (lone surrogates)
    or jsonb cannot (NUL), naming the field. Iterative: a deep document cannot exhaust the stack."""
    stack: list[tuple[Any, str, int]] = [(value, "event", 0)]
    while stack:
        node, where, depth = stack.pop()
        if depth > max_depth:
            raise EventError(where, f"is nested deeper than {max_depth} levels")
        if isinstance(node, dict):
            for key, child in node.items():
                path = f"{where}.{key}" if where != "event" else str(key)
                _text(key, path)
                stack.append((child, path, depth + 1))
        elif isinstance(node, list):
            stack.extend((child, f"{where}[{i}]", depth + 1) for i, child in enumerate(node))
        elif isinstance(node, str):
            _text(node, where)


def _text(value: str, where: str) -> None:
    try:
        value.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise EventError(
            where,
            f"holds a lone surrogate ({value[exc.start]!r}) at character {exc.start}: not valid unicode",
        ) from None
    if "\x00" in value:
        raise EventError(where, "contains a NUL character (\\u0000), which Postgres jsonb cannot store")


def event_kind(event: dict[str, Any]) -> Kind:
    """RunEvent, DatasetEvent or JobEvent: by `schemaURL` when it names one, else by shape."""
    schema = event.get("schemaURL")
    if isinstance(schema, str):
        named = _SCHEMA_KIND.get(schema.rsplit("/", 1)[-1])
        if named:
            return named  # type: ignore[return-value]
    if "run" not in event and "dataset" in event:
        return "dataset"
    if "run" not in event and "eventType" not in event and "job" in event:
        return "job"
    return "run"


def validate(
    obj: Any,
    *,
    states: Collection[str],
    window: TimeWindow | None = None,
    max_depth: int = DEFAULT_MAX_DEPTH,
) -> Event:
    """Check one decoded event against the spec; raise `EventError` naming the field.

    `states` are the run states of `lineage_run_states` (`RunStates.names`).
    """
    event = _object(obj, "event")
    check_structure(event, max_depth)
    event_time = parse_time(event.get("eventTime"), "eventTime")
    (window or TimeWindow()).check(event_time)
    producer = event.get("producer")
    if producer is not None and not isinstance(producer, str):
        raise EventError("producer", "must be a URI string")
    text = canonical_json(event)
    kind = event_kind(event)
    base = Event(kind, key_of(text), event_time, producer, text)
    if kind == "dataset":
        base.dataset = _dataset(event.get("dataset"), "dataset", None)
        base.columns = _columns(base.dataset)
        return base
    job = _object(event.get("job"), "job")
    base.job_namespace = _name(job.get("namespace"), "job.namespace")
    base.job_name = _name(job.get("name"), "job.name")
    base.job_facets = _object(job.get("facets"), "job.facets", required=False)
    base.inputs = _datasets(event.get("inputs"), "inputs", "inputFacets")
    base.outputs = _datasets(event.get("outputs"), "outputs", "outputFacets")
    base.columns = [c for ref in base.outputs for c in _columns(ref)]
    if kind == "job":
        return base
    event_type = event.get("eventType") or "OTHER"
    if not isinstance(event_type, str) or event_type.upper() not in states:
        raise EventError("eventType", f"must be one of {', '.join(sorted(states))}, got {event_type!r}")
    base.event_type = event_type.upper()
    run = _object(event.get("run"), "run")
    base.run_uuid = _uuid(run.get("runId"), "run.runId")
    base.run_facets = _object(run.get("facets"), "run.facets", required=False)
    if "parent" in base.run_facets:
        facet = _object(base.run_facets["parent"], "run.facets.parent")
        prun = _object(facet.get("run"), "run.facets.parent.run")
        pjob = _object(facet.get("job"), "run.facets.parent.job")
        base.parent = Parent(
            _uuid(prun.get("runId"), "run.facets.parent.run.runId"),
            _name(pjob.get("namespace"), "run.facets.parent.job.namespace"),
            _name(pjob.get("name"), "run.facets.parent.job.name"),
        )
    if "nominalTime" in base.run_facets:
        facet = _object(base.run_facets["nominalTime"], "run.facets.nominalTime")
        where = "run.facets.nominalTime"
        base.nominal_start = parse_time(facet.get("nominalStartTime"), f"{where}.nominalStartTime")
        if facet.get("nominalEndTime") is not None:
            base.nominal_end = parse_time(facet["nominalEndTime"], f"{where}.nominalEndTime")
    return base


def _no_constants(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def loads(text: str | bytes) -> Any:
    """Decode JSON as the spec defines it: no NaN/Infinity; nesting too deep for the decoder is an error."""
    try:
        return json.loads(text, parse_constant=_no_constants)
    except RecursionError:
        raise EventError("json", "is nested too deeply to decode") from None
    except (json.JSONDecodeError, UnicodeDecodeError, ValueError) as exc:
        message = exc.msg if isinstance(exc, json.JSONDecodeError) else str(exc)
        where = f" at line {exc.lineno} column {exc.colno}" if isinstance(exc, json.JSONDecodeError) else ""
        raise EventError("json", f"invalid JSON: {message}{where}") from None


def split_document(text: str, source: str = "<input>") -> Iterator[tuple[str, Any]]:
    """Yield (location, decoded value or EventError) from a JSON object, a JSON array or NDJSON text.

    Locations read `FILE index N` for arrays and `FILE line N` for NDJSON, so a rejected event can be found.
    """
    stripped = text.lstrip()
    if not stripped:
        return
    if stripped[0] == "[":
        try:
            values = loads(text)
        except EventError as exc:
            yield f"{source}", exc
            return
        if isinstance(values, list):
            for i, value in enumerate(values):
                yield f"{source} index {i}", value
            return
    try:
        yield f"{source} index 0", loads(text)
        return
    except EventError:
        pass  # not one document: NDJSON, one event per line
    for lineno, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            yield f"{source} line {lineno}", loads(line)
        except EventError as exc:
            yield f"{source} line {lineno}", exc
