"""Own `archive status`: watermarks, lag, rows pending archive and cleanup, and per-operation metrics.

Metrics (runs, rows, bytes, partitions) come from the audit events the runs wrote to
`lifecycle_audit_log`; because that table is itself archived, events already moved to ClickHouse are
counted from there (each event once).
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from psycopg import sql

from python_ops.archive import state
from python_ops.archive.apply import specs
from python_ops.archive.copy import table_exists
from python_ops.engines.clickhouse import quote_ident
from python_ops.settings import ArchiveSettings

if TYPE_CHECKING:
    from python_ops.engines.context import Engines


@dataclass
class TableStatus:
    dataset_id: str
    dataset_slug: str
    table: str
    watermark: str | None
    lag_hours: float | None
    pending_archive: int
    in_grace_period: int
    pending_cleanup: int
    archived: int


@dataclass
class OperationMetrics:
    operation: str
    runs: int = 0
    rows: int = 0
    bytes: int = 0
    partitions: int = 0


@dataclass
class ArchiveStatus:
    tables: list[TableStatus] = field(default_factory=list)
    metrics: list[OperationMetrics] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    def as_metadata(self) -> dict[str, Any]:
        meta: dict[str, Any] = {}
        for m in self.metrics:
            for key in ("runs", "rows", "bytes", "partitions"):
                meta[f"{m.operation}_{key}"] = getattr(m, key)
        meta["pending_archive"] = sum(t.pending_archive for t in self.tables)
        meta["pending_cleanup"] = sum(t.pending_cleanup for t in self.tables)
        lags = [t.lag_hours for t in self.tables if t.lag_hours is not None]
        meta["max_lag_hours"] = max(lags) if lags else 0.0
        return meta


def _metrics(events: list[tuple[str, dict[str, Any]]]) -> list[OperationMetrics]:
    out = {op: OperationMetrics(op) for op in (state.EVENT_COPY, state.EVENT_CLEANUP)}
    for event_type, payload in events:
        m = out[event_type]
        m.runs += 1
        m.rows += int(payload.get("recordsMigrated", payload.get("recordsDeleted", 0)))
        m.bytes += int(payload.get("bytes", 0))
        m.partitions += int(payload.get("partitions", 0))
    return list(out.values())


def status(engines: Engines, config: ArchiveSettings, *, now: datetime | None = None) -> ArchiveStatus:
    """Read watermarks, lag, pending rows per (dataset, table), archived counts and run metrics."""
    cfg = config
    now = now or datetime.now(UTC)
    cutoff = now - timedelta(hours=cfg.max_age_hours)
    result = ArchiveStatus()
    with engines.connect(autocommit=True) as conn, engines.clickhouse() as ch:
        for spec in specs(conn, config):
            t = sql.Identifier(spec.name)
            ds, tm = sql.Identifier(spec.config.dataset_column), sql.Identifier(spec.config.time_column)
            rows = conn.execute(
                sql.SQL(
                    """SELECT d.id, d.slug, w.watermark_timestamp,
                         (SELECT count(*) FROM {t} x WHERE x.{ds} = d.id AND x.{tm} <= %(cutoff)s
                            AND (w.watermark_timestamp IS NULL OR x.{tm} > w.watermark_timestamp)),
                         (SELECT count(*) FROM {t} x WHERE x.{ds} = d.id AND x.{tm} <= w.watermark_timestamp
                            AND x.{tm} >= w.watermark_timestamp - %(grace)s),
                         (SELECT count(*) FROM {t} x WHERE x.{ds} = d.id
                            AND x.{tm} < w.watermark_timestamp - %(grace)s)
                       FROM datasets d LEFT JOIN {wt} w ON w.dataset_id = d.id AND w.table_name = %(table)s
                       ORDER BY d.id"""
                ).format(t=t, ds=ds, tm=tm, wt=sql.Identifier(cfg.watermark_table)),
                {"cutoff": cutoff, "grace": timedelta(hours=cfg.grace_period_hours), "table": spec.name},
            ).fetchall()
            archived: dict[str, int] = {}
            if table_exists(ch, spec.name):
                archived = dict(
                    ch.query(
                        f"SELECT toString({quote_ident(spec.config.dataset_column)}), count() "
                        f"FROM {quote_ident(spec.name)} FINAL GROUP BY 1"
                    ).result_rows
                )
            for dataset_id, slug, wm, pending, grace_rows, cleanup_rows in rows:
                result.tables.append(
                    TableStatus(
                        dataset_id,
                        slug,
                        spec.name,
                        wm.isoformat() if wm else None,
                        round((now - wm) / timedelta(hours=1), 2) if wm else None,
                        pending,
                        grace_rows,
                        cleanup_rows,
                        int(archived.get(dataset_id, 0)),
                    )
                )
        types = (state.EVENT_COPY, state.EVENT_CLEANUP)
        pg_events = conn.execute(
            "SELECT id, event_type, payload FROM lifecycle_audit_log WHERE event_type = ANY(%s)",
            (list(types),),
        ).fetchall()
        events = {r[0]: (r[1], r[2]) for r in pg_events}
        if table_exists(ch, "lifecycle_audit_log"):
            for event_id, event_type, payload in ch.query(
                "SELECT id, event_type, payload FROM lifecycle_audit_log FINAL "
                "WHERE event_type IN ('postgres_migration', 'postgres_migration_cleanup')"
            ).result_rows:
                events.setdefault(event_id, (event_type, json.loads(payload)))
        result.metrics = _metrics(list(events.values()))
    return result
