"""Own the archived tables' dbt models as the run executes them: dbt creates the tables and compiles each
model once; the run fills the tables with that compiled SQL, slice by slice.

Each archived table's dbt model (macro `archive_model`) is the only definition of its ClickHouse
table: engine, keys, column types and enrichment. `ArchiveModels.prepare` makes sure of two things
before a run:

- every table exists: `dbt run` builds the missing ones (and the view `migrated_data`) from their
  models; a table is never created by Python;
- the run has each model's compiled SQL for one slice: dbt compiles the model with the var
  `archive_slice`, whose values are placeholders (`source_placeholder`: `null(<the Postgres columns as
  text>)`, and `SLUG`) that select nothing, so the same `dbt run` that creates a table is harmless for
  a table that exists. The run puts the slice's rows (a `postgresql()` range read, or a staging table
  the push transport filled) and the dataset's slug in their place (`CompiledTable.insert`).

The compiled SQL is cached as JSON under `<MIGRATA_HOME>/dbt/archive_sql/`, keyed by a hash of the
dbt project's files, the dbt versions, the table's entry and its Postgres columns: an unchanged table
never starts dbt again, so a run with nothing new takes well under a second. A cached model whose
table has other columns in ClickHouse (Postgres gained a column, say) is refused with the column to
add, never inserted into positionally.

`archive_models(settings)` is an edge function (it reads settings, as the CLI callback and Dagster's
resources do); operations take the `ArchiveModels` it returns.
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
import subprocess
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import TYPE_CHECKING

from python_ops.archive.schema import TableSpec
from python_ops.dbt_project import ARCHIVE_PACKAGE, PROJECT_DIR, artifacts_dir, dbt_env, run_dbt
from python_ops.engines.clickhouse import chdb_busy, quote_ident, quote_literal
from python_ops.errors import MigrataError, PreconditionError
from python_ops.runner import Step

if TYPE_CHECKING:
    from clickhouse_connect.driver.client import Client

    from python_ops.engines.context import Engines
    from python_ops.settings import MigrataSettings

# A SQL string literal no slug equals; the run replaces it with the dataset's slug.
SLUG = "'__migrata_dataset_slug__'"
VIEW_MODEL = "migrated_data"
GATE_TEST = "assert_archive_agrees_up_to_watermark"

DbtRunner = Callable[[list[str]], "subprocess.CompletedProcess[str]"]


def source_placeholder(spec: TableSpec) -> str:
    """The relation the model is compiled to read: no rows, the Postgres columns as text."""
    return f"null({quote_literal(spec.text_structure())})"


@dataclass(frozen=True)
class CompiledTable:
    """One archived table's model compiled for a slice, and the columns (name, type) it outputs."""

    name: str
    select: str
    placeholder: str
    columns: tuple[tuple[str, str], ...]

    def insert(self, source: str, slug: str) -> str:
        """The INSERT that archives the rows of `source` (a relation) under the dataset's `slug`."""
        body = self.select.replace(self.placeholder, source).replace(SLUG, quote_literal(slug))
        names = ", ".join(quote_ident(name) for name, _ in self.columns)
        return f"INSERT INTO {quote_ident(self.name)} ({names})\n{body.strip()}"


@dataclass
class Prepared:
    """The compiled models of a run's tables, and what dbt did for them (or would do, in a dry run)."""

    tables: dict[str, CompiledTable]
    steps: list[Step] = field(default_factory=list)


