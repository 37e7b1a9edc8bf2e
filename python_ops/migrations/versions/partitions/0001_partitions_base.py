"""partitions: `migration_backups` and `migrata_ensure_range_partitions(...)` (seeds 000 V83/V85, 002).

Revision ID: partitions_0001
Revises:
Create Date: 2026-11-23

`migrata_ensure_range_partitions(parent, from, to, interval)` creates the missing RANGE partitions
covering [from, to) of a table partitioned by RANGE on one date/timestamp/timestamptz column. Bounds are
computed in UTC, names are `<parent>_pYYYYMM` (month), `<parent>_pYYYYMMDD` (day), `<parent>_pYYYYwWW`
(ISO week). It is idempotent: a partition with the same bounds under any name (a hand-made one too, the
V85 fix) counts as present, one overlapping with other bounds is left alone with a NOTICE. Rows sitting
in the DEFAULT partition that belong to a new partition are moved out first, in the caller's
transaction: the parent is locked (CREATE ... PARTITION OF needs that lock anyway, and it stops new rows
from landing in the default between the move and the create), the rows are moved to a temp table, the
partition is created, and the rows are inserted into it.
"""

from __future__ import annotations

from alembic import op

revision = "partitions_0001"
down_revision = None
branch_labels = ("partitions",)
depends_on = None

online_safe = True
backward_compatible = True
forward_compatible = True

BOUNDS_FUNCTION = r"""
CREATE OR REPLACE FUNCTION migrata_range_bounds(p_parent regclass)
RETURNS TABLE (partition regclass, is_default boolean, lo timestamp, hi timestamp)
LANGUAGE plpgsql STABLE AS $fn$
-- Bounds of every partition of a RANGE-partitioned table as UTC timestamps (MINVALUE/MAXVALUE become
-- -infinity/infinity). Bound text is rendered in the session's settings and parsed back in the same
-- session, so the round trip is exact.
DECLARE
    v_type regtype;
    r record;
    v_lo text;
    v_hi text;
BEGIN
    SELECT a.atttypid::regtype INTO v_type
      FROM pg_partitioned_table pt
      JOIN pg_attribute a ON a.attrelid = pt.partrelid AND a.attnum = pt.partattrs[0]
     WHERE pt.partrelid = p_parent AND pt.partstrat = 'r' AND pt.partnatts = 1;
    IF v_type IS NULL THEN
        RETURN;
    END IF;
    FOR r IN
        SELECT c.oid::regclass AS part, pg_get_expr(c.relpartbound, c.oid) AS bound
          FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
         WHERE i.inhparent = p_parent
    LOOP
        partition := r.part;
        IF r.bound = 'DEFAULT' THEN
            is_default := true; lo := NULL; hi := NULL;
            RETURN NEXT;
            CONTINUE;
        END IF;
        is_default := false;
        v_lo := substring(r.bound FROM '^FOR VALUES FROM \((.*)\) TO \(.*\)$');
        v_hi := substring(r.bound FROM '^FOR VALUES FROM \(.*\) TO \((.*)\)$');
        lo := CASE
            WHEN v_lo = 'MINVALUE' THEN '-infinity'::timestamp
            WHEN v_type = 'timestamptz'::regtype THEN (btrim(v_lo, '''')::timestamptz AT TIME ZONE 'UTC')
            ELSE btrim(v_lo, '''')::timestamp END;
        hi := CASE
            WHEN v_hi = 'MAXVALUE' THEN 'infinity'::timestamp
            WHEN v_type = 'timestamptz'::regtype THEN (btrim(v_hi, '''')::timestamptz AT TIME ZONE 'UTC')
            ELSE btrim(v_hi, '''')::timestamp END;
        RETURN NEXT;
    END LOOP;
END
$fn$
"""

