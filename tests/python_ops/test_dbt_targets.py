"""`dbt build` is green on both targets against the real engines (Postgres server, chDB through the shim)."""

from __future__ import annotations

from pathlib import Path

import psycopg

from migrata_samples.lineage_store import store_raw
from migrata_samples.openlineage import food_delivery_events
from python_ops.dbt_project import run_dbt
from python_ops.engines import control
from python_ops.settings import MigrataSettings


def test_dbt_build_on_postgres_then_clickhouse(
    settings_env: MigrataSettings, conn: psycopg.Connection, tmp_path: Path
) -> None:
    events = food_delivery_events()
    store_raw(conn, events)

    pg = run_dbt(
        ["build", "--target", "postgres", "--target-path", str(tmp_path / "pg")], settings_env, capture=True
    )
    assert "ERROR=0" in pg.stdout
    staged = conn.execute("SELECT count(*) FROM stg_lineage__events_raw").fetchone()[0]
    assert staged == len(events)

    ch = run_dbt(
        ["build", "--target", "clickhouse", "--target-path", str(tmp_path / "ch")], settings_env, capture=True
    )
    assert "ERROR=0" in ch.stdout
    with control.clickhouse(settings_env) as client:
        assert client.command("SELECT count() FROM openlineage_events FINAL") == len(events)
    # the model reaches Postgres through the named collection: no host, port or user in its SQL
    compiled = next((tmp_path / "ch" / "compiled").rglob("openlineage_events.sql")).read_text()
    assert f"postgresql({settings_env.clickhouse.pg_collection}, schema='public'" in compiled
    port = settings_env.postgres.dsn.rsplit(":", 1)[1].split("/")[0]
    assert port not in compiled and "postgres@" not in compiled


def test_manifest_is_parsed_again_for_another_database(settings: MigrataSettings) -> None:
    """A manifest names its database in every node: one parsed for another store is stale."""
    import json

    from python_ops.dbt_project import ensure_manifest

    def databases(path: Path) -> set[str]:
        nodes = json.loads(path.read_text())["nodes"].values()
        return {n["database"] for n in nodes if n["resource_type"] == "model"}

    first = ensure_manifest(settings, "postgres")
    dbname = settings.postgres.dsn.rsplit("/", 1)[1]
    assert databases(first) == {dbname}
    parsed_at = first.stat().st_mtime_ns
    assert ensure_manifest(settings, "postgres").stat().st_mtime_ns == parsed_at  # unchanged: no reparse

    other = settings.model_copy(
        update={
            "postgres": settings.postgres.model_copy(
                update={"dsn": settings.postgres.dsn[: -len(dbname)] + "elsewhere"}
            )
        }
    )
    assert databases(ensure_manifest(other, "postgres")) == {"elsewhere"}
