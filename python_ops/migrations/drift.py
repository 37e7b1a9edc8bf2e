"""Own drift detection: does each component's live schema match what its revisions create?

The expected schema is not stored (revisions land every day): `check` migrates a scratch database on the
same server (`migrata_check_<db>`, kept and emptied between runs) to the repository's recorded
revisions, snapshotting the catalog after every revision to learn which component owns which object,
then compares the live catalog object by object. Objects are
tables (kind, sorted columns with types, nullability and defaults, constraints, partition key),
indexes, functions, enum types and views; timestamps embedded in names compare as a pattern. Child
partitions are not compared (maintenance creates them at runtime), nor are objects no revision creates
(dbt models, backups): those are counted as untracked.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import psycopg
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict, make_conninfo

from python_ops.db import connect, describe_dsn
from python_ops.errors import ConfigError
from python_ops.migrations.graph import Graph
from python_ops.migrations.lock import migration_lock
from python_ops.migrations.plan import current_by_component, plan, read_heads

Execute = Callable[[str], list[tuple[Any, ...]]]

_SCHEMAS = "n.nspname <> 'information_schema' AND left(n.nspname, 3) <> 'pg_'"

_TABLES = f"""
SELECT 'table:' || n.nspname || '.' || c.relname,
       'kind ' || c.relkind::text || coalesce(' partitioned by ' || pg_get_partkeydef(c.oid), '') || ' ;; ' ||
       coalesce((SELECT string_agg(a.attname || ' ' || format_type(a.atttypid, a.atttypmod)
                                   || CASE WHEN a.attnotnull THEN ' not null' ELSE '' END
                                   || coalesce(' default ' || pg_get_expr(d.adbin, d.adrelid), ''),
                                   ' ;; ' ORDER BY a.attname)
                 FROM pg_attribute a LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
                 WHERE a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped), '') || ' ;; ' ||
       coalesce((SELECT string_agg('constraint ' || k.conname || ' ' || pg_get_constraintdef(k.oid), ' ;; '
                                   ORDER BY k.conname)
                 FROM pg_constraint k WHERE k.conrelid = c.oid), '')
FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE c.relkind IN ('r', 'p') AND NOT c.relispartition AND {_SCHEMAS} AND c.relname <> 'alembic_version'
"""

_INDEXES = f"""
SELECT 'index:' || n.nspname || '.' || i.relname, pg_get_indexdef(i.oid),
       'table:' || n.nspname || '.' || t.relname
FROM pg_index x JOIN pg_class i ON i.oid = x.indexrelid JOIN pg_class t ON t.oid = x.indrelid
JOIN pg_namespace n ON n.oid = t.relnamespace
WHERE NOT t.relispartition AND {_SCHEMAS} AND t.relname <> 'alembic_version'
"""

_OTHERS = f"""
SELECT 'function:' || n.nspname || '.' || p.proname
       || '(' || pg_get_function_identity_arguments(p.oid) || ')',
       md5(pg_get_functiondef(p.oid)), ''
FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
WHERE p.prokind IN ('f', 'p') AND {_SCHEMAS}
  AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.objid = p.oid AND d.deptype = 'e')
UNION ALL
SELECT 'type:' || n.nspname || '.' || t.typname,
       (SELECT string_agg(e.enumlabel, ',' ORDER BY e.enumsortorder)
        FROM pg_enum e WHERE e.enumtypid = t.oid), ''
FROM pg_type t JOIN pg_namespace n ON n.oid = t.typnamespace
WHERE t.typtype = 'e' AND {_SCHEMAS}
UNION ALL
SELECT 'view:' || n.nspname || '.' || c.relname, md5(pg_get_viewdef(c.oid)), ''
FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE c.relkind IN ('v', 'm') AND {_SCHEMAS}
"""


@dataclass(frozen=True)
class Catalog:
    """Schema objects by key (`table:public.t`) with their description, and each index's table."""

    objects: dict[str, str]
    index_table: dict[str, str]


# Revisions may name what they keep by time (`chunks_retired_20261123_175045`, `t_backup_YYYYMMDD_HHMMSS`):
# such names compare by pattern, or every scratch database would differ from the live one.
_TIMESTAMP = re.compile(r"(?<!\d)\d{8}_?\d{6}(?!\d)")


def _normal(text: str) -> str:
    return _TIMESTAMP.sub("<timestamp>", text)


