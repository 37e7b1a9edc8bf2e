"""Cluster mode of the archive models, rehearsed on one chDB node: dbt-clickhouse renders the cluster DDL
(ON CLUSTER, Replicated local tables, Distributed tables, `migrated_data` over them) exactly as a real
cluster would receive it; the shim records it and runs it with only the cluster parts removed. What
needs a real cluster (replication, inserts spread over shards, Keeper) is not tested here."""

from __future__ import annotations

import re
from datetime import timedelta
from pathlib import Path

import psycopg
import pytest

from python_ops.dbt_project import rehearsal_log, run_dbt
from python_ops.engines import control
from python_ops.engines.cluster_rehearsal import recorded, single_node
from python_ops.settings import MigrataSettings
from tests.python_ops.archive.conftest import NOW, TABLES, ch_ids

CLUSTER = "migrata_cluster"
REPLICATED = "ReplicatedReplacingMergeTree('/clickhouse/tables/{uuid}/{shard}', '{replica}', __migrated_at)"
# statements that change the schema: on a cluster each must run on every node
DDL = re.compile(r"^(create|alter|drop|rename|exchange|truncate)\b", re.I)


def _text(sql: str | None) -> str:
    """A statement without dbt's leading query comment, on one line."""
    return " ".join(re.sub(r"^\s*/\*.*?\*/", "", sql or "", flags=re.S).split())


def test_single_node_removes_only_the_cluster_parts() -> None:
    assert single_node(
        f'create table `db`.`t_local` ON CLUSTER "{CLUSTER}" (x UInt32) engine = {REPLICATED} '
        "order by (x) partition by toYYYYMM(t)"
    ) == (
        "create table `db`.`t_local` (x UInt32) engine = ReplacingMergeTree(__migrated_at) "
        "order by (x) partition by toYYYYMM(t)"
    )
    assert single_node("engine = ReplicatedMergeTree('/p/{shard}', '{replica}') order by x") == (
        "engine = MergeTree() order by x"
    )
    assert (
        single_node(
            f'create or replace table `db`.`t` ON CLUSTER "{CLUSTER}" as `db`.`t_local` '
            f"ENGINE = Distributed('{CLUSTER}', 'db', 't_local', cityHash64(`a`, `b`))"
        )
        == "create or replace table `db`.`t` ENGINE = Alias('db', 't_local')"
    )
    assert single_node(
        f'select count(distinct _shard_num) > 1 from clusterAllReplicas("{CLUSTER}", system.tables) as t'
    ) == ("select count(distinct 1) > 1 from system.tables as t")
    assert single_node(f'SYSTEM SYNC REPLICA ON CLUSTER "{CLUSTER}" db.t') is None
    plain = "insert into `db`.`t` select * from postgresql(pg, table='x') where a in (select 1)"
    assert single_node(plain) == plain


def test_settings_refuse_a_rehearsal_without_a_cluster_or_on_a_server() -> None:
    with pytest.raises(ValueError, match="MIGRATA_CLICKHOUSE__CLUSTER"):
        MigrataSettings(clickhouse={"cluster_rehearsal": True})  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="URL unset"):
        MigrataSettings(
            clickhouse={"cluster": CLUSTER, "cluster_rehearsal": True, "url": "http://ch:8123"}  # type: ignore[arg-type]
        )
    with pytest.raises(ValueError, match="cluster name"):
        MigrataSettings(clickhouse={"cluster": "a cluster; drop"})  # type: ignore[arg-type]
    assert MigrataSettings(clickhouse={"cluster": ""}).clickhouse.cluster is None  # type: ignore[arg-type]


def _watermark_everything_older_than(conn: psycopg.Connection, days: int) -> None:
    conn.execute(
        "INSERT INTO migration_watermarks (dataset_id, table_name, watermark_timestamp) "
        "SELECT d.id, t.name, %s FROM datasets d CROSS JOIN unnest(%s::text[]) AS t(name)",
        (NOW - timedelta(days=days), list(TABLES)),
    )


def _pg_ids_at_or_below(conn: psycopg.Connection, table: str, days: int) -> set[str]:
    time = "accessed_at" if table == "dataset_access_audit" else "created_at"
    rows = conn.execute(f"SELECT id FROM {table} WHERE {time} <= %s", (NOW - timedelta(days=days),))
    return {r[0] for r in rows.fetchall()}


