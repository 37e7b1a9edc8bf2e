"""Own the gate "Postgres and ClickHouse agree up to the watermark", per (dataset, table).

Below watermark - grace period Postgres keeps only rows ClickHouse lacks (none, normally); in the
grace window [watermark - grace, watermark] nothing has been deleted yet, so there both engines must
hold the same rows: same count and same checksum. And no row at or below the watermark may be
missing from ClickHouse (late rows are swept by the next run).
"""

from __future__ import annotations

from datetime import timedelta

from python_ops.archive import state
from python_ops.archive.apply import _engines, specs
from python_ops.archive.checksum import Digest, clickhouse_digest, postgres_digest
from python_ops.archive.copy import late_ids, table_exists
from python_ops.runner import Check
from python_ops.settings import MigrataSettings


def agreement(settings: MigrataSettings, *, table: str | None = None) -> list[Check]:
    """One check per (dataset, table) with a watermark; an empty list when nothing is archived yet."""
    checks: list[Check] = []
    grace = timedelta(hours=settings.archive.grace_period_hours)
    with _engines(settings) as (_dsn, conn, ch):
        for spec in specs(conn, settings, table):
            exists = table_exists(ch, spec.name)
            for dataset in state.datasets(conn):
                wm = state.watermark(conn, settings.archive.watermark_table, dataset.id, spec.name)
                if wm is None:
                    continue
                lo = wm - grace - timedelta(microseconds=1)
                pg = postgres_digest(conn, spec, dataset.id, lo, wm)
                chd = clickhouse_digest(ch, spec, dataset.id, lo, wm) if exists else Digest(0, 0)
                missing = late_ids(conn, ch, spec, dataset.id, wm, grace)
                ok = pg.rows == chd.rows and pg.checksum == chd.checksum and not missing
                checks.append(
                    Check(
                        f"{spec.name}/{dataset.slug}",
                        ok,
                        {"rows": pg.rows, "checksum": pg.checksum},
                        {"rows": chd.rows, "checksum": chd.checksum, "missing": len(missing)},
                        f"grace window ({lo.isoformat()}, {wm.isoformat()}] and all rows below the watermark",
                    )
                )
    return checks
