"""Own the dbt assets: one translator (group = capability folder) and `@dbt_assets` per target.

Lineage models build on Postgres, archive models on ClickHouse (chDB or a server). dbt tests become
asset checks; a failing test fails the step, so it gates what depends on it.
"""

from collections.abc import Iterator, Mapping
from typing import Any

from dagster import AssetExecutionContext
from dagster_dbt import DagsterDbtTranslator, DagsterDbtTranslatorSettings, DbtCliResource, dbt_assets

from dagster_defs.project import clickhouse_project, postgres_project
from dagster_defs.resources import MigrataResource
from python_ops.lineage.refresh import MODELS

CHDB_POOL = "chdb"  # one step at a time may hold chDB's data directory


class MigrataDbtTranslator(DagsterDbtTranslator):
    """Group each model by its capability folder (`lineage`, `archive`)."""

    def get_group_name(self, dbt_resource_props: Mapping[str, Any]) -> str | None:
        fqn = dbt_resource_props.get("fqn", [])
        if dbt_resource_props.get("resource_type") == "source":
            return fqn[1] if len(fqn) > 1 else None
        return fqn[1] if len(fqn) > 2 else super().get_group_name(dbt_resource_props)


translator = MigrataDbtTranslator(settings=DagsterDbtTranslatorSettings(enable_asset_checks=True))


@dbt_assets(
    manifest=postgres_project.manifest_path,
    dagster_dbt_translator=translator,
    name="lineage_dbt_models",
    select="fqn:lineage",
    # the incremental, monthly-partitioned models are built by `lineage_denormalized_models`
    exclude=" ".join(MODELS),
)
def lineage_dbt_models(
    context: AssetExecutionContext, dbt_postgres: DbtCliResource, migrata: MigrataResource
) -> Iterator[Any]:
    """Build the lineage models on Postgres (`dbt build --target postgres`)."""
    # cautious: a gate that also reads the partitioned models runs with them, not with the staging views
    yield from dbt_postgres.cli(["build", "--indirect-selection", "cautious"], context=context).stream()


@dbt_assets(
    manifest=clickhouse_project.manifest_path,
    dagster_dbt_translator=translator,
    name="archive_dbt_models",
    select="fqn:archive",
    pool=CHDB_POOL,
)
def archive_dbt_models(
    context: AssetExecutionContext, dbt_clickhouse: DbtCliResource, migrata: MigrataResource
) -> Iterator[Any]:
    """Build the archive models on ClickHouse (`dbt build --target clickhouse`)."""
    yield from dbt_clickhouse.cli(["build"], context=context).stream()


assets = [lineage_dbt_models, archive_dbt_models]
asset_checks: list[Any] = []
schedules: list[Any] = []
sensors: list[Any] = []
