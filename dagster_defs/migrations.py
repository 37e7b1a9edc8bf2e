"""Own the migration assets: the lint gate, on-demand online-safe upgrades, status, the drift check."""

from collections.abc import Iterator
from typing import Any

from dagster import (
    AssetCheckResult,
    AssetCheckSpec,
    AssetExecutionContext,
    AssetKey,
    Config,
    MaterializeResult,
    asset,
    asset_check,
    define_asset_job,
)

from dagster_defs.conventions import asset_kwargs, typed_metadata
from dagster_defs.resources import MigrataResource
from python_ops import migrations
from python_ops.runner import LogProgress

UPGRADE_KEY = AssetKey(["migrations", "migrations_upgrade"])
STATUS_KEY = AssetKey(["migrations", "migrations_status"])
LINT_KEY = AssetKey(["migrations", "migrations_lint"])
LINT_CHECK = "migrations_pending_revisions_pass_lint"


class UpgradeConfig(Config):
    """Placeholders for the revisions; needing-downtime revisions are never run from here."""

    chunk_size: int | None = None
    heavy_threshold: int | None = None


@asset(
    key=LINT_KEY,
    **asset_kwargs("migrations"),
    check_specs=[
        AssetCheckSpec(
            LINT_CHECK,
            asset=LINT_KEY,
            blocking=True,
            description="every pending revision's SQL agrees with its declarations on the live tables",
        )
    ],
)
def migrations_lint(migrata: MigrataResource) -> Iterator[Any]:
    """Lint the revisions an upgrade would run against the live tables; a failure blocks the upgrade."""
    planned = migrations.plan_upgrade(
        migrata.dsn, "heads", lint=True, big_table_rows=migrata.settings.migrations.lint_big_table_rows
    )
    failing = [f.message for s in planned.steps if s.lint for f in s.lint.of_level("fail")]
    estimates = [s.lint.lock_estimate_s for s in planned.steps if s.lint and s.lint.lock_estimate_s]
    yield MaterializeResult(
        metadata=typed_metadata(
            {
                "pending_revisions": len(planned.steps),
                "failing_revisions": len(
                    {s.info.revision for s in planned.steps if s.lint and s.lint.verdict == "fail"}
                ),
                "longest_lock_estimate_s": max(estimates, default=0.0),
            }
        )
    )
    yield AssetCheckResult(
        check_name=LINT_CHECK, passed=not failing, metadata=typed_metadata({"failures": failing})
    )


@asset(key=UPGRADE_KEY, **asset_kwargs("migrations"), deps=[LINT_KEY])
def migrations_upgrade(
    context: AssetExecutionContext, config: UpgradeConfig, migrata: MigrataResource
) -> MaterializeResult:
    """Run pending online-safe migrations; hold back any that need downtime for an operator."""
    settings = migrata.settings.migrations
    result = migrations.migrate(
        migrata.dsn,
        "heads",
        stop_before_downtime=True,
        on_progress=LogProgress(context.log),
        lock_timeout_s=settings.lock_timeout_s,
        # None means "the setting"; any given value (0 included) is validated by migrate(), exit on error
        chunk_size=config.chunk_size if config.chunk_size is not None else settings.chunk_size,
        heavy_threshold=config.heavy_threshold
        if config.heavy_threshold is not None
        else settings.heavy_threshold_rows,
    )
    for warning in result.warnings:
        context.log.warning(warning)
    return MaterializeResult(
        metadata=typed_metadata(
            {
                "applied": len(result.applied),
                "revisions": list(result.applied),
                "held_back_needing_downtime": list(result.held_back),
                "data_migrations_deferred": len(result.warnings),
                "summary": result.summary(),
            }
        )
    )


@asset(key=STATUS_KEY, **asset_kwargs("migrations"), deps=[UPGRADE_KEY])
def migrations_status(migrata: MigrataResource) -> MaterializeResult:
    """Record each component's current revision, head and pending count."""
    return MaterializeResult(metadata=typed_metadata(migrations.status(migrata.dsn).as_metadata()))


@asset_check(asset=STATUS_KEY, name="migrations_schema_matches_head")
def migrations_schema_matches_head(migrata: MigrataResource) -> AssetCheckResult:
    """Each component's live schema equals what its revisions create, and it is at head."""
    report = migrations.check(migrata.dsn, admin_dsn=migrata.settings.migrations.scratch_admin_dsn)
    return AssetCheckResult(passed=report.ok, metadata=typed_metadata(report.as_metadata()))


migrations_upgrade_job = define_asset_job(
    "migrations_upgrade_job",
    selection=[LINT_KEY, UPGRADE_KEY, STATUS_KEY],
    description="Lint the pending revisions; if they pass, run the online-safe ones, then record the status.",
)

assets = [migrations_lint, migrations_upgrade, migrations_status]
asset_checks = [migrations_schema_matches_head]
schedules: list[Any] = []
sensors: list[Any] = []
jobs = [migrations_upgrade_job]
