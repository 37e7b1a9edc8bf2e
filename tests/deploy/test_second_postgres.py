"""migrata against any Postgres server by DSN: the suite's key flows through the `migrata` CLI on a
second server started apart from the embedded one (its own initdb), reached as a remote server is:
a password login of a role that is not a superuser, TLS required with `sslmode=verify-full`, and a
streaming read replica answering the read verbs. What only a real remote server can show is listed
in docs/deploy.md."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psycopg
import pytest

from python_ops.settings import MigrataSettings, load_settings
from tests.deploy.conftest import migrata, scratch_dir
from tests.deploy.pg_servers import SecondServer, second_server

JOB = "job:food_delivery:etl_orders_7_days"


@pytest.fixture(scope="module")
def server() -> Iterator[SecondServer]:
    with scratch_dir("migrata-second-pg-") as root, second_server(root) as started:
        yield started


@pytest.fixture
def remote(server: SecondServer, monkeypatch: pytest.MonkeyPatch) -> Iterator[MigrataSettings]:
    """Settings naming the second server by DSN (TLS, verify-full) and a chDB home of this test's own."""
    with scratch_dir("migrata-remote-home-") as home:
        monkeypatch.setenv("MIGRATA_HOME", str(home))
        monkeypatch.setenv("MIGRATA_POSTGRES__DSN", server.dsn())
        yield MigrataSettings(home=home, postgres={"dsn": server.dsn()})  # type: ignore[arg-type]


def ok(settings: MigrataSettings, *args: str, **env: str) -> str:
    result = migrata(settings, *args, **env)
    assert result.returncode == 0, f"migrata {' '.join(args)}: {result.stderr[-2000:]}"
    return result.stdout


def _count(dsn: str, query: str) -> int:
    with psycopg.connect(dsn) as conn:
        return conn.execute(query).fetchone()[0]  # type: ignore[index]


def test_key_flows_run_against_a_second_server_over_tls_and_reads_on_its_replica(
    server: SecondServer, remote: MigrataSettings, tmp_path: Path
) -> None:
    from migrata_samples import archive_rows
    from migrata_samples.openlineage import food_delivery_events
    from python_ops.dbt_project import dbt_env

    # dbt's own connections (lineage refresh) get the DSN's TLS settings, not libpq's `prefer`
    assert dbt_env(remote)["MIGRATA_DBT_PG_SSLMODE"] == "verify-full"
    assert dbt_env(remote)["MIGRATA_DBT_PG_SSLROOTCERT"] == str(server.ca)

    sessions_before = server.proxy.tls_sessions
    ok(remote, "engines", "up")
    ok(remote, "migrate", "upgrade")
    assert "0 revisions pending" in json.loads(ok(remote, "--json", "migrate", "status"))["summary"]

    # lineage: ingest the food_delivery events, refresh the dbt models (dbt connects with the DSN's TLS)
    events = tmp_path / "events.json"
    events.write_text(json.dumps(food_delivery_events(start=datetime.now(UTC) - timedelta(hours=2))))
    ingest = json.loads(ok(remote, "--json", "lineage", "ingest", str(events)))
    assert ingest["stored"] == 26 and not ingest["rejected"]
    ok(remote, "lineage", "refresh")
    assert _count(server.dsn(), "SELECT count(*) FROM run_lineage_denormalized") == 13
    primary_graph = json.loads(ok(remote, "lineage", "graph", JOB, "--depth", "2"))
    assert len(primary_graph["edges"]) >= 5, "the refreshed graph has the job's inputs and outputs"

    # archive: aged audit rows copied to ClickHouse and verified; chDB's postgresql() reads through the
    # TLS front too (its libpq asks for TLS, `prefer`); the watermark moves only after verification
    with psycopg.connect(server.dsn(), autocommit=True) as conn:
        archive_rows.generate(conn, rows=300, days=30, tag="remote")
    ok(remote, "archive", "run", "--no-cleanup")
    assert _count(server.dsn(), "SELECT count(*) FROM migration_watermarks") >= 3

    # partitions: a RANGE table declared and maintained (premade partitions exist afterwards)
    with psycopg.connect(server.dsn(), autocommit=True) as conn:
        conn.execute(
            "CREATE TABLE remote_events (id bigint, created_at timestamptz NOT NULL)"
            " PARTITION BY RANGE (created_at)"
        )
    ok(remote, "partitions", "manage", "remote_events", "--interval", "month", "--premake", "2")
    ok(remote, "partitions", "maintain")
    partitions = "SELECT count(*) FROM pg_inherits WHERE inhparent = 'remote_events'::regclass"
    assert _count(server.dsn(), partitions) >= 3, "the current month and two ahead"
    assert server.proxy.tls_sessions > sessions_before and server.proxy.refused_plain == 0

    # the read replica answers the read verbs with the primary's answer once it has replayed
    server.wait_for_replay()
    replica = ok(remote, "lineage", "graph", JOB, "--depth", "2", MIGRATA_POSTGRES__DSN=server.read_dsn)
    assert json.loads(replica) == primary_graph
    assert _count(server.read_dsn, "SELECT pg_is_in_recovery()::int") == 1
    assert _count(server.read_dsn, partitions) == _count(server.dsn(), partitions)


def test_an_untrusted_or_plain_connection_is_refused_in_one_line(
    server: SecondServer, remote: MigrataSettings
) -> None:
    untrusting = server.dsn(ca=Path(__file__))  # not the CA that signed the server's certificate
    result = migrata(remote, "migrate", "status", MIGRATA_POSTGRES__DSN=untrusting)
    assert result.returncode == 1
    assert "cannot connect to Postgres at migrata_app@127.0.0.1" in result.stderr
    assert server.app_password not in result.stderr + result.stdout
    assert "Traceback" not in result.stderr
    plain = migrata(remote, "migrate", "status", MIGRATA_POSTGRES__DSN=server.dsn(sslmode="disable"))
    assert plain.returncode == 1 and "requires TLS" in plain.stderr


def test_read_dsn_setting_names_the_replica(server: SecondServer, monkeypatch: pytest.MonkeyPatch) -> None:
    from python_ops.errors import ConfigError

    monkeypatch.setenv("MIGRATA_POSTGRES__READ_DSN", server.read_dsn)
    assert load_settings().postgres.read_dsn == server.read_dsn
    monkeypatch.setenv("MIGRATA_POSTGRES__READ_DSN", "postgresql://a@b:5432/x?sslmode")
    with pytest.raises(ConfigError, match="MIGRATA_POSTGRES__READ_DSN"):
        load_settings()