ENSURE_FUNCTION = r"""
CREATE OR REPLACE FUNCTION migrata_ensure_range_partitions(
    p_parent regclass, p_from timestamptz, p_to timestamptz, p_interval text DEFAULT 'month'
) RETURNS integer
LANGUAGE plpgsql AS $fn$
DECLARE
    v_schema text;
    v_name text;
    v_col text;
    v_type regtype;
    v_default regclass;
    v_step interval;
    v_fmt text;
    v_start timestamp;
    v_stop timestamp;
    v_end timestamp;
    v_part text;
    v_lo text;
    v_hi text;
    v_cols text;
    v_tmp text;
    v_moved bigint;
    v_created integer := 0;
    v_locked boolean := false;
BEGIN
    SELECT n.nspname, c.relname INTO v_schema, v_name
      FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE c.oid = p_parent;
    SELECT a.attname, a.atttypid::regtype, nullif(pt.partdefid, 0)::regclass
      INTO v_col, v_type, v_default
      FROM pg_partitioned_table pt
      JOIN pg_attribute a ON a.attrelid = pt.partrelid AND a.attnum = pt.partattrs[0]
     WHERE pt.partrelid = p_parent AND pt.partstrat = 'r' AND pt.partnatts = 1;
    IF v_col IS NULL THEN
        RAISE EXCEPTION 'table % is not partitioned by RANGE on one column', p_parent
            USING ERRCODE = '22023', HINT = 'create it with PARTITION BY RANGE (<date or timestamp column>)';
    END IF;
    IF v_type NOT IN ('date'::regtype, 'timestamp'::regtype, 'timestamptz'::regtype) THEN
        RAISE EXCEPTION 'partition column %.% has type %, not date or timestamp', p_parent, v_col, v_type
            USING ERRCODE = '22023', HINT = 'time-based maintenance needs a date/timestamp/timestamptz key';
    END IF;
    v_step := CASE p_interval WHEN 'month' THEN interval '1 month' WHEN 'day' THEN interval '1 day'
                              WHEN 'week' THEN interval '1 week' END;
    v_fmt := CASE p_interval WHEN 'month' THEN 'YYYYMM' WHEN 'day' THEN 'YYYYMMDD' ELSE 'IYYY"w"IW' END;
    IF v_step IS NULL THEN
        RAISE EXCEPTION 'unknown partition interval %', p_interval
            USING ERRCODE = '22023', HINT = 'use month, week or day';
    END IF;
    IF p_from IS NULL OR p_to IS NULL OR p_to <= p_from THEN
        RETURN 0;
    END IF;

    v_start := date_trunc(p_interval, p_from AT TIME ZONE 'UTC');
    v_stop := p_to AT TIME ZONE 'UTC';
    WHILE v_start < v_stop LOOP
        v_end := v_start + v_step;
        IF EXISTS (SELECT 1 FROM migrata_range_bounds(p_parent) b
                    WHERE NOT b.is_default AND b.lo = v_start AND b.hi = v_end) THEN
            NULL;  -- present, whatever its name (a hand-made partition with these bounds is fine)
        ELSIF EXISTS (SELECT 1 FROM migrata_range_bounds(p_parent) b
                       WHERE NOT b.is_default AND b.lo < v_end AND b.hi > v_start) THEN
            RAISE NOTICE 'migrata: [%, %) of % overlaps an existing partition with other bounds; left as is',
                v_start, v_end, p_parent;
        ELSE
            v_part := to_char(v_start, v_fmt);
            v_part := left(v_name, 63 - length(v_part) - 2) || '_p' || v_part;
            IF to_regclass(format('%I.%I', v_schema, v_part)) IS NOT NULL THEN
                RAISE EXCEPTION 'table %.% exists but is not a partition of % for [%, %)',
                    v_schema, v_part, p_parent, v_start, v_end
                    USING ERRCODE = '42P07',
                          HINT = 'attach it (ALTER TABLE ... ATTACH PARTITION) or rename it, then rerun';
            END IF;
            IF v_type = 'timestamptz'::regtype THEN
                v_lo := to_char(v_start, 'YYYY-MM-DD HH24:MI:SS') || '+00';
                v_hi := to_char(v_end, 'YYYY-MM-DD HH24:MI:SS') || '+00';
            ELSIF v_type = 'date'::regtype THEN
                v_lo := to_char(v_start, 'YYYY-MM-DD');
                v_hi := to_char(v_end, 'YYYY-MM-DD');
            ELSE
                v_lo := to_char(v_start, 'YYYY-MM-DD HH24:MI:SS');
                v_hi := to_char(v_end, 'YYYY-MM-DD HH24:MI:SS');
            END IF;
            v_moved := 0;
            IF v_default IS NOT NULL THEN
                IF NOT v_locked THEN
                    -- Taken first so no row lands in the default between the move and the create, and
                    -- so locks are always acquired parent-then-default (no lock upgrade deadlock).
                    EXECUTE format('LOCK TABLE %s IN ACCESS EXCLUSIVE MODE', p_parent);
                    v_locked := true;
                END IF;
                EXECUTE format('SELECT count(*) FROM %s WHERE %I >= %L::%s AND %I < %L::%s',
                               v_default, v_col, v_lo, v_type, v_col, v_hi, v_type) INTO v_moved;
            END IF;
            IF v_moved > 0 THEN
                SELECT string_agg(quote_ident(a.attname), ', ' ORDER BY a.attnum) INTO v_cols
                  FROM pg_attribute a
                 WHERE a.attrelid = p_parent AND a.attnum > 0 AND NOT a.attisdropped AND a.attgenerated = '';
                v_tmp := format('migrata_moved_%s', p_parent::oid);
                EXECUTE format('CREATE TEMP TABLE %I ON COMMIT DROP AS SELECT %s FROM %s WITH NO DATA',
                               v_tmp, v_cols, p_parent);
                EXECUTE format('WITH d AS (DELETE FROM %s WHERE %I >= %L::%s AND %I < %L::%s RETURNING %s) '
                               'INSERT INTO %I SELECT * FROM d',
                               v_default, v_col, v_lo, v_type, v_col, v_hi, v_type, v_cols, v_tmp);
                EXECUTE format('CREATE TABLE %I.%I PARTITION OF %s FOR VALUES FROM (%L) TO (%L)',
                               v_schema, v_part, p_parent, v_lo, v_hi);
                EXECUTE format('INSERT INTO %I.%I (%s) OVERRIDING SYSTEM VALUE SELECT %s FROM %I',
                               v_schema, v_part, v_cols, v_cols, v_tmp);
                EXECUTE format('DROP TABLE %I', v_tmp);
                RAISE NOTICE 'migrata: moved % rows of % from the default partition into %',
                    v_moved, p_parent, v_part;
            ELSE
                EXECUTE format('CREATE TABLE %I.%I PARTITION OF %s FOR VALUES FROM (%L) TO (%L)',
                               v_schema, v_part, p_parent, v_lo, v_hi);
            END IF;
            v_created := v_created + 1;
        END IF;
        v_start := v_end;
    END LOOP;
    RETURN v_created;
END
$fn$
"""


