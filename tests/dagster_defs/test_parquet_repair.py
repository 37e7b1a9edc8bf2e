"""The parquet repair assets: the health check blocks while entries are undecodable; repair fixes them."""

from __future__ import annotations

from pathlib import Path

import psycopg
import pytest
from dagster import AssetKey

from migrata_samples.parquet_store import damage_store, generate_store
from python_ops.parquet_repair.models import StoreConfig
from python_ops.parquet_repair.storage import Storage
from python_ops.settings import MigrataSettings

HEALTH = AssetKey(["parquet_partition_metadata"])
REPAIR = AssetKey(["parquet_metadata_repair"])


def _check_passed(result) -> bool:  # type: ignore[no-untyped-def]
    evaluations = result.get_asset_check_evaluations()
    assert [e.check_name for e in evaluations] == ["parquet_metadata_decodable"]
    return evaluations[0].passed


def test_health_check_blocks_then_repair_makes_it_pass(
    settings_env: MigrataSettings, conn: psycopg.Connection, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from dagster_defs.definitions import defs

    monkeypatch.setenv("MIGRATA_PARQUET__STORAGE_URL", str(tmp_path / "objects"))
    storage = Storage.from_url(str(tmp_path / "objects"))
    generated = generate_store(conn, StoreConfig(), storage, 20, max_rows=200)
    damage_store(conn, StoreConfig(), storage, generated, 0.3, mix={"legacy": 0.7, "corrupt": 0.3})
    job = defs.resolve_implicit_global_asset_job_def()

    health = job.execute_in_process(asset_selection=[HEALTH], raise_on_error=False)
    assert not _check_passed(health)
    meta = health.asset_materializations_for_node("parquet_partition_metadata")[0].metadata
    assert meta["counts"].value["legacy-undecodable"] == 4  # typed JSON metadata, not a JSON string

    both = job.execute_in_process(asset_selection=[REPAIR, HEALTH])
    assert both.success and _check_passed(both)
    repair_meta = both.asset_materializations_for_node("parquet_metadata_repair")[0].metadata
    assert repair_meta["migrated"].value == 6 and repair_meta["status"].value == "ok"
