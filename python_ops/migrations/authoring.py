"""Own what authors of migrations use: `new` (a revision file from the template) and the generated docs.

`new COMPONENT "message"` appends a revision to the component's tree (`<component>_NNNN`), or starts a
new tree `versions/<component>/` whose base carries the branch label. The docs list every revision with
its declarations, so which migrations are online-safe is read from the code, never written by hand.
"""

from __future__ import annotations

import contextlib
import io
import re
from collections.abc import Sequence
from pathlib import Path

from python_ops.errors import ConfigError
from python_ops.migrations.config import alembic_config
from python_ops.migrations.graph import Graph, load_graph
from python_ops.migrations.models import RevisionInfo
from python_ops.migrations.trees import VERSIONS

_NAME = re.compile(r"^[a-z][a-z0-9_]{0,30}$")


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "_", text.lower()).strip("_")[:40].rstrip("_") or "change"


def new_revision(
    component: str,
    message: str,
    *,
    online_safe: bool = True,
    backward_compatible: bool = True,
    forward_compatible: bool = True,
    depends_on: str | None = None,
    versions_dir: Path = VERSIONS,
    add_columns: Sequence[str] = (),
    set_not_null: Sequence[str] = (),
    create_indexes: Sequence[str] = (),
) -> Path:
    """Write the next revision of `component` (a new tree if it has none) from the template; return it.

    `add_columns` ("TABLE.COLUMN TYPE"), `set_not_null` ("TABLE.COLUMN") and `create_indexes`
    ("TABLE(COLUMNS)") write an upgrade and downgrade made of the lock-safe helpers (`ddl`).
    """
    body = _body(add_columns, set_not_null, create_indexes)
    if not _NAME.match(component):
        raise ConfigError(
            f"component name {component!r} is not a lower-case identifier",
            hint="use letters, digits and underscores, e.g. `migrata migrate new audit 'audit log'`",
        )
    if not message.strip():
        raise ConfigError("the revision message is empty", hint="say what the revision changes")
    graph = load_graph()
    if component in graph.dirs:
        directory = graph.dirs[component]
        existing = graph.component_revisions(component)
        number = len(existing) + 1
        head: str = f"{component}@head" if existing else "base"
        labels = None if existing else [component]
    else:
        directory = versions_dir / component
        directory.mkdir(parents=True, exist_ok=True)
        number, head, labels = 1, "base", [component]
        graph = load_graph({**graph.dirs, component: directory})
    if depends_on:
        graph.require_revision(depends_on)
    rev_id = f"{component}_{number:04d}"
    text = message if message.startswith(f"{component}:") else f"{component}: {message}"
    script = _script(graph)
    with contextlib.redirect_stdout(io.StringIO()):  # Alembic announces the file under its own name
        created = script.generate_revision(
            rev_id,
            text,
            head=head,
            branch_labels=labels,
            version_path=str(directory),
            depends_on=depends_on,
            online_safe=online_safe,
            backward_compatible=backward_compatible,
            forward_compatible=forward_compatible,
            **body,
        )
    if created is None:
        raise ConfigError(f"Alembic did not write revision {rev_id}", hint="run again with --debug")
    target = directory / f"{number:04d}_{_slug(text)}.py"
    Path(created.path).rename(target)
    return target


_COLUMN = re.compile(r"^([A-Za-z_][\w.]*)\.([A-Za-z_]\w*)\s+(\S.*)$")
_NOT_NULL = re.compile(r"^([A-Za-z_][\w.]*)\.([A-Za-z_]\w*)$")
_INDEX = re.compile(r"^([A-Za-z_][\w.]*)\s*\((.+)\)$")


def _parse(pattern: re.Pattern[str], value: str, option: str, example: str) -> tuple[str, ...]:
    match = pattern.match(value.strip())
    if match is None:
        raise ConfigError(
            f"{option} {value!r} is not of the form {example}", hint=f"e.g. {option} '{example}'"
        )
    return match.groups()


def _body(add_columns: Sequence[str], set_not_null: Sequence[str], create_indexes: Sequence[str]) -> dict:
    """Upgrade and downgrade statements for the requested changes (downgrade in reverse order)."""
    up: list[str] = []
    down: list[str] = []
    for value in add_columns:
        table, column, type_sql = _parse(_COLUMN, value, "--add-column", "items.note text")
        up.append(f"ddl.execute({f'ALTER TABLE {table} ADD COLUMN {column} {type_sql}'!r})")
        down.append(f"ddl.execute({f'ALTER TABLE {table} DROP COLUMN {column}'!r})")
    for value in set_not_null:
        table, column = _parse(_NOT_NULL, value, "--set-not-null", "items.note")
        up.append(f"ddl.set_not_null({table!r}, {column!r})")
        down.append(f"ddl.execute({f'ALTER TABLE {table} ALTER COLUMN {column} DROP NOT NULL'!r})")
    for value in create_indexes:
        table, columns = _parse(_INDEX, value, "--create-index", "items(state, created_at)")
        name = _slug(f"{table.split('.')[-1]}_{columns}")[:59] + "_idx"
        up.append(f"ddl.create_index({name!r}, {table!r}, {columns.strip()!r})")
        down.append(f"ddl.drop_index({name!r})")
    if not up:
        return {}
    return {"upgrades": "\n    ".join(up), "downgrades": "\n    ".join(reversed(down))}