def _project_hash() -> str:
    digest = hashlib.sha256()
    for package in ("dbt-core", "dbt-clickhouse"):
        digest.update(metadata.version(package).encode())
    for path in sorted(p for p in PROJECT_DIR.rglob("*") if p.is_file() and "__pycache__" not in p.parts):
        digest.update(str(path.relative_to(PROJECT_DIR)).encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()


def _write_atomically(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(text)
    tmp.replace(path)  # a concurrent reader never sees half a file


def _existing_columns(ch: Client, names: Sequence[str]) -> dict[str, list[tuple[str, str]]]:
    rows = ch.query(
        "SELECT table, name, type FROM system.columns WHERE database = currentDatabase() "
        "AND table IN {names:Array(String)} ORDER BY table, position",
        parameters={"names": list(names)},
    ).result_rows
    found: dict[str, list[tuple[str, str]]] = {}
    for table, name, type_ in rows:
        found.setdefault(table, []).append((name, type_))
    return found


class ArchiveModels:
    """The archived tables' dbt models, bound to migrata's dbt project (`archive_models(settings)`)."""

    def __init__(
        self, dbt: DbtRunner, cache_dir: Path, *, view: str = VIEW_MODEL, settings_key: str = ""
    ) -> None:
        # settings_key: the archive settings dbt sees (table list, state tables), part of the gate's cache key
        self.dbt, self.cache_dir, self.view, self.settings_key = dbt, cache_dir, view, settings_key

    @functools.cached_property
    def _project(self) -> str:
        return _project_hash()

    def _cache_file(self, spec: TableSpec) -> Path:
        key = hashlib.sha256(
            json.dumps(
                [self._project, spec.config.model_dump(), spec.model_columns(), SLUG], sort_keys=True
            ).encode()
        ).hexdigest()[:20]
        return self.cache_dir / f"{spec.name}-{key}.json"

    def _cached(self, spec: TableSpec) -> CompiledTable | None:
        path = self._cache_file(spec)
        if not path.exists():
            return None
        raw = json.loads(path.read_text())
        return CompiledTable(spec.name, raw["select"], raw["placeholder"], tuple(map(tuple, raw["columns"])))

    def _vars(self, specs: Sequence[TableSpec]) -> str:
        return json.dumps(
            {
                "archive_slice": {
                    "sources": {s.name: source_placeholder(s) for s in specs},
                    "dataset_slug": SLUG,
                },
                "archive_columns": {s.name: s.model_columns() for s in specs},
            }
        )

    def command(self, verb: str, specs: Sequence[TableSpec], *, view: bool) -> list[str]:
        """The dbt arguments that compile (or, `run`, also build) the models of `specs`."""
        selection = [s.name for s in specs] + ([VIEW_MODEL] if view else [])
        return [
            verb,
            "--quiet",
            "--target",
            "clickhouse",
            "--select",
            *selection,
            "--vars",
            self._vars(specs),
        ]

    def _invoke(self, engines: Engines, args: list[str]) -> None:
        """Run dbt; a chDB directory held by another process fails as `ChdbBusyError` naming it."""
        try:
            self.dbt(args)
        except MigrataError as exc:
            embedded = engines.clickhouse_url is None and engines.chdb_path is not None
            busy = chdb_busy(engines.chdb_path) if embedded else None  # type: ignore[arg-type]
            if busy is not None:
                raise busy from None
            output = exc.message.split(" failed (exit ", 1)[-1]
            raise MigrataError(
                f"dbt {args[0]} of the archive models failed (exit {output}", hint=exc.hint
            ) from None

    def _dbt(
        self, engines: Engines, verb: str, specs: Sequence[TableSpec], *, view: bool
    ) -> dict[str, CompiledTable]:
        """Run dbt `verb` for `specs`; read, check, describe and cache their compiled models."""
        with tempfile.TemporaryDirectory(prefix="migrata-archive-dbt-") as target:
            self._invoke(engines, [*self.command(verb, specs, view=view), "--target-path", target])
            nodes = json.loads((Path(target) / "manifest.json").read_text())["nodes"]
        compiled: dict[str, CompiledTable] = {}
        with engines.clickhouse() as ch:
            for spec in specs:
                select = nodes[f"model.{ARCHIVE_PACKAGE}.{spec.name}"].get("compiled_code") or ""
                placeholder = source_placeholder(spec)
                if placeholder not in select or SLUG not in select:
                    raise MigrataError(
                        f"the dbt model of {spec.name} does not read the archive run's slice",
                        hint="its model must be `{{ archive_model() }}` (macro archive_model)",
                    )
                described = ch.query(f"DESCRIBE TABLE ({select})").result_rows
                table = CompiledTable(spec.name, select, placeholder, tuple((r[0], r[1]) for r in described))
                compiled[spec.name] = table
                path = self._cache_file(spec)
                path.parent.mkdir(parents=True, exist_ok=True)
                for stale in path.parent.glob(f"{spec.name}-*.json"):
                    stale.unlink(missing_ok=True)
                _write_atomically(
                    path, json.dumps({"select": select, "placeholder": placeholder, "columns": table.columns})
                )
        return compiled

    def ready(self, ch: Client, specs: Sequence[TableSpec]) -> Prepared | None:
        """The compiled models of `specs` if every table exists and every model is cached, else None."""
        compiled = {s.name: self._cached(s) for s in specs}
        existing = _existing_columns(ch, [*compiled, self.view])
        if self.view not in existing or any(t is None or n not in existing for n, t in compiled.items()):
            return None
        return Prepared(_checked(specs, compiled, existing))

    def prepare(self, engines: Engines, specs: Sequence[TableSpec], *, dry_run: bool = False) -> Prepared:
        """The compiled models of `specs`, their tables created by dbt first (a dry run only compiles).

        Opens ClickHouse itself and closes it before dbt runs (chDB admits one process).
        """
        compiled: dict[str, CompiledTable | None] = {s.name: self._cached(s) for s in specs}
        with engines.clickhouse() as ch:
            existing = _existing_columns(ch, [*compiled, self.view])
        missing = [s for s in specs if s.name not in existing]
        view = bool(missing) or self.view not in existing
        uncached = [s for s in specs if compiled[s.name] is None and (s.name in existing or dry_run)]
        steps: list[Step] = []
        if uncached:
            compiled |= self._dbt(engines, "compile", uncached, view=False)
        if missing or view:
            args = self.command("run", missing, view=True)
            what = ", ".join([s.name for s in missing] + [self.view])
            steps.append(Step(f"dbt builds {what} from their models (no rows)", "-- dbt " + " ".join(args)))
            if not dry_run:
                compiled |= self._dbt(engines, "run", missing, view=True)
        return Prepared(_checked(specs, compiled, existing), steps)

    def gate(self, engines: Engines, tables: Sequence[str] | None = None) -> tuple[bool, str]:
        """Run the archive's gate, the dbt test `assert_archive_agrees_up_to_watermark` (for `tables`).

        The test is compiled by dbt once (cached like the models) and its SQL run here: a check costs a
        query, not a dbt start.
        """
        values = {} if tables is None else {"archive_gate_tables": sorted(tables)}
        key = hashlib.sha256(
            json.dumps(
                [self._project, self.settings_key, engines.clickhouse_database, engines.pg_collection, values]
            ).encode()
        ).hexdigest()[:20]
        path = self.cache_dir / f"gate-{key}.sql"
        if not path.exists():
            with tempfile.TemporaryDirectory(prefix="migrata-archive-gate-") as target:
                args = ["compile", "--quiet", "--target", "clickhouse", "--select", GATE_TEST]
                self._invoke(engines, [*args, "--vars", json.dumps(values), "--target-path", target])
                nodes = json.loads((Path(target) / "manifest.json").read_text())["nodes"]
            path.parent.mkdir(parents=True, exist_ok=True)
            _write_atomically(path, nodes[f"test.migrata.{GATE_TEST}"]["compiled_code"])
        with engines.clickhouse() as ch:
            failures = int(ch.command(f"SELECT count() FROM ({path.read_text()})"))
        if failures:
            return False, f"{failures} rows in Postgres at or below a watermark are not archived"
        return True, "every row in Postgres at or below its watermark is archived"


def _checked(
    specs: Sequence[TableSpec],
    compiled: dict[str, CompiledTable | None],
    existing: dict[str, list[tuple[str, str]]],
) -> dict[str, CompiledTable]:
    """The compiled models, each checked against its table's columns where the table exists."""
    tables: dict[str, CompiledTable] = {}
    for spec in specs:
        table = compiled[spec.name]
        assert table is not None
        have = existing.get(spec.name)
        if have is not None and have != list(table.columns):
            _refuse_drift(spec.name, have, table.columns)
        tables[spec.name] = table
    return tables


def _refuse_drift(table: str, have: list[tuple[str, str]], want: tuple[tuple[str, str], ...]) -> None:
    have_map = dict(have)
    for name, type_ in want:
        if name not in have_map:
            raise PreconditionError(
                f"ClickHouse table {table} has no column {name} ({type_}) that its model now has",
                hint=f"add it: ALTER TABLE {quote_ident(table)} ADD COLUMN {quote_ident(name)} {type_}",
            )
        if have_map[name] != type_:
            raise PreconditionError(
                f"ClickHouse column {table}.{name} is {have_map[name]}, its model makes {type_}",
                hint=f"change it: ALTER TABLE {quote_ident(table)} MODIFY COLUMN {quote_ident(name)} {type_}",
            )
    extra = ", ".join(name for name, _ in have if name not in dict(want)) or "the order differs"
    raise PreconditionError(
        f"ClickHouse table {table} has columns its model no longer makes: {extra}",
        hint="make the table match its model (dbt model archive_model), then run again",
    )


def archive_models(settings: MigrataSettings) -> ArchiveModels:
    """The archived tables' models for these settings (an edge function: the CLI, Dagster, tests)."""
    return ArchiveModels(
        functools.partial(run_dbt, settings=settings, capture=True),
        artifacts_dir(settings) / "archive_sql",
        view=settings.archive.target_table,
        settings_key=dbt_env(settings)["MIGRATA_DBT_ARCHIVE"],
    )
