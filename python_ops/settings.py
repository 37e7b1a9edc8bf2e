"""Own migrata's configuration: one `MigrataSettings`, read from `MIGRATA_*` env vars and `.env`.

Nested values use `__`: `MIGRATA_POSTGRES__DSN`, `MIGRATA_ARCHIVE__BATCH_SIZE`. Defaults come from the
seed documents. Settings are read only at the edges (CLI callback, Dagster resources) and passed to
operations as plain arguments.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from functools import cached_property
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, Field, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from python_ops.errors import ConfigError

DEFAULT_PG_PORT = 55432


class PostgresSettings(BaseModel):
    """Where Postgres is: a DSN for any server, or the embedded server under `home`."""

    dsn: str | None = Field(
        default=None, description="libpq DSN/URI of an existing server; when set, nothing is started."
    )
    read_dsn: str | None = Field(
        default=None,
        description="libpq DSN/URI of a read replica for read-heavy use (the lineage read API); "
        "unset: reads go to `dsn`.",
    )
    port: int = Field(default=DEFAULT_PG_PORT, ge=1, le=65535, description="TCP port of the embedded server.")
    database: str = Field(default="migrata", description="Database the embedded server creates and uses.")
    user: str = "postgres"

    @field_validator("dsn", "read_dsn")
    @classmethod
    def _dsn_parses(cls, value: str | None) -> str | None:
        if value is None or value == "":
            return None
        from psycopg.conninfo import conninfo_to_dict

        try:
            parts = conninfo_to_dict(value)
        except Exception as exc:  # psycopg raises ProgrammingError with libpq's reason
            raise ValueError(f"cannot parse the Postgres DSN: {exc}") from None
        # libpq accepts any text as the port and fails only at connect time; a comma separates the
        # ports of a multi-host DSN
        for port in str(parts.get("port") or "").split(","):
            if port and not (port.isdigit() and 1 <= int(port) <= 65535):
                raise ValueError(f"the DSN's port {port!r} is not a number from 1 to 65535")
        return value


class ClickHouseSettings(BaseModel):
    """Where ClickHouse is: an HTTP URL for any server, or chDB in-process under `home`."""

    url: str | None = Field(
        default=None,
        description="http(s)://user:password@host:8123 of a ClickHouse server; when unset chDB is used.",
    )
    database: str = Field(default="migrata", description="ClickHouse database migrata writes to.")
    pg_collection: str = Field(
        default="migrata_pg",
        description="Named collection holding the Postgres credentials for postgresql().",
    )
    pg_host_from_clickhouse: str | None = Field(
        default=None, description="Postgres host as the ClickHouse server sees it (default: the DSN's host)."
    )
    cluster: str | None = Field(
        default=None,
        description="Cluster (in the server's remote_servers) the archive models are built on: ON CLUSTER "
        "DDL, Replicated*MergeTree local tables and Distributed tables over them; unset: one server.",
    )
    cluster_rehearsal: bool = Field(
        default=False,
        description="With chDB and a cluster: record the cluster DDL dbt renders and run it on this one node "
        "with only its cluster parts removed (python_ops/engines/cluster_rehearsal.py).",
    )

    @field_validator("cluster")
    @classmethod
    def _cluster_name(cls, value: str | None) -> str | None:
        if not value or not value.strip():
            return None  # an empty name is no cluster, as dbt-clickhouse reads it
        if not all(c.isalnum() or c in "_-." for c in value):
            raise ValueError("must be a cluster name of remote_servers (letters, digits, _ - .)")
        return value

    @model_validator(mode="after")
    def _rehearsal_is_chdb_with_cluster(self) -> ClickHouseSettings:
        if self.cluster_rehearsal and (self.url or not self.cluster):
            raise ValueError(
                "cluster_rehearsal runs a cluster's DDL on chDB: set MIGRATA_CLICKHOUSE__CLUSTER and leave "
                "MIGRATA_CLICKHOUSE__URL unset, or turn cluster_rehearsal off"
            )
        return self

    @field_validator("url")
    @classmethod
    def _url_is_http(cls, value: str | None) -> str | None:
        if not value:
            return None
        if not value.startswith(("http://", "https://")):
            raise ValueError(
                "must start with http:// or https:// (for example http://default:@localhost:8123)"
            )
        return value


class DbtSettings(BaseModel):
    """How dbt is invoked."""

    threads: int = Field(default=2, ge=1)


class LineageSettings(BaseModel):
    """Lineage ingestion, server, backfill and refresh (seed 000: chunk size 10000)."""

    chunk_size: int = Field(default=10_000, ge=1, description="Default of `lineage backfill --chunk-size`.")
    auto_backfill_max_runs: int = Field(default=100_000, ge=0)
    premake_months: int = Field(default=3, ge=0)
    earliest_event_time: datetime = Field(
        default=datetime(2000, 1, 1, tzinfo=UTC), description="Events dated before this are rejected."
    )
    max_future_hours: float = Field(default=24, ge=0, description="Events dated further ahead are rejected.")
    max_json_depth: int = Field(default=64, ge=4, le=500, description="Deepest JSON nesting accepted.")
    max_body_bytes: int = Field(
        default=8 * 1024 * 1024, ge=1024, description="Largest request body (HTTP 413)."
    )
    max_decompressed_bytes: int = Field(
        default=32 * 1024 * 1024, ge=1024, description="Largest body after gzip decompression (HTTP 413)."
    )
    workers: int = Field(default=2, ge=1, description="uvicorn worker processes of `lineage serve`.")
    pool_size: int = Field(default=4, ge=1, description="Postgres connections per server worker process.")
    writers: int = Field(default=2, ge=1, description="Group-commit writer threads per worker process.")
    group_max_events: int = Field(default=2_000, ge=1, description="Events written per group commit at most.")
    refresh_interval_s: float = Field(default=0.5, gt=0, description="Micro-batch refresher period.")
    refresher: bool = Field(default=True, description="Run the micro-batch refresher inside `lineage serve`.")


class ArchiveTable(BaseModel):
    """One archived table: adding a table to the archive is one entry of this kind (its dbt model and
    source entry are written from it, see python_ops.dbt_project).

    The table needs a text/uuid/integer id, a dataset column and a NOT NULL timestamptz time column
    (indexed together with the dataset column); the payload column joins the id and time in the
    Postgres-vs-ClickHouse checksum.
    """

    name: str
    id_column: str = "id"
    time_column: str = "created_at"
    dataset_column: str = "dataset_id"
    payload_column: str = "payload"


def _default_archive_tables() -> list[ArchiveTable]:
    return [
        ArchiveTable(name="dataset_access_audit", time_column="accessed_at", payload_column="metadata"),
        ArchiveTable(name="lifecycle_audit_log", time_column="created_at", payload_column="payload"),
        ArchiveTable(name="lifecycle_job_runs", time_column="created_at", payload_column="metadata"),
    ]


class ArchiveSettings(BaseModel):
    """Postgres → ClickHouse archive (seed 004 defaults)."""

    enabled: bool = True
    batch_size: int = Field(default=10_000, ge=1, description="Rows per cleanup delete transaction.")
    max_age_hours: float = Field(default=168, ge=0)
    grace_period_hours: float = Field(default=24, ge=0)
    target_table: str = Field(default="migrated_data", description="ClickHouse view over all archived rows.")
    watermark_table: str = "migration_watermarks"
    transport: Literal["pull", "push"] = Field(
        default="pull",
        description="pull: ClickHouse reads Postgres with postgresql(); push: migrata streams COPY → Arrow.",
    )
    copy_batch_rows: int = Field(
        default=5_000_000,
        ge=1,
        description="Rows per copy slice (a set-based INSERT; one checkpoint each). Where Postgres would "
        "read a slice this size by scanning the whole table, the plan takes up to 8x narrower slices it "
        "reads through the (dataset, time) index.",
    )
    push_chunk_rows: int = Field(default=250_000, ge=1, description="Rows per Arrow insert on the push path.")
    # chDB runs inside migrata: the blocks ClickHouse reads, sorts and writes per partition during a pull
    # copy are this process's memory. ClickHouse's default squashes up to ~1M rows / 256 MiB per block
    # (1.4-1.6 GB peak at 3.8M audit rows); 128K rows / 64 MiB measured ~0.8-0.9 GB at the same rate.
    pull_block_rows: int = Field(
        default=131_072,
        ge=1,
        description="Rows per block a pull copy reads from Postgres and writes into ClickHouse "
        "(max_block_size, min_insert_block_size_rows): bounds chDB's memory in the migrata process.",
    )
    pull_block_bytes: int = Field(
        default=64 * 2**20,
        ge=1,
        description="Bytes at which a pull copy's block is written (min_insert_block_size_bytes).",
    )
    # ClickHouse's default (one insert stream per core) holds a block being sorted and written per stream.
    # On 2 cores, one stream halved the INSERT's own memory (~300 -> ~160 MB): the CLI process peaked at
    # 720-763 MB instead of 873-966 MB archiving 3.83M rows (alternating runs), 780 vs 978 MB at 15.3M rows,
    # for 2-5% more wall time at load 3-5 (Postgres renders the rows on the other core either way).
    pull_insert_threads: int = Field(
        default=1,
        ge=1,
        description="Parallel insert streams of a pull copy (max_insert_threads): each holds a block in "
        "this process's memory with chDB; raise it for a ClickHouse server with cores to spare.",
    )
    cleanup_after_run: bool = Field(
        default=False,
        description="Delete archived rows past the grace period from Postgres after every run (irreversible; "
        "`migrata archive cleanup --yes` does it on demand).",
    )
    schedule: str = Field(default="*/5 * * * *", description="Cron schedule of the archive job.")
    tables: list[ArchiveTable] = Field(default_factory=_default_archive_tables)


class ParquetSettings(BaseModel):
    """Cached parquet footers (seed 001) and the object storage holding their files."""

    table: str = "partition_metadata"
    path_column: str = "file_path"
    metadata_column: str = "metadata"
    storage_url: str | None = Field(
        default=None,
        description="Object storage root: a local directory or s3://bucket/prefix (default: home/objects).",
    )
    s3_endpoint: str | None = Field(
        default=None, description="http(s)://host:port of an S3-compatible endpoint (credentials: AWS_* env)."
    )
    s3_region: str = "us-east-1"
    s3_timeout_s: float = Field(default=5.0, gt=0, description="Connect/request timeout of S3 calls.")
    s3_max_attempts: int = Field(default=3, ge=1, description="Attempts per S3 request before giving up.")
    updated_at_column: str | None = Field(
        default="updated_at", description="Column stamped on repair; empty when the store has none."
    )
    batch_size: int = Field(default=500, ge=1)
    workers: int = Field(default=8, ge=1, le=256)


class PartitionsSettings(BaseModel):
    """Partition maintenance and repartitioning (seeds 000 V83/V85, 002)."""

    batch_size: int = Field(default=10_000, ge=1)
    backup_retention_days: int = Field(default=7, ge=0, le=36_500)
    lock_timeout_ms: int = Field(default=2_000, ge=1)
    list_partitions: int = Field(
        default=100, ge=2, le=1000, description="LIST partition count of repartition (2 to 1000)."
    )
    interval: Literal["month", "week", "day"] = "month"
    premake: int = Field(default=4, ge=0, description="Partitions kept ready ahead of the current one.")
    assume_free_bytes: int | None = Field(
        default=None,
        ge=0,
        description="Free disk of a remote server's data directory (the pre-check cannot see it from here).",
    )
    maintenance_schedule: str = Field(default="15 3 * * *", description="Cron of partitions_daily_schedule.")


class MigrationsSettings(BaseModel):
    """The migration system (seed 003): heavy data migrations above the threshold skip themselves."""

    heavy_threshold_rows: int = Field(
        default=100_000, ge=0, description="Data migrations estimating more rows are deferred to run-pending."
    )
    chunk_size: int = Field(default=10_000, ge=1, description="Rows per chunk of a data migration.")
    lock_timeout_s: float = Field(
        default=60.0, ge=0, description="How long a second migrator waits for the advisory lock."
    )
    scratch_admin_dsn: str | None = Field(
        default=None,
        description="Server where `migrate check` creates its scratch database (default: the repository's).",
    )
    max_rows_per_second: float | None = Field(
        default=None, gt=0, description="Rate cap of `run-pending` (unset: as fast as it goes)."
    )
    max_replication_lag_s: float | None = Field(
        default=None, gt=0, description="`run-pending` pauses while a standby lags further behind."
    )
    lint_big_table_rows: int = Field(
        default=100_000,
        ge=1,
        description="`migrate lint --live`: tables from this many rows are big (scans and rewrites fail).",
    )


class DagsterSettings(BaseModel):
    """Dagster's own instance storage in a deployment (docs/deploy.md); read by its dagster.yaml."""

    storage_dsn: str | None = Field(
        default=None,
        description="postgresql+psycopg2:// URL of the database holding Dagster's runs, event log and "
        "schedules (dagster-postgres). Unset: SQLite under DAGSTER_HOME (make dev, make demo).",
    )
    partitions_start: date | None = Field(
        default=None,
        description="First month (YYYY-MM or YYYY-MM-DD) of the lineage models' monthly partitions. "
        "Unset: the month of the store's oldest run, discovered when the definitions load.",
    )
    report_cli_runs: bool = Field(
        default=True,
        description="When a Dagster instance is configured (DAGSTER_HOME), CLI backfills, archive runs and "
        "repartitionings record an asset materialization in it, with the metadata a Dagster run records.",
    )

    @field_validator("partitions_start", mode="before")
    @classmethod
    def _month(cls, value: object) -> object:
        if isinstance(value, str) and len(value.strip()) == 7:  # YYYY-MM
            return f"{value.strip()}-01"
        return value

    @field_validator("partitions_start")
    @classmethod
    def _first_of_month(cls, value: date | None) -> date | None:
        return value.replace(day=1) if value else None

    @field_validator("storage_dsn")
    @classmethod
    def _storage_dsn_is_url(cls, value: str | None) -> str | None:
        # dagster-postgres drives psycopg2 (its connect hook runs `with conn:`, which closes a psycopg 3
        # connection), and SQLAlchemy 2.1 reads a bare postgresql:// as psycopg 3: name the driver.
        if not value:
            return None
        if not value.startswith("postgresql+psycopg2://"):
            raise ValueError(
                "must be a postgresql+psycopg2:// URL (dagster-postgres needs the psycopg2 driver), "
                "for example postgresql+psycopg2://dagster:secret@db.internal:5432/dagster?sslmode=require"
            )
        return value


