"""Run the demo (`python -m migrata_samples.demo`, what `make demo` runs): engines up → migrations →
each capability's sample data → Dagster materializes every asset → each capability reports.

Each capability's part is a module of this package with `prepare(settings)` (write its sample data)
and `report(settings) -> Section`. Dagster runs as a subprocess (`dagster asset materialize` on the
product's own definitions), so this driver does not import it. Engines this run started are stopped
at the end; engines that were already up stay up.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from datetime import date
from pathlib import Path

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from migrata_samples import dagster_home
from migrata_samples.demo import archive, lineage, migrations, parquet_repair, partitions
from migrata_samples.demo.section import Section
from python_ops import migrations as migration_api
from python_ops.engines import control
from python_ops.errors import MigrataError
from python_ops.settings import MigrataSettings, load_settings

PARTS = (lineage, archive, parquet_repair, partitions, migrations)


def materialize_all(settings: MigrataSettings) -> float:
    """Materialize every Dagster asset (dbt builds on both targets included); return seconds taken."""
    started = time.monotonic()
    home = dagster_home.prepare(settings.home / "dagster")
    env = os.environ | {"MIGRATA_HOME": str(settings.home), "DAGSTER_HOME": str(home)}
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
            cwd=settings.home,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            check=False,
        )
    if result.returncode != 0:
        raise MigrataError("the Dagster materialization failed", hint=f"read {log}")
    return time.monotonic() - started


def run(settings: MigrataSettings, say: Console) -> list[Section]:
    """Run the whole demo and return the report's sections."""
    with control.running(settings) as engines:
        say.print(
            escape(f"engines up: Postgres {engines.postgres_target}, ClickHouse {engines.clickhouse_target}")
        )
        migration_api.migrate(control.postgres_dsn(settings), "heads")
        say.print("migrations applied")
        for part in PARTS:
            part.prepare(settings)
        say.print("materializing every asset through Dagster (dbt build on Postgres and ClickHouse)…")
        say.print(f"materialized in {materialize_all(settings):.1f}s")
        return [part.report(settings) for part in PARTS]


def main() -> int:
    out, err = Console(highlight=False), Console(stderr=True, highlight=False)
    try:
        sections = run(load_settings(), err)
    except MigrataError as exc:
        err.print(f"[red]error:[/red] {escape(exc.message)}")
        if exc.hint:
            err.print(f"[dim]hint: {escape(exc.hint)}[/dim]")
        return exc.exit_code
    for section in sections:
        table = Table(title=escape(section.title), title_justify="left")
        for column in section.columns:
            table.add_column(escape(column))
        for row in section.rows:
            table.add_row(*(escape("" if v is None else str(v)) for v in row))
        out.print(table)
        if section.summary:
            out.print(escape(section.summary))
        out.print()
    out.print("demo finished; engines it started are stopped (`migrata engines up` keeps them running)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
