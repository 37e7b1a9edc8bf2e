"""Own synthetic timestore data for the demo, tests and benchmarks: datasets and aged audit/job rows.

Generated set-based in Postgres (one INSERT … SELECT generate_series per table), spread evenly over
`days` days ending at `now`, so a share of it is older than the archive's max age.
"""

from __future__ import annotations

from datetime import UTC, datetime

import psycopg


def ensure_datasets(conn: psycopg.Connection, count: int = 2, prefix: str = "ds") -> list[str]:
    """Create `count` datasets `<prefix>-1…` if missing; return their ids."""
    ids = [f"{prefix}-{i}" for i in range(1, count + 1)]
    for dataset_id in ids:
        conn.execute(
            "INSERT INTO datasets (id, slug, name) VALUES (%s, %s, %s) ON CONFLICT (id) DO NOTHING",
            (dataset_id, f"{dataset_id}-slug", f"Dataset {dataset_id}"),
        )
    return ids


def generate(
    conn: psycopg.Connection,
    *,
    rows: int,
    days: float = 30,
    datasets: int = 2,
    tables: tuple[str, ...] = ("dataset_access_audit", "lifecycle_audit_log", "lifecycle_job_runs"),
    now: datetime | None = None,
    tag: str = "g",
) -> int:
    """Insert `rows` rows into each table over the last `days` days; ids carry `tag` to stay unique."""
    now = now or datetime.now(UTC)
    ids = ensure_datasets(conn, datasets)
    params = {"n": rows, "days": days, "now": now, "ids": ids, "k": len(ids), "tag": tag}
    spread = "%(now)s - (g::float8 / %(n)s) * %(days)s * interval '1 day'"
    dataset = "(%(ids)s::text[])[1 + g %% %(k)s]"
    if "dataset_access_audit" in tables:
        conn.execute(
            f"""INSERT INTO dataset_access_audit
                  (id, dataset_id, dataset_slug, actor_id, actor_scopes, action, success, metadata,
                   accessed_at)
                SELECT 'daa-' || %(tag)s || '-' || g, {dataset}, {dataset} || '-slug',
                       CASE WHEN g %% 7 = 0 THEN NULL ELSE 'user-' || (g %% 97) END,
                       ARRAY['read', CASE WHEN g %% 3 = 0 THEN 'admin' ELSE 'write' END],
                       (ARRAY['query', 'ingest', 'manifest'])[1 + g %% 3], g %% 11 <> 0,
                       jsonb_build_object('rows', g %% 1000, 'path', '/datasets/' || (g %% 13)),
                       {spread}
                FROM generate_series(1, %(n)s) AS g""",
            params,
        )
    if "lifecycle_audit_log" in tables:
        conn.execute(
            f"""INSERT INTO lifecycle_audit_log (id, dataset_id, manifest_id, event_type, payload, created_at)
                SELECT 'lal-' || %(tag)s || '-' || g, {dataset},
                       CASE WHEN g %% 5 = 0 THEN NULL ELSE 'man-' || (g %% 101) END,
                       (ARRAY['compaction', 'retention', 'schema_change'])[1 + g %% 3],
                       jsonb_build_object('partitions', g %% 17, 'bytes', g * 31,
                                          'note', 'batch ' || (g %% 9)),
                       {spread}
                FROM generate_series(1, %(n)s) AS g""",
            params,
        )
    if "lifecycle_job_runs" in tables:
        conn.execute(
            f"""INSERT INTO lifecycle_job_runs
                  (id, job_kind, dataset_id, operations, trigger_source, status, scheduled_for, started_at,
                   completed_at, duration_ms, attempts, error, metadata, created_at, updated_at)
                SELECT 'ljr-' || %(tag)s || '-' || g, 'lifecycle', {dataset},
                       ARRAY['compaction', 'retention'],
                       'schedule', (ARRAY['completed', 'failed', 'skipped'])[1 + g %% 3],
                       {spread}, {spread}, {spread} + interval '2 seconds', 2000 + g %% 500, 1 + g %% 2,
                       CASE WHEN g %% 3 = 1 THEN 'timeout' END, jsonb_build_object('attempt', 1 + g %% 2),
                       {spread}, {spread}
                FROM generate_series(1, %(n)s) AS g""",
            params,
        )
    return rows * len(tables)