def snapshot(execute: Execute) -> Catalog:
    """Read the catalog through `execute` (psycopg or an Alembic connection)."""
    objects: dict[str, str] = {}
    index_table: dict[str, str] = {}
    for key, desc in execute(_TABLES):
        objects[_normal(key)] = _normal(desc)
    for key, desc, table in execute(_INDEXES):
        objects[_normal(key)] = _normal(desc)
        index_table[_normal(key)] = _normal(table)
    for key, desc, _ in execute(_OTHERS):
        objects[_normal(key)] = _normal(desc or "")
    return Catalog(objects, index_table)


def _psycopg_execute(conn: psycopg.Connection) -> Execute:
    return lambda query: list(conn.execute(query).fetchall())


@dataclass
class ComponentCheck:
    """One component's result: recorded vs head revision, expected vs live digest, and what differs."""

    component: str
    current: str | None
    head: str | None
    objects: int
    expected_digest: str
    live_digest: str
    problems: list[str] = field(default_factory=list)

    @property
    def drift(self) -> bool:
        return bool(self.problems)

    @property
    def at_head(self) -> bool:
        return self.current == self.head

    @property
    def ok(self) -> bool:
        return not self.drift and self.at_head

    @property
    def state(self) -> str:
        if self.drift:
            return "drift"
        if self.current is None and self.head is not None:
            return "not installed"
        return "ok" if self.at_head else "behind head"


@dataclass
class DriftReport:
    """Every component's check plus the objects no revision created."""

    components: list[ComponentCheck]
    untracked: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return all(c.ok for c in self.components)

    def summary(self) -> str:
        drifted = [c.component for c in self.components if c.drift]
        behind = [c.component for c in self.components if not c.drift and not c.at_head]
        matching = len(self.components) - len(drifted) - len(behind)
        parts = [f"{matching}/{len(self.components)} components match head"]
        if drifted:
            parts.append(f"drift in {', '.join(drifted)}")
        if behind:
            parts.append(f"not at head: {', '.join(behind)}")
        parts.append(f"{len(self.untracked)} untracked objects ignored")
        return "; ".join(parts)

    def as_dict(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "components": [asdict(c) | {"state": c.state} for c in self.components],
            "untracked": self.untracked,
            "summary": self.summary(),
        }

    def as_metadata(self) -> dict[str, Any]:
        meta: dict[str, Any] = {"summary": self.summary(), "untracked_objects": len(self.untracked)}
        for c in self.components:
            meta[f"{c.component}_state"] = c.state
            meta[f"{c.component}_digest"] = c.live_digest[:16]
            if c.problems:
                meta[f"{c.component}_problems"] = "; ".join(c.problems[:10])
        return meta


def _difference(expected: str, found: str) -> str:
    """Only what differs between two descriptions: `-` expected but absent, `+` present but unexpected."""
    want, got = expected.split(" ;; "), found.split(" ;; ")
    missing = [f"-{item}" for item in want if item not in got]
    extra = [f"+{item}" for item in got if item not in want]
    return ", ".join(missing + extra) or "(order differs)"


def _digest(entries: dict[str, str]) -> str:
    h = hashlib.sha256()
    for key in sorted(entries):
        h.update(f"{key}={entries[key]}\n".encode())
    return h.hexdigest()


def _reset(scratch_dsn: str) -> None:
    """Empty the scratch database: drop every non-system schema, recreate `public`."""
    with connect(scratch_dsn, autocommit=True) as conn:
        schemas = conn.execute(
            "SELECT nspname FROM pg_namespace n WHERE " + _SCHEMAS + " ORDER BY 1"
        ).fetchall()
        with conn.transaction():
            for (schema,) in schemas:
                conn.execute(sql.SQL("DROP SCHEMA {} CASCADE").format(sql.Identifier(schema)))
            conn.execute("CREATE SCHEMA public")


@contextmanager
def scratch_database(dsn: str, admin_dsn: str | None = None) -> Iterator[str]:
    """An empty scratch database `migrata_check_<db>` on the repository's server (or `admin_dsn`'s).

    Created once and kept: emptied by dropping its schemas, because DROP DATABASE forces an immediate
    checkpoint, an I/O spike a live server should not get from a routine check.
    """
    base = admin_dsn or dsn
    name = f"migrata_check_{conninfo_to_dict(dsn).get('dbname') or 'postgres'}"[:63]
    try:
        with connect(make_conninfo(base, dbname="postgres"), autocommit=True) as admin:
            found = admin.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone()
            if not found:
                admin.execute(sql.SQL("CREATE DATABASE {} TEMPLATE template0").format(sql.Identifier(name)))
    except psycopg.errors.DuplicateDatabase:
        pass  # another check created it meanwhile
    except psycopg.Error as exc:
        raise ConfigError(
            f"cannot create a scratch database on {describe_dsn(base)} to compute the expected schema: "
            f"{str(exc).strip().splitlines()[0]}",
            hint="grant CREATEDB to the migrata role, or set MIGRATA_MIGRATIONS__SCRATCH_ADMIN_DSN",
        ) from None
    scratch = make_conninfo(base, dbname=name)
    with migration_lock(scratch, key="check"):  # two checks never share the scratch database at once
        _reset(scratch)
        try:
            yield scratch
        finally:
            _reset(scratch)


