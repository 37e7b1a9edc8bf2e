"""Own the dbt assets: one translator and two `@dbt_assets` on Postgres (unpartitioned, and the monthly
incremental models), one on ClickHouse.

Each dbt test runs in the step of the model it tests. The unpartitioned step (`lineage_dbt_models`)
excludes the incremental models *and everything that depends on them* (`model+`), so a gate that
reads a partitioned model (count parity, empty DEFAULT partition) is never run by the staging step;
it runs in `lineage_denormalized_models`, scoped to the partition's window (`--vars`), and its result is
recorded for that partition (`AssetCheckSpec.partitions_def`). dbt stops the models downstream of a
failing test, and Dagster blocks assets downstream of a failing blocking check. dbt runs without
colours, so the UI shows plain error text.

Metadata: dbt-built tables carry `dagster/row_count` (dagster-dbt `fetch_row_counts`, tables only:
views are not counted) and their column schema (`fetch_column_metadata`); kinds (dbt, postgres or
clickhouse), owners and a capability tag come from the translator.
"""

import json
from collections.abc import Iterator, Mapping
from typing import Any

from dagster import (
    AssetCheckSpec,
    AssetExecutionContext,
    AutomationCondition,
    BackfillPolicy,
    PartitionsDefinition,
)
from dagster_dbt import DagsterDbtTranslator, DagsterDbtTranslatorSettings, DbtCliResource, dbt_assets

from dagster_defs.conventions import OWNERS
from dagster_defs.project import clickhouse_project, postgres_project
from dagster_defs.resources import MigrataResource
from dagster_defs.time_partitions import monthly
from python_ops.lineage.refresh import MODELS, dbt_vars

CHDB_POOL = "chdb"  # one step at a time may hold chDB's data directory
REFRESH_TAG = "migrata/lineage_refresh"  # "incremental": only changed runs of the month; else rebuild it
PARTITIONED = frozenset(MODELS)  # the monthly-partitioned incremental lineage models


class MigrataDbtTranslator(DagsterDbtTranslator):
    """Group by capability folder; monthly partitions (and partition-scoped checks) for the incremental
    lineage models; owners, tags and automation for every dbt asset."""

    def get_group_name(self, dbt_resource_props: Mapping[str, Any]) -> str | None:
        fqn = dbt_resource_props.get("fqn", [])
        if dbt_resource_props.get("resource_type") == "source":
            return fqn[1] if len(fqn) > 1 else None
        return fqn[1] if len(fqn) > 2 else super().get_group_name(dbt_resource_props)

    def get_owners(self, dbt_resource_props: Mapping[str, Any]) -> list[str]:
        return [*OWNERS, *(super().get_owners(dbt_resource_props) or [])]

    def get_tags(self, dbt_resource_props: Mapping[str, Any]) -> Mapping[str, str]:
        group = self.get_group_name(dbt_resource_props)
        return {**super().get_tags(dbt_resource_props), **({"capability": group} if group else {})}

    def get_partitions_def(self, dbt_resource_props: Mapping[str, Any]) -> PartitionsDefinition | None:
        partitioned = dbt_resource_props.get("resource_type") == "model"
        return monthly if partitioned and dbt_resource_props.get("name") in PARTITIONED else None

    def get_automation_condition(self, dbt_resource_props: Mapping[str, Any]) -> AutomationCondition | None:
        if dbt_resource_props.get("resource_type") != "model":
            return None
        if dbt_resource_props.get("name") in PARTITIONED:
            # months are refreshed by `lineage_new_events_sensor` (the months whose runs changed)
            return None
        # views and archive tables: built when missing or when their SQL changed (a deploy)
        return AutomationCondition.on_missing() | AutomationCondition.code_version_changed()

    def get_asset_check_spec(
        self, asset_spec: Any, manifest: Mapping[str, Any], unique_id: str, project: Any
    ) -> AssetCheckSpec | None:
        spec = super().get_asset_check_spec(asset_spec, manifest, unique_id, project)
        if spec is None or asset_spec.partitions_def is None:
            return spec
        # the gate ran over the partition's window: record its result for that partition
        return AssetCheckSpec(
            spec.name,
            asset=spec.asset_key,
            description=spec.description,
            additional_deps=spec.additional_deps,
            blocking=spec.blocking,
            metadata=spec.metadata,
            partitions_def=asset_spec.partitions_def,
        )


translator = MigrataDbtTranslator(settings=DagsterDbtTranslatorSettings(enable_asset_checks=True))


@dbt_assets(
    manifest=postgres_project.manifest_path,
    dagster_dbt_translator=translator,
    name="lineage_dbt_models",
    select="fqn:lineage",
    # the incremental models, and every test reading one of them, run in `lineage_denormalized_models`
    exclude=" ".join(f"{m}+" for m in MODELS),
)
def lineage_dbt_models(
    context: AssetExecutionContext, dbt_postgres: DbtCliResource, migrata: MigrataResource
) -> Iterator[Any]:
    """Build the lineage staging models on Postgres with their tests."""
    invocation = dbt_postgres.cli(["build"], context=context)
    yield from invocation.stream().fetch_row_counts().fetch_column_metadata(with_column_lineage=False)


@dbt_assets(
    manifest=postgres_project.manifest_path,
    dagster_dbt_translator=translator,
    name="lineage_denormalized_models",
    select=" ".join(MODELS),
    partitions_def=monthly,
    backfill_policy=BackfillPolicy.single_run(),  # a month range is one dbt run over the whole window
)
def lineage_denormalized_models(
    context: AssetExecutionContext, dbt_postgres: DbtCliResource, migrata: MigrataResource
) -> Iterator[Any]:
    """Build the monthly-partitioned denormalized lineage tables of the partition window, with gates."""
    window = context.partition_time_window
    rebuild = context.run.tags.get(REFRESH_TAG) != "incremental"
    values = dbt_vars(window.start.date(), window.end.date(), rebuild=rebuild)
    # buildable: a gate runs when its models are selected or upstream of them, so a subset without
    # lineage_graph_edges skips the edge gate instead of testing a table it did not build
    args = ["build", "--vars", json.dumps(values), "--indirect-selection", "buildable"]
    invocation = dbt_postgres.cli(args, context=context)
    yield from invocation.stream().fetch_row_counts().fetch_column_metadata(with_column_lineage=False)


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
    # no fetch_row_counts here: it would open chDB's directory from this process while dbt holds it
    yield from dbt_clickhouse.cli(["build"], context=context).stream()


assets = [lineage_dbt_models, lineage_denormalized_models, archive_dbt_models]
asset_checks: list[Any] = []
schedules: list[Any] = []
sensors: list[Any] = []
