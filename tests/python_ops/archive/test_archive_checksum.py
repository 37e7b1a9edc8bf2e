"""The archive checksum: Postgres and ClickHouse compute the same value for awkward rows, the cheap
Postgres formulation equals the plain definition, and a changed row changes it."""

from __future__ import annotations

from datetime import timedelta

import psycopg
import pytest

from migrata_samples import archive_rows as sample
from python_ops.archive.apply import specs
from python_ops.archive.checksum import MOD, clickhouse_digest, postgres_digest
from python_ops.engines import control
from python_ops.settings import ArchiveTable, MigrataSettings
from tests.python_ops.archive.conftest import NOW, run

ENTRY = ArchiveTable(
    name="edge_events", id_column="event_id", time_column="happened_at", payload_column="body"
)


def _with_edge(settings: MigrataSettings, transport: str) -> MigrataSettings:
    tables = [*settings.archive.tables, ENTRY]
    return settings.model_copy(
        update={"archive": settings.archive.model_copy(update={"tables": tables, "transport": transport})}
    )


@pytest.mark.parametrize("transport", ["pull", "push"])
def test_both_engines_agree_on_awkward_rows(
    settings: MigrataSettings, conn: psycopg.Connection, transport: str
) -> None:
    conn.execute(
        "CREATE TABLE edge_events (event_id bigint PRIMARY KEY, dataset_id text NOT NULL, "
        "happened_at timestamptz NOT NULL, body jsonb)"
    )
    sample.ensure_datasets(conn, 1)
    rows = [
        (1, "1969-12-31 23:59:59.999999+00", None),  # before the Unix epoch, NULL payload
        (2, "1999-12-31 23:59:59.000001+00", '{"tab": "a\\tb", "nl": "x\\ny", "bs": "\\\\"}'),
        (3, "2000-01-01 00:00:00+00", '{"unicode": "Grüße — 東京 🚀"}'),  # Postgres' time origin
        (9_007_199_254_740_993, "2026-02-28 23:59:59.123456+05:30", '{"n": 1e300, "a": [1, null, "x"]}'),
    ]
    for event_id, at, body in rows:
        conn.execute("INSERT INTO edge_events VALUES (%s, 'ds-1', %s, %s)", (event_id, at, body))
    cfg = _with_edge(settings, transport)
    reports = run(cfg, table="edge_events", now=NOW)
    assert all(r.ok for r in reports), [r.summary() for r in reports]

    (spec,) = specs(conn, cfg.archive, "edge_events")
    pg = postgres_digest(conn, spec, "ds-1", None, NOW)
    # the plain definition: id|epoch microseconds (through numeric)|payload, first 8 MD5 bytes, mod 2^64
    plain = conn.execute(
        "SELECT count(*), coalesce(sum(('x' || substr(md5(event_id::text || '|' || "
        "((extract(epoch FROM happened_at) * 1000000)::bigint)::text || '|' || coalesce(body::text, '')), "
        "1, 16))::bit(64)::bigint), 0) FROM edge_events"
    ).fetchone()
    assert plain is not None and (pg.rows, pg.checksum) == (int(plain[0]), int(plain[1]) % MOD)
    older = postgres_digest(conn, spec, "ds-1", None, NOW, plain=True)  # what a server before 18 runs
    assert (older.rows, older.checksum) == (pg.rows, pg.checksum)
    with control.clickhouse(cfg) as ch:
        chd = clickhouse_digest(ch, spec, "ds-1", None, NOW)
    assert pg.rows == 4 and (chd.rows, chd.checksum) == (pg.rows, pg.checksum)
    assert chd.bytes > 0 and chd.partitions == 4


def test_a_changed_row_changes_the_checksum(
    settings: MigrataSettings, conn: psycopg.Connection, seeded: dict[str, set[str]]
) -> None:
    table = "lifecycle_audit_log"
    (spec,) = specs(conn, settings.archive, table)
    hi = NOW - timedelta(days=7)

    def digest() -> tuple[int, int]:
        d = postgres_digest(conn, spec, "ds-1", None, hi)
        return d.rows, d.checksum

    before = digest()
    a, b = conn.execute(
        "SELECT id FROM lifecycle_audit_log WHERE dataset_id = 'ds-1' AND created_at <= %s "
        "ORDER BY created_at LIMIT 2",
        (hi,),
    ).fetchall()
    conn.execute("UPDATE lifecycle_audit_log SET payload = payload || '{\"x\": 1}' WHERE id = %s", a)
    changed_payload = digest()
    assert changed_payload[0] == before[0] and changed_payload[1] != before[1]
    # swap the two rows' times: same multiset of ids, payloads and times, different rows
    conn.execute(
        "UPDATE lifecycle_audit_log AS t SET created_at = o.created_at FROM lifecycle_audit_log AS o "
        "WHERE (t.id, o.id) IN ((%s, %s), (%s, %s))",
        (a[0], b[0], b[0], a[0]),
    )
    assert digest()[1] not in (before[1], changed_payload[1])
