"""Times cross between Postgres and ClickHouse as the same instants, whatever zone and date style the
sessions of either side default to: a Postgres database set to another zone and DateStyle is archived,
read by the CLI, rebuilt by dbt in a process whose own zone is a third one, cleaned up and restored
without one time shifted; a ClickHouse session that would read Postgres' times shifted is refused
before any row moves."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import psycopg
import pytest
from psycopg import sql

from python_ops.archive.transport import check_times_cross
from python_ops.db import SESSION_ENV
from python_ops.dbt_project import run_dbt
from python_ops.engines import control
from python_ops.errors import ConfigError
from python_ops.settings import MigrataSettings
from tests.python_ops.archive.conftest import CUTOFF, NOW, cleanup, restore, run

TABLE, TIME = "lifecycle_audit_log", "created_at"


def _in_postgres(conn: psycopg.Connection) -> dict[str, int]:
    """Each row's time as microseconds since the epoch (an instant, not a wall-clock text)."""
    rows = conn.execute(f"SELECT id, (extract(epoch FROM {TIME}) * 1000000)::bigint FROM {TABLE}").fetchall()
    return dict(rows)


def _in_clickhouse(settings: MigrataSettings) -> dict[str, int]:
    with control.clickhouse(settings) as ch:
        rows = ch.query(f"SELECT id, toUnixTimestamp64Micro({TIME}) FROM {TABLE} FINAL").result_rows
    return dict(rows)


def test_a_store_in_another_zone_and_date_style_keeps_every_instant_through_run_rebuild_cleanup_and_restore(
    settings: MigrataSettings,
    conn: psycopg.Connection,
    seeded: dict[str, set[str]],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for setting in ("timezone = 'America/New_York'", "datestyle = 'SQL, DMY'"):  # 30/11/2026 07:00:00 EST
        alter = sql.SQL("ALTER DATABASE {} SET " + setting)
        conn.execute(alter.format(sql.Identifier(conn.info.dbname)))
    held = _in_postgres(conn)
    aged = {r[0] for r in conn.execute(f"SELECT id FROM {TABLE} WHERE {TIME} <= %s", (CUTOFF,)).fetchall()}

    reports = run(settings, table=TABLE, now=NOW)  # pull: ClickHouse reads the rows with postgresql()
    assert all(r.ok for r in reports), [r.summary() for r in reports]
    archived = _in_clickhouse(settings)
    assert set(archived) == aged and archived == {i: held[i] for i in aged}

    # the CLI, a fresh process with no PGTZ or PGDATESTYLE of its own, reads the store's times
    env = {k: v for k, v in os.environ.items() if k not in SESSION_ENV} | {
        "MIGRATA_HOME": str(settings.home), "MIGRATA_POSTGRES__DSN": settings.postgres.dsn or "",
        "MIGRATA_CLICKHOUSE__DATABASE": settings.clickhouse.database,
    }  # fmt: skip
    cli = [str(Path(sys.executable).with_name("migrata")), "--json", "archive", "status"]
    shown = subprocess.run(cli, env=env, capture_output=True, text=True, timeout=120)
    assert shown.returncode == 0, shown.stderr
    marks = {t["watermark"] for t in json.loads(shown.stdout)["tables"] if t["table"] == TABLE}
    assert marks == {CUTOFF.isoformat()}

    # dbt rebuilds the dropped table from Postgres' rows at or below the watermarks, in a process whose
    # own zone is Tokyo and that inherits no PGTZ: the profile and the chDB driver set both sessions
    with control.clickhouse(settings) as ch:
        ch.command(f"DROP TABLE {TABLE}")
    with monkeypatch.context() as env:
        env.setenv("TZ", "Asia/Tokyo")
        env.delenv("PGTZ", raising=False)
        built = run_dbt(["build", "--target", "clickhouse", "--select", TABLE], settings, capture=True)
    assert "ERROR=0" in built.stdout, built.stdout[-2000:]
    assert _in_clickhouse(settings) == archived

    cleanup(settings, table=TABLE)
    assert len(_in_postgres(conn)) < len(held)
    back = restore(settings, table=TABLE, since=NOW - timedelta(days=60))  # INSERT INTO postgresql()
    assert all(r.ok for r in back), [r.summary() for r in back]
    after = _in_postgres(conn)  # with the archive's own audit events, written since
    assert {i: after.get(i) for i in held} == held


def test_a_clickhouse_session_reading_postgres_times_in_another_zone_is_refused(
    settings: MigrataSettings,
    conn: psycopg.Connection,
    clickhouse,  # type: ignore[no-untyped-def]
) -> None:
    check_times_cross(clickhouse, conn, settings.clickhouse.pg_collection)  # both sessions in UTC: passes

    clickhouse.set_client_setting("session_timezone", "Asia/Tokyo")  # Postgres' session stays UTC
    with pytest.raises(ConfigError) as refused:
        check_times_cross(clickhouse, conn, settings.clickhouse.pg_collection)
    assert "9:00:00 early" in str(refused.value) and "ALTER ROLE" in (refused.value.hint or "")
