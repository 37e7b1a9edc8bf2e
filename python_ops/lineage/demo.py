"""Own the lineage part of the demo: what the raw events became in Postgres and ClickHouse."""

from __future__ import annotations

from python_ops.db import connect
from python_ops.demo import Section
from python_ops.engines import control
from python_ops.settings import MigrataSettings


def prepare(settings: MigrataSettings) -> None:
    """Nothing to prepare: the `lineage_events_raw` asset loads the food_delivery events."""


def report(settings: MigrataSettings) -> Section:
    with connect(control.postgres_dsn(settings)) as conn:
        raw, staged = conn.execute(
            "SELECT (SELECT count(*) FROM lineage_events_raw), (SELECT count(*) FROM stg_lineage__events_raw)"
        ).fetchone()  # type: ignore[misc]
        jobs = conn.execute("SELECT count(DISTINCT job_name) FROM lineage_events_raw").fetchone()[0]  # type: ignore[index]
    with control.clickhouse(settings) as ch:
        archived = ch.command("SELECT count() FROM openlineage_events FINAL")
    return Section(
        "lineage (food_delivery sample)",
        ["table", "engine", "rows"],
        [
            ["lineage_events_raw", "postgres", raw],
            ["stg_lineage__events_raw (dbt view)", "postgres", staged],
            ["openlineage_events (dbt incremental)", "clickhouse", archived],
        ],
        f"{raw} events from {jobs} jobs",
    )
