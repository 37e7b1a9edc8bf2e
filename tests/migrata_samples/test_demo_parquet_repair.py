"""The demo part: prepare damages a small store, the repair (Dagster's job in the demo) fixes it, the
report shows scan → repair → verify; a second run works the same (idempotent)."""

from __future__ import annotations

from pathlib import Path

from migrata_samples.demo import parquet_repair as demo
from python_ops.engines.context import Engines
from python_ops.parquet_repair import repair
from python_ops.parquet_repair.models import StoreConfig
from python_ops.parquet_repair.storage import Storage
from python_ops.settings import MigrataSettings


def test_demo_twice(dsn: str, tmp_path: Path) -> None:
    settings = MigrataSettings(home=tmp_path, postgres={"dsn": dsn})  # type: ignore[arg-type]
    for _ in range(2):
        demo.prepare(settings)
        done = repair(
            Engines.from_dsn(dsn), StoreConfig.from_settings(settings), Storage.from_settings(settings)
        )
        assert done.status == "ok" and done.details["migrated"] == 60
        section = demo.report(settings)
        rows = {r[0]: r for r in section.rows}
        assert rows["scan before"][1:5] == [140, 36, 24, 0]
        assert rows["scan after"][1:6] == [200, 0, 0, 0, "ok"]
        assert rows["verify"][1] == 200 and "0 differences" in rows["verify"][5]
        assert "verify ok" in section.summary
