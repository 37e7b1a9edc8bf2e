"""Own refreshing the denormalized lineage tables: run the incremental dbt models (and their gates).

`run_lineage_denormalized` and `run_parent_lineage_denormalized` are dbt models with the
`partitioned_incremental` materialization, `lineage_graph_edges`, `lineage_jobs_latest` and
`lineage_run_counts_daily` incremental models over the first (the list is batch.MODELS);
this module only chooses the dbt arguments (selection, partition window vars) so the CLI, Dagster and
tests build them the same way.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import date

from python_ops.dbt_project import run_dbt
from python_ops.lineage.batch import EDGES, MODELS
from python_ops.settings import MigrataSettings

GRAPH_MODEL = EDGES
__all__ = ["GRAPH_MODEL", "MODELS", "dbt_args", "dbt_vars", "refresh"]
LINEAGE_PATH = "fqn:lineage"


def dbt_vars(min_date: date | None = None, max_date: date | None = None, *, rebuild: bool = False) -> dict:
    """The `--vars` of a refresh: a [min_date, max_date) window and whether to rebuild it wholesale."""
    values: dict[str, object] = {}
    if min_date and max_date:
        values |= {"min_date": min_date.isoformat(), "max_date": max_date.isoformat()}
    if rebuild:
        values["rebuild"] = True
    return values


def dbt_args(
    command: str = "build",
    min_date: date | None = None,
    max_date: date | None = None,
    *,
    rebuild: bool = False,
    full_refresh: bool = False,
    select: Sequence[str] = (LINEAGE_PATH,),
) -> list[str]:
    """dbt arguments building the lineage models (by default all, with the staging models and tests)."""
    args = [command, "--target", "postgres", "--select", *select]
    values = dbt_vars(min_date, max_date, rebuild=rebuild)
    if values:
        args += ["--vars", json.dumps(values)]
    if full_refresh:
        args.append("--full-refresh")
    return args


def refresh(
    settings: MigrataSettings,
    min_date: date | None = None,
    max_date: date | None = None,
    *,
    rebuild: bool = False,
    full_refresh: bool = False,
    command: str = "build",
    select: Sequence[str] = (LINEAGE_PATH,),
) -> str:
    """Run the incremental lineage models through dbt, return its output; raise if a model or gate fails."""
    result = run_dbt(
        dbt_args(command, min_date, max_date, rebuild=rebuild, full_refresh=full_refresh, select=select),
        settings,
        capture=True,
    )
    return result.stdout
