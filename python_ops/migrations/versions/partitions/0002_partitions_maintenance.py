"""partitions: managed tables, `migrata_run_maintenance()`, the repartition key and run state.

Revision ID: partitions_0002
Revises: partitions_0001
Create Date: 2026-11-23

- `managed_partitions`: one row per RANGE-partitioned table under maintenance (interval, premake,
  retention and what retention does: drop, or detach and keep).
- `migrata_maintenance_plan(parent)`: what maintenance would do now (create / drop / detach rows); pure.
- `migrata_run_maintenance(parent DEFAULT NULL)`: does it, per table in a subtransaction so one table's
  failure (say a lock timeout) is recorded in `managed_partitions.last_error` and the others still run.
  A database-side scheduler (pg_cron: `SELECT * FROM migrata_run_maintenance()`) can call it as is.
- `migrata_partition_key(value, n)`: the stable hash used by LIST repartitioning, `md5` based so
  Python computes the same number (`python_ops.partitions.keys.partition_key`); NULL maps to 0.
- `repartition_runs`: the state of each online repartitioning, so a killed run continues.
"""

from __future__ import annotations

from alembic import op

revision = "partitions_0002"
down_revision = "partitions_0001"
branch_labels = None
depends_on = None

online_safe = True
backward_compatible = True
forward_compatible = True

PARTITION_KEY = r"""
CREATE OR REPLACE FUNCTION migrata_partition_key(p_value text, p_partitions integer) RETURNS integer
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $fn$
    SELECT coalesce((('x' || left(md5(p_value), 8))::bit(32)::bigint % p_partitions)::integer, 0)
$fn$
"""

PLAN = r"""
CREATE OR REPLACE FUNCTION migrata_maintenance_plan(p_parent regclass)
RETURNS TABLE (action text, partition text, lo timestamp, hi timestamp)
LANGUAGE plpgsql STABLE AS $fn$
DECLARE
    m managed_partitions%ROWTYPE;
    v_step interval;
    v_now timestamp := now() AT TIME ZONE 'UTC';
    v_start timestamp;
    v_stop timestamp;
BEGIN
    SELECT * INTO m FROM managed_partitions
     WHERE parent_table = (SELECT n.nspname || '.' || c.relname FROM pg_class c
                             JOIN pg_namespace n ON n.oid = c.relnamespace WHERE c.oid = p_parent);
    IF NOT FOUND THEN
        RETURN;
    END IF;
    v_step := CASE m.partition_interval WHEN 'month' THEN interval '1 month'
                   WHEN 'week' THEN interval '1 week' ELSE interval '1 day' END;
    v_start := date_trunc(m.partition_interval, v_now);
    v_stop := v_start + v_step * (m.premake + 1);
    WHILE v_start < v_stop LOOP
        IF NOT EXISTS (SELECT 1 FROM migrata_range_bounds(p_parent) b
                        WHERE NOT b.is_default AND b.lo < v_start + v_step AND b.hi > v_start) THEN
            action := 'create'; partition := NULL; lo := v_start; hi := v_start + v_step;
            RETURN NEXT;
        END IF;
        v_start := v_start + v_step;
    END LOOP;
    IF m.retention IS NOT NULL THEN
        RETURN QUERY
            SELECT m.retention_mode, b.partition::text, b.lo, b.hi
              FROM migrata_range_bounds(p_parent) b
             WHERE NOT b.is_default AND b.hi <= v_now - m.retention
             ORDER BY b.lo;
    END IF;
END
$fn$
"""

