"""Own `migrata demo`: engines up → migrations → each capability's sample data → Dagster materializes
everything → each capability reports.

A capability takes part by having `python_ops/<capability>/demo.py` with `prepare(settings)` (make
its sample data) and `report(settings) -> Section`. Dagster runs as a subprocess (`dagster asset
materialize`), so this module does not import it.
"""

from __future__ import annotations

import importlib
import os
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from types import ModuleType
from typing import Any

from python_ops import migrations
from python_ops.dbt_project import PROJECT_DIR
from python_ops.engines import control
from python_ops.errors import MigrataError
from python_ops.settings import MigrataSettings

CAPABILITIES = ("lineage", "archive", "parquet_repair", "partitions", "migrations")


@dataclass
class Section:
    """One block of the demo report: a titled table and a one-line summary."""

    title: str
    columns: list[str] = field(default_factory=list)
    rows: list[list[Any]] = field(default_factory=list)
    summary: str = ""


def _capability_modules() -> list[ModuleType]:
    modules = []
    for name in CAPABILITIES:
        try:
            modules.append(importlib.import_module(f"python_ops.{name}.demo"))
        except ModuleNotFoundError as exc:
            if exc.name not in (f"python_ops.{name}", f"python_ops.{name}.demo"):
                raise
    return modules


def materialize_all(settings: MigrataSettings) -> float:
    """Materialize every Dagster asset (dbt builds on both targets included); return seconds taken."""
    started = time.monotonic()
    env = os.environ | {"MIGRATA_HOME": str(settings.home)}
    env.setdefault("DAGSTER_HOME", str(settings.home / "dagster"))
    Path(env["DAGSTER_HOME"]).mkdir(parents=True, exist_ok=True)
    log = settings.home / "demo-dagster.log"
    with log.open("w") as out:
        result = subprocess.run(
            [
                str(Path(sys.executable).with_name("dagster")),
                "asset",
                "materialize",
                "--select",
                "*",
                # the lineage models carry monthly partitions: the demo's events are this month's
                "--partition",
                date.today().replace(day=1).isoformat(),
                "-m",
                "dagster_defs",
            ],
            cwd=PROJECT_DIR,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            check=False,
        )
    if result.returncode != 0:
        raise MigrataError("the Dagster materialization failed", hint=f"read {log}")
    return time.monotonic() - started


def run(settings: MigrataSettings, say: Callable[[str], None]) -> list[Section]:
    """Run the whole demo and return the report's sections."""
    sections: list[Section] = []
    with control.running(settings) as engines:
        dsn = control.postgres_dsn(settings)
        say(f"engines up: Postgres {engines.postgres_target}, ClickHouse {engines.clickhouse_target}")
        migrations.migrate(dsn, "heads")
        say("migrations applied")
        modules = _capability_modules()
        for module in modules:
            module.prepare(settings)
        say("materializing every asset through Dagster (dbt build on Postgres and ClickHouse)…")
        seconds = materialize_all(settings)
        say(f"materialized in {seconds:.1f}s")
        sections.extend(module.report(settings) for module in modules)
    return sections
