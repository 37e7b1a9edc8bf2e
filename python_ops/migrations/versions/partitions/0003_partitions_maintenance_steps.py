"""partitions: maintenance as planned statements — `migrata_maintenance_steps()` is what every path runs.

Revision ID: partitions_0003
Revises: partitions_0002
Create Date: 2026-11-30

- `migrata_maintenance_steps(parent)`: the exact SQL statements maintenance would run on `parent` now,
  in order (create each missing premade partition, then retire each partition past retention: drop, or
  detach and comment). Pure; it reads `migrata_maintenance_plan`.
- `migrata_run_maintenance(parent DEFAULT NULL, take_lock DEFAULT true)` now executes exactly those
  statements, one by one, and returns them (`executed`), so `migrata partitions maintain --dry-run`
  (which prints the steps) shows the very SQL the run executes. Each table still runs in its own
  subtransaction, a failure recorded in `managed_partitions.last_error`.
- A database-side scheduler calling `migrata_run_maintenance()` takes the operation lock of each table
  (transaction-level advisory lock on the text `migrata:partitions:<schema.table>`, the key
  `python_ops.locks.lock_key("partitions", table)` hashes), so it never runs beside a `migrata partitions
  maintain` of the same table; the CLI, which holds that lock itself, passes `take_lock => false`.
"""

from __future__ import annotations

import runpy
from pathlib import Path

from alembic import op

revision = "partitions_0003"
down_revision = "partitions_0002"
branch_labels = None
depends_on = None

online_safe = True
backward_compatible = True
forward_compatible = True

STEPS = r"""
CREATE FUNCTION migrata_maintenance_steps(p_parent regclass)
RETURNS TABLE (action text, partition text, lo timestamp, hi timestamp, statement text)
LANGUAGE plpgsql STABLE AS $fn$
DECLARE
    v_interval text;
    r record;
BEGIN
    SELECT m.partition_interval INTO v_interval FROM managed_partitions m
     WHERE m.parent_table = (SELECT n.nspname || '.' || c.relname FROM pg_class c
                               JOIN pg_namespace n ON n.oid = c.relnamespace WHERE c.oid = p_parent);
    IF NOT FOUND THEN
        RETURN;
    END IF;
    FOR r IN SELECT * FROM migrata_maintenance_plan(p_parent) LOOP
        action := r.action; partition := r.partition; lo := r.lo; hi := r.hi;
        IF r.action = 'create' THEN
            statement := format('SELECT migrata_ensure_range_partitions(%L::regclass, %L, %L, %L)',
                                p_parent::text, to_char(r.lo, 'YYYY-MM-DD HH24:MI:SS') || '+00',
                                to_char(r.hi, 'YYYY-MM-DD HH24:MI:SS') || '+00', v_interval);
            RETURN NEXT;
        ELSIF r.action = 'drop' THEN
            statement := format('DROP TABLE %s', r.partition);
            RETURN NEXT;
        ELSE
            statement := format('ALTER TABLE %s DETACH PARTITION %s', p_parent, r.partition);
            RETURN NEXT;
            action := 'comment';
            statement := format('COMMENT ON TABLE %s IS %L', r.partition,
                                format('migrata: detached from %s by retention on %s; kept',
                                       p_parent, now()::date));
            RETURN NEXT;
        END IF;
    END LOOP;
END
$fn$
"""

RUN = r"""
CREATE FUNCTION migrata_run_maintenance(p_parent regclass DEFAULT NULL, p_take_lock boolean DEFAULT true)
RETURNS TABLE (parent text, created integer, retired integer, error text, executed text[])
LANGUAGE plpgsql AS $fn$
DECLARE
    m managed_partitions%ROWTYPE;
    s record;
    v_n integer;
BEGIN
    FOR m IN SELECT * FROM managed_partitions mp
              WHERE mp.enabled AND (p_parent IS NULL OR to_regclass(mp.parent_table) = p_parent)
              ORDER BY mp.parent_table
    LOOP
        parent := m.parent_table; created := 0; retired := 0; error := NULL; executed := '{}';
        BEGIN
            -- the same key as python_ops.locks.lock_key('partitions', <table>)
            IF p_take_lock AND NOT pg_try_advisory_xact_lock(
                    hashtextextended('migrata:partitions:' || m.parent_table, 0)) THEN
                RAISE EXCEPTION 'maintenance of % is already running', m.parent_table;
            END IF;
            FOR s IN SELECT * FROM migrata_maintenance_steps(m.parent_table::regclass) LOOP
                IF s.action = 'create' THEN
                    EXECUTE s.statement INTO v_n;
                    created := created + coalesce(v_n, 0);
                ELSE
                    EXECUTE s.statement;
                    IF s.action IN ('drop', 'detach') THEN
                        retired := retired + 1;
                    END IF;
                END IF;
                executed := executed || s.statement;
            END LOOP;
            UPDATE managed_partitions
               SET last_run_at = now(), last_created = created, last_retired = retired, last_error = NULL
             WHERE parent_table = m.parent_table;
        EXCEPTION WHEN OTHERS THEN
            error := SQLERRM;
            created := 0; retired := 0; executed := '{}';
            UPDATE managed_partitions SET last_run_at = now(), last_error = SQLERRM
             WHERE parent_table = m.parent_table;
        END;
        RETURN NEXT;
    END LOOP;
END
$fn$
"""


def _previous() -> dict[str, str]:
    """The function bodies of partitions_0002, which the downgrade puts back."""
    return runpy.run_path(str(Path(__file__).with_name("0002_partitions_maintenance.py")))


def upgrade() -> None:
    op.execute("DROP FUNCTION migrata_run_maintenance(regclass)")
    op.execute(STEPS)
    op.execute(RUN)


def downgrade() -> None:
    op.execute("DROP FUNCTION migrata_run_maintenance(regclass, boolean)")
    op.execute("DROP FUNCTION migrata_maintenance_steps(regclass)")
    op.execute(_previous()["RUN"])
