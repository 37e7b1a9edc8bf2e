"""Settings: MIGRATA_ env vars with `__` nesting, seed defaults, one clear error per bad value."""

from __future__ import annotations

import pytest

from python_ops.errors import ConfigError
from python_ops.settings import load_settings


def test_seed_defaults(monkeypatch: pytest.MonkeyPatch) -> None:
    for var in ("MIGRATA_POSTGRES__DSN", "MIGRATA_CLICKHOUSE__URL"):
        monkeypatch.delenv(var, raising=False)
    s = load_settings()
    assert s.embedded_postgres and s.embedded_clickhouse
    assert (s.archive.batch_size, s.archive.max_age_hours, s.archive.grace_period_hours) == (10_000, 168, 24)
    assert (s.archive.target_table, s.archive.watermark_table) == ("migrated_data", "migration_watermarks")
    assert s.lineage.chunk_size == 10_000 and s.lineage.auto_backfill_max_runs == 100_000


def test_env_overrides_nested_values(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MIGRATA_ARCHIVE__BATCH_SIZE", "500")
    monkeypatch.setenv("MIGRATA_POSTGRES__DSN", "postgresql://u:p@db.example:5433/meta")
    s = load_settings()
    assert s.archive.batch_size == 500
    assert not s.embedded_postgres


@pytest.mark.parametrize(
    ("var", "value", "says"),
    [
        ("MIGRATA_POSTGRES__DSN", "postgresql://u@[broken/db", "MIGRATA_POSTGRES__DSN"),
        ("MIGRATA_POSTGRES__PORT", "not-a-port", "MIGRATA_POSTGRES__PORT"),
        ("MIGRATA_POSTGRES__PORT", "70000", "MIGRATA_POSTGRES__PORT"),
        ("MIGRATA_CLICKHOUSE__URL", "tcp://host:9000", "MIGRATA_CLICKHOUSE__URL"),
        ("MIGRATA_ARCHIVE__BATCH_SIZE", "0", "MIGRATA_ARCHIVE__BATCH_SIZE"),
        # issue 17: a non-integer port passed validation and failed at connect time (exit 1)
        ("MIGRATA_POSTGRES__DSN", "postgresql://u@db.example:abc/meta", "MIGRATA_POSTGRES__DSN"),
        ("MIGRATA_POSTGRES__DSN", "host=db.example port=5432x dbname=meta", "MIGRATA_POSTGRES__DSN"),
        ("MIGRATA_POSTGRES__DSN", "postgresql://u@db.example:70000/meta", "MIGRATA_POSTGRES__DSN"),
        # issue 17: 0 never silently means "the default"; every numeric setting has its bounds
        ("MIGRATA_PARTITIONS__LIST_PARTITIONS", "0", "MIGRATA_PARTITIONS__LIST_PARTITIONS"),
        ("MIGRATA_PARTITIONS__LIST_PARTITIONS", "5000", "MIGRATA_PARTITIONS__LIST_PARTITIONS"),
        ("MIGRATA_PARTITIONS__BATCH_SIZE", "0", "MIGRATA_PARTITIONS__BATCH_SIZE"),
        ("MIGRATA_PARTITIONS__PREMAKE", "-1", "MIGRATA_PARTITIONS__PREMAKE"),
        ("MIGRATA_PARTITIONS__ASSUME_FREE_BYTES", "-1", "MIGRATA_PARTITIONS__ASSUME_FREE_BYTES"),
        ("MIGRATA_PARQUET__WORKERS", "0", "MIGRATA_PARQUET__WORKERS"),
        ("MIGRATA_PARQUET__WORKERS", "1000", "MIGRATA_PARQUET__WORKERS"),
        ("MIGRATA_PARQUET__BATCH_SIZE", "0", "MIGRATA_PARQUET__BATCH_SIZE"),
    ],
)
def test_bad_value_is_one_clear_error(
    monkeypatch: pytest.MonkeyPatch, var: str, value: str, says: str
) -> None:
    monkeypatch.setenv(var, value)
    with pytest.raises(ConfigError) as info:
        load_settings()
    assert says in info.value.message
    assert info.value.exit_code == 2


def test_multi_host_dsn_with_numeric_ports_is_accepted(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MIGRATA_POSTGRES__DSN", "postgresql://u@h1:5432,h2:5433/meta")
    assert load_settings().postgres.dsn == "postgresql://u@h1:5432,h2:5433/meta"