def test_cluster_ddl_is_rendered_for_the_cluster_and_builds_on_one_node(
    settings: MigrataSettings, conn: psycopg.Connection, seeded: dict[str, set[str]], tmp_path: Path
) -> None:
    _watermark_everything_older_than(conn, 10)
    cluster = settings.model_copy(
        update={
            "clickhouse": settings.clickhouse.model_copy(
                update={"cluster": CLUSTER, "cluster_rehearsal": True}
            )
        }
    )
    db = cluster.clickhouse.database
    log = rehearsal_log(cluster)
    log.unlink(missing_ok=True)
    args = ["--target", "clickhouse", "--select", "fqn:archive", "fqn:migrata_archive"]
    args += ["--target-path", str(tmp_path / "target"), "--log-path", str(tmp_path / "logs")]
    run_dbt(["run", *args], cluster, capture=True)

    statements = recorded(log)
    # dbt-clickhouse's connection probe (check_exchange) creates and drops two tables on the node it is
    # connected to, without ON CLUSTER, as it would on a real cluster; the models' DDL is all the rest
    ddl = [
        _text(s["sql"])
        for s in statements
        if DDL.match(_text(s["sql"])) and "__dbt_exchange_test_" not in (s["sql"] or "")
    ]
    assert len(ddl) >= 4 * len(TABLES)
    # every schema change runs on every node, and one node ran it without any cluster part
    assert [s for s in ddl if f'ON CLUSTER "{CLUSTER}"' not in s] == []
    for s in statements:
        executed = s["executed"] or ""
        assert (
            "ON CLUSTER" not in executed and "Replicated" not in executed and "Distributed(" not in executed
        )

    for table in (*TABLES, "openlineage_events"):
        flat = ddl
        local = [s for s in flat if s.startswith(f"create table `{db}`.`{table}_local` ")]
        assert len(local) == 1 and REPLICATED in local[0] and "order by (" in local[0]
        distributed = [s for s in flat if s.startswith(f"create or replace table `{db}`.`{table}` ")]
        assert len(distributed) == 1
        engine = f"ENGINE = Distributed('{CLUSTER}', '{db}', '{table}_local', cityHash64("
        assert f"as `{db}`.`{table}_local` {engine}" in distributed[0]
    view = [s for s in ddl if f"view `{db}`.`migrated_data` " in s]
    assert len(view) == 1 and f'ON CLUSTER "{CLUSTER}"' in view[0]
    for table in TABLES:  # the view reads the Distributed tables: every shard's rows
        assert f"from `{db}`.`{table}` final" in view[0] and f"`{table}_local`" not in view[0]

    # one node: the Distributed tables are aliases of the local tables, which hold the rows
    expected = {t: _pg_ids_at_or_below(conn, t, 10) for t in TABLES}
    for table in TABLES:
        assert expected[table] and ch_ids(cluster, table) == expected[table]
    with control.clickhouse(cluster) as ch:
        engines = dict(
            ch.query("SELECT name, engine FROM system.tables WHERE database = currentDatabase()").result_rows
        )
        assert engines[f"{TABLES[0]}_local"] == "ReplacingMergeTree" and engines[TABLES[0]] == "Alias"
        assert ch.command("SELECT count() FROM migrated_data") == sum(map(len, expected.values()))

    # incremental on one node: a late row is appended through the Distributed table, nothing rebuilt
    conn.execute(
        "INSERT INTO lifecycle_audit_log (id, dataset_id, event_type, created_at) "
        "SELECT 'late-1', id, 'compaction', %s FROM datasets ORDER BY id LIMIT 1",
        (NOW - timedelta(days=20),),
    )
    log.unlink()
    run_dbt(["run", *args[:2], "--select", "lifecycle_audit_log", *args[4:]], cluster, capture=True)
    again = [_text(s["sql"]) for s in recorded(log)]
    assert not [s for s in again if s.startswith("create table") and "_local`" in s]
    assert [s for s in again if s.startswith(f"insert into `{db}`.`lifecycle_audit_log` ")]
    assert "late-1" in ch_ids(cluster, "lifecycle_audit_log")


def test_chdb_refuses_a_cluster_without_the_rehearsal(settings: MigrataSettings, tmp_path: Path) -> None:
    from python_ops.errors import MigrataError

    cluster = settings.model_copy(
        update={"clickhouse": settings.clickhouse.model_copy(update={"cluster": CLUSTER})}
    )
    with pytest.raises(MigrataError) as failed:
        run_dbt(
            ["run", "--target", "clickhouse", "--select", "fqn:archive", "--target-path", str(tmp_path)],
            cluster,
            capture=True,
        )
    assert f"cluster: {CLUSTER}" in str(failed.value) and "CLUSTER_REHEARSAL=true" in str(failed.value)
