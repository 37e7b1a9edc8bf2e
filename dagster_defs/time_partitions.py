"""Own the monthly partitions of the lineage models: from the store's first month to the current one.

The first month is `MIGRATA_DAGSTER__PARTITIONS_START` (YYYY-MM) when set; otherwise it is discovered
when the definitions load, as the month of the oldest run in `lineage_runs` (one indexed-free
aggregate, bounded by a 3 s connect timeout); with no reachable store or no run yet it is the current
month. The current month is the last partition (`end_offset=1`), so it is what the UI selects first
and what "Materialize all" builds. A code server started before older events arrived shows their
months after a reload.
"""

from __future__ import annotations

from datetime import UTC, date, datetime

import psycopg
from dagster import MonthlyPartitionsDefinition

from python_ops.engines import control
from python_ops.settings import MigrataSettings, load_settings


def _current_month() -> date:
    today = datetime.now(UTC).date()
    return today.replace(day=1)


def store_first_month(settings: MigrataSettings) -> date | None:
    """The month of the oldest run in the store, or None (no run, or the store is not reachable)."""
    try:
        with psycopg.connect(control.postgres_dsn(settings), connect_timeout=3, autocommit=True) as conn:
            row = conn.execute("SELECT min(first_event_time) FROM lineage_runs").fetchone()
    except psycopg.Error:
        return None
    first = row[0] if row else None
    return first.astimezone(UTC).date().replace(day=1) if first else None


def first_month(settings: MigrataSettings) -> date:
    """The first monthly partition: the setting, else the store's first month, else the current month."""
    configured = settings.dagster.partitions_start
    if configured:
        return configured
    return min(store_first_month(settings) or _current_month(), _current_month())


def monthly_partitions(settings: MigrataSettings) -> MonthlyPartitionsDefinition:
    """Monthly partitions of run_date from `first_month`; the current month is included (end_offset=1)."""
    return MonthlyPartitionsDefinition(start_date=first_month(settings).isoformat(), end_offset=1)


monthly = monthly_partitions(load_settings())