class MigrataSettings(BaseSettings):
    """All of migrata's settings."""

    model_config = SettingsConfigDict(
        env_prefix="MIGRATA_", env_nested_delimiter="__", env_file=".env", extra="ignore"
    )

    home: Path = Field(
        default=Path(".migrata"), description="Data directory of the embedded engines and state."
    )
    postgres: PostgresSettings = Field(default_factory=PostgresSettings)
    clickhouse: ClickHouseSettings = Field(default_factory=ClickHouseSettings)
    dbt: DbtSettings = Field(default_factory=DbtSettings)
    lineage: LineageSettings = Field(default_factory=LineageSettings)
    archive: ArchiveSettings = Field(default_factory=ArchiveSettings)
    parquet: ParquetSettings = Field(default_factory=ParquetSettings)
    partitions: PartitionsSettings = Field(default_factory=PartitionsSettings)
    migrations: MigrationsSettings = Field(default_factory=MigrationsSettings)
    dagster: DagsterSettings = Field(default_factory=DagsterSettings)

    @field_validator("home")
    @classmethod
    def _home_absolute(cls, value: Path) -> Path:
        return value.expanduser().absolute()

    @cached_property
    def pg_data_dir(self) -> Path:
        return self.home / "postgres"

    @cached_property
    def chdb_path(self) -> Path:
        return self.home / "chdb"

    @property
    def embedded_postgres(self) -> bool:
        return self.postgres.dsn is None

    @property
    def embedded_clickhouse(self) -> bool:
        return self.clickhouse.url is None


def load_settings(**overrides: object) -> MigrataSettings:
    """Read settings from the environment and `.env`; turn validation errors into one clear message."""
    try:
        return MigrataSettings(**overrides)  # type: ignore[arg-type]
    except ValidationError as exc:
        first = exc.errors()[0]
        where = "__".join(str(p) for p in first["loc"]).upper()
        env_name = f"MIGRATA_{where}" if where else "MIGRATA_*"
        raise ConfigError(
            f"invalid setting {env_name}: {first['msg']}",
            hint=f"fix {env_name} in the environment or .env",
        ) from None
