"""Own the metadata of each operation's materialization, built from `python_ops` reports: the Dagster
asset bodies and the CLI's runless reports (`dagster_defs.reporting`) call the same functions, so an
archive run, a maintenance run or a repartitioning records the same metadata whichever way it ran.
Light on purpose: it loads no dbt manifest and no Definitions.
"""

from typing import Any

from dagster_defs.conventions import ROW_COUNT, typed_metadata
from python_ops import backups, partitions
from python_ops.archive.apply import summarize
from python_ops.engines.context import Engines


def archive_metadata(reports: list[Any]) -> dict[str, Any]:
    """The metadata of an archive run (Dagster's and the CLI's runless report): totals and one row per
    (dataset, table) operation."""
    rows = [
        {
            "operation": r.operation,
            "status": r.status,
            "rows": int(r.details.get("records_migrated", r.details.get("deleted", 0))),
            "bytes": int(r.details.get("bytes", 0)),
            "elapsed_s": round(r.elapsed_s, 3),
        }
        for r in reports
    ]
    return typed_metadata(summarize(reports) | ({"operations": rows} if rows else {}))


def maintenance_metadata(report: Any, health: list[Any]) -> dict[str, Any]:
    """The metadata of a maintenance run (Dagster's and the CLI's runless report)."""
    meta = report.as_metadata() | {
        "managed_tables": len(health),
        "partitions": sum(len(h.partitions) for h in health),
        "rows": sum(h.rows for h in health),
        ROW_COUNT: sum(h.rows for h in health),
        "default_rows": sum(h.default_rows for h in health),
        "max_skew": max((h.skew for h in health), default=0.0),
        "tables": [
            {
                "table": h.table,
                "partitions": len(h.partitions),
                "rows": h.rows,
                "default_rows": h.default_rows,
            }
            for h in health
        ],
    }
    return typed_metadata(meta)


def repartitionings_metadata(engines: Engines) -> dict[str, Any]:
    """The metadata of the repartitionings' state (Dagster's and the CLI's runless report)."""
    rows = partitions.runs(engines)
    backup_summary = backups.backup_status(engines)
    return typed_metadata(
        {
            "repartitionings": len(rows),
            "swapped": sum(r["step"] == "swapped" for r in rows),
            "in_progress": sum(r["step"] not in ("swapped", "rolled_back") for r in rows),
            "runs": [{k: v for k, v in r.items()} for r in rows],
        }
        | {f"backups_{k}": v for k, v in backup_summary.items()}
    )