RUN = r"""
CREATE OR REPLACE FUNCTION migrata_run_maintenance(p_parent regclass DEFAULT NULL)
RETURNS TABLE (parent text, created integer, retired integer, error text)
LANGUAGE plpgsql AS $fn$
DECLARE
    m managed_partitions%ROWTYPE;
    r record;
    v_step interval;
    v_start timestamp;
BEGIN
    FOR m IN SELECT * FROM managed_partitions mp
              WHERE mp.enabled AND (p_parent IS NULL OR to_regclass(mp.parent_table) = p_parent)
              ORDER BY mp.parent_table
    LOOP
        parent := m.parent_table; created := 0; retired := 0; error := NULL;
        BEGIN
            v_step := CASE m.partition_interval WHEN 'month' THEN interval '1 month'
                           WHEN 'week' THEN interval '1 week' ELSE interval '1 day' END;
            v_start := date_trunc(m.partition_interval, now() AT TIME ZONE 'UTC');
            created := migrata_ensure_range_partitions(
                m.parent_table::regclass, v_start AT TIME ZONE 'UTC',
                (v_start + v_step * (m.premake + 1)) AT TIME ZONE 'UTC', m.partition_interval);
            FOR r IN SELECT * FROM migrata_maintenance_plan(m.parent_table::regclass) p
                      WHERE p.action IN ('drop', 'detach')
            LOOP
                IF r.action = 'drop' THEN
                    EXECUTE format('DROP TABLE %s', r.partition);
                ELSE
                    EXECUTE format('ALTER TABLE %s DETACH PARTITION %s',
                                   m.parent_table::regclass, r.partition);
                    EXECUTE format('COMMENT ON TABLE %s IS %L', r.partition,
                                   format('migrata: detached from %s by retention on %s; kept',
                                          m.parent_table, now()::date));
                END IF;
                retired := retired + 1;
            END LOOP;
            UPDATE managed_partitions
               SET last_run_at = now(), last_created = created, last_retired = retired, last_error = NULL
             WHERE parent_table = m.parent_table;
        EXCEPTION WHEN OTHERS THEN
            error := SQLERRM;
            created := 0; retired := 0;
            UPDATE managed_partitions SET last_run_at = now(), last_error = SQLERRM
             WHERE parent_table = m.parent_table;
        END;
        RETURN NEXT;
    END LOOP;
END
$fn$
"""


def upgrade() -> None:
    op.execute(
        """
        CREATE TABLE managed_partitions (
            parent_table       text PRIMARY KEY,
            partition_interval text NOT NULL DEFAULT 'month'
                               CHECK (partition_interval IN ('month', 'week', 'day')),
            premake            integer NOT NULL DEFAULT 4 CHECK (premake >= 0),
            retention          interval,
            retention_mode     text NOT NULL DEFAULT 'detach' CHECK (retention_mode IN ('drop', 'detach')),
            enabled            boolean NOT NULL DEFAULT true,
            created_at         timestamptz NOT NULL DEFAULT now(),
            last_run_at        timestamptz,
            last_created       integer,
            last_retired       integer,
            last_error         text
        )
        """
    )
    op.execute(
        """
        CREATE TABLE repartition_runs (
            table_name     text PRIMARY KEY,
            column_name    text NOT NULL,
            partitions     integer NOT NULL,
            key_column     text NOT NULL,
            step           text NOT NULL,
            revision       text,
            backup_table   text,
            new_table      text NOT NULL,
            delta_table    text NOT NULL,
            retired_table  text,
            source_rows    bigint,
            started_at     timestamptz NOT NULL DEFAULT now(),
            updated_at     timestamptz NOT NULL DEFAULT now(),
            swapped_at     timestamptz,
            lock_ms        double precision,
            details        jsonb NOT NULL DEFAULT '{}'
        )
        """
    )
    op.execute(PARTITION_KEY)
    op.execute(PLAN)
    op.execute(RUN)


def downgrade() -> None:
    op.execute("DROP FUNCTION migrata_run_maintenance(regclass)")
    op.execute("DROP FUNCTION migrata_maintenance_plan(regclass)")
    op.execute("DROP FUNCTION migrata_partition_key(text, integer)")
    op.execute("DROP TABLE repartition_runs")
    op.execute("DROP TABLE managed_partitions")