def expected_catalog(
    graph: Graph, scratch_dsn: str, heads: tuple[str, ...]
) -> tuple[Catalog, dict[str, str]]:
    """Migrate the scratch database to `heads`; return its catalog and each object's owning component."""
    from python_ops.migrations.apply import run_steps

    owners: dict[str, str] = {}
    previous: dict[str, str] = {}

    def after_revision(*, ctx: Any, step: Any, heads: Any, run_args: Any) -> None:
        nonlocal previous
        component = graph.component_of(str(step.up_revision_id))
        conn = ctx.connection
        now = snapshot(lambda q: list(conn.exec_driver_sql(q).fetchall())).objects
        for key, desc in now.items():
            if previous.get(key) != desc:
                owners[key] = component
        for key in set(previous) - set(now):
            owners.pop(key, None)
        previous = now

    for head in heads:
        with connect(scratch_dsn, autocommit=True) as conn:
            planned, steps = plan(graph, read_heads(conn), head, "upgrade")
        run_steps(graph, scratch_dsn, planned, steps, placeholders={}, extra_callbacks=[after_revision])
    with connect(scratch_dsn, autocommit=True) as conn:
        catalog = snapshot(_psycopg_execute(conn))
    return catalog, owners


# Expected catalogs by (revision files, recorded heads): the same revisions expect the same schema.
_EXPECTED: dict[tuple[object, ...], tuple[Catalog, dict[str, str]]] = {}


def _fingerprint(graph: Graph, heads: tuple[str, ...]) -> tuple[object, ...]:
    files = []
    for info in sorted(graph.revisions.values(), key=lambda r: r.path):
        stat = Path(info.path).stat()
        files.append((info.path, stat.st_mtime_ns, stat.st_size))
    return (tuple(files), heads)


def check(graph: Graph, dsn: str, *, admin_dsn: str | None = None) -> DriftReport:
    """Compare the live schema of each component with what its recorded revisions create."""
    with connect(dsn, autocommit=True) as conn:
        heads = read_heads(conn)
        live = snapshot(_psycopg_execute(conn))
    key = _fingerprint(graph, heads)
    if key not in _EXPECTED:
        with scratch_database(dsn, admin_dsn) as scratch:
            _EXPECTED[key] = expected_catalog(graph, scratch, heads)
    expected, owners = _EXPECTED[key]
    current = current_by_component(graph, heads)

    problems: dict[str, list[str]] = {c: [] for c in graph.components}
    owned: dict[str, dict[str, str]] = {c: {} for c in graph.components}
    for key, desc in expected.objects.items():
        component = owners.get(key)
        if component is None:
            continue
        owned[component][key] = desc
        if key not in live.objects:
            problems[component].append(f"{key} is missing")
        elif live.objects[key] != desc:
            found = live.objects[key]
            what = (
                f"definition differs (md5 {desc[:8]}… expected, {found[:8]}… found)"
                if key.startswith(("function:", "view:"))
                else _difference(desc, found)
            )
            problems[component].append(f"{key} differs: {what}")
    untracked = []
    live_owned: dict[str, dict[str, str]] = {c: {} for c in graph.components}
    for key, desc in live.objects.items():
        component = owners.get(key)
        if component is None and key in live.index_table:
            component = owners.get(live.index_table[key])  # an index nobody declared on a tracked table
            if component is not None:
                problems[component].append(f"{key} is not created by any revision: {desc}")
        if component is None:
            untracked.append(key)
            continue
        live_owned[component][key] = desc

    results = [
        ComponentCheck(
            component=c,
            current=current.get(c),
            head=graph.head(c),
            objects=len(owned[c]),
            expected_digest=_digest(owned[c]),
            live_digest=_digest(live_owned[c]),
            problems=problems[c],
        )
        for c in graph.components
    ]
    return DriftReport(results, sorted(untracked))