def upgrade() -> None:
    op.execute(
        """
        CREATE TABLE migration_backups (
            id                 bigserial PRIMARY KEY,
            backup_table       text NOT NULL,
            backup_schema      text NOT NULL DEFAULT 'public',
            source_table       text NOT NULL,
            migration_revision text,
            row_count          bigint NOT NULL,
            checksum           text NOT NULL,
            checksum_columns   text[] NOT NULL,
            size_bytes         bigint,
            status             text NOT NULL DEFAULT 'created'
                               CHECK (status IN ('created', 'verified', 'failed', 'dropped')),
            created_at         timestamptz NOT NULL DEFAULT now(),
            expires_at         timestamptz NOT NULL DEFAULT now() + interval '7 days',
            verified_at        timestamptz,
            dropped_at         timestamptz,
            note               text,
            UNIQUE (backup_schema, backup_table)
        )
        """
    )
    op.execute("CREATE INDEX migration_backups_source_idx ON migration_backups (source_table, created_at)")
    op.execute(BOUNDS_FUNCTION)
    op.execute(ENSURE_FUNCTION)


def downgrade() -> None:
    op.execute("DROP FUNCTION migrata_ensure_range_partitions(regclass, timestamptz, timestamptz, text)")
    op.execute("DROP FUNCTION migrata_range_bounds(regclass)")
    op.execute("DROP TABLE migration_backups")