def _script(graph: Graph):  # type: ignore[no-untyped-def]
    from alembic.script import ScriptDirectory

    return ScriptDirectory.from_config(alembic_config("postgresql://unused", dirs=graph.dirs))


def _yes(value: bool | None) -> str:
    return {True: "yes", False: "**no**", None: "undeclared"}[value]


def _data(info: RevisionInfo) -> str:
    return ", ".join(f"`{d.name}`" for d in info.data_migrations) or ""


def render_docs(graph: Graph | None = None) -> str:
    """The migrations reference as Markdown, generated from the revisions' declarations."""
    graph = graph or load_graph()
    lines = [
        "# Migrations",
        "",
        "Generated by `migrata migrate docs` from the revisions' declarations — do not edit by hand.",
        "",
        "- **online-safe**: runs while the service is up; `no` needs downtime, and `migrata migrate upgrade`",
        "  refuses it unless `--allow-downtime` (installing a component from scratch never needs it).",
        "- **backward compatible**: the new code works on the old schema.",
        "- **forward compatible**: the old code works on the new schema.",
        "- **data migration**: a heavy data migration, deferred above `heavy_threshold` rows to",
        "  `migrata migrate run-pending`.",
        "",
    ]
    needs_downtime = [r for r in graph.revisions.values() if r.online_safe is False]
    lines.append(
        f"{len(graph.revisions)} revisions in {len(graph.components)} components; "
        f"{len(needs_downtime)} need downtime"
        + (f" ({', '.join(sorted(r.revision for r in needs_downtime))})." if needs_downtime else ".")
    )
    for component in graph.components:
        revs = graph.component_revisions(component)
        lines += ["", f"## {component}", ""]
        if not revs:
            lines.append("No revisions yet.")
            continue
        lines += [
            "| revision | change | online-safe | backward compatible | forward compatible | data migration |",
            "|---|---|---|---|---|---|",
        ]
        for r in revs:
            change = r.message.removeprefix(f"{component}:").strip().replace("|", "\\|")
            lines.append(
                f"| `{r.revision}` | {change} | {_yes(r.online_safe)} | {_yes(r.backward_compatible)} "
                f"| {_yes(r.forward_compatible)} | {_data(r)} |"
            )
    return "\n".join(lines + _lint_docs()) + "\n"


def _lint_docs() -> list[str]:
    """The rules `migrata migrate lint` proves declarations by, from the one rule table."""
    from python_ops.migrations.lockrules import DDL, RULES, squawk_link

    lines = [
        "",
        "## Lint rules",
        "",
        "`migrata migrate lint [--live]` renders each revision's upgrade and fails a revision whose SQL",
        "contradicts its declarations. A size-dependent rule fails only on a table at or above the big-table",
        "threshold (`--big-table-rows`, default 100,000) when sizes are known (`--live`); offline every",
        "table that exists before the revision counts as big. A table created earlier in the same revision,",
        "or not yet existing live, is never a hazard. Accepted findings: `lint_suppressions` in a new",
        "revision, `lint.toml` beside applied ones, each with its reason.",
        "",
        "| rule | the statement … | contradicts | size-dependent | fix | squawk |",
        "|---|---|---|---|---|---|",
    ]
    for rule in RULES.values():
        squawk = ", ".join(f"[{n}]({squawk_link(n)})" for n in rule.squawk) or "-"
        contradicts = {"always": "always fails", "nothing": f"{rule.severity} only"}.get(
            rule.contradicts, f"`{rule.contradicts}`"
        )
        lines.append(
            f"| `{rule.id}` | {rule.title} | {contradicts} | {'yes' if rule.size_dependent else 'no'} "
            f"| {rule.fix} | {squawk} |"
        )
    lines += [
        "",
        "## Lock levels",
        "",
        "The table lock each statement kind takes (PostgreSQL manual) and the work done while holding it;",
        "a lock is held until its transaction commits.",
        "",
        "| statement | lock | blocks | work under the lock |",
        "|---|---|---|---|",
    ]
    for kind, entry in DDL.items():
        lines.append(f"| [{kind}]({entry.doc}) | {entry.lock.label} | {entry.lock.blocks} | {entry.work} |")
    return lines
