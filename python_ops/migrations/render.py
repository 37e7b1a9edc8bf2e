"""Own rendering a revision's upgrade to the SQL it runs, the way Alembic's offline (`--sql`) mode does.

Each revision's `upgrade()` runs against an offline migration context: every `op.*` call writes its
statement instead of executing it, and `autocommit_block()` writes the COMMIT/BEGIN around the
statements it runs outside the transaction. The renderer adds the BEGIN/COMMIT each revision runs in
(`transaction_per_migration`), so the script shows exactly where each statement runs. What cannot be
rendered is recorded, not guessed: a revision that asks for its own connection stops rendering there
(`opaque`), and a heavy data migration leaves a note (it runs on its own connection, in chunks).
"""

from __future__ import annotations

import contextlib
import io
from dataclasses import dataclass, field

from alembic.operations import Operations
from alembic.runtime.environment import EnvironmentContext

from python_ops.migrations.config import alembic_config
from python_ops.migrations.graph import Graph


@dataclass
class Rendered:
    """One revision's upgrade as SQL statements, in order, plus what rendering could not show."""

    revision: str
    statements: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    opaque: str | None = None  # why rendering stopped early

    def script(self) -> str:
        """The statements as one SQL script (what squawk reads), each separated by a blank line."""
        return "".join(f"{s}\n\n" for s in self.statements)

    def line_of(self) -> list[int]:
        """The 0-based line where each statement starts in `script()`."""
        lines, at = [], 0
        for statement in self.statements:
            lines.append(at)
            at += statement.count("\n") + 2
        return lines


class _Collector(io.StringIO):
    """Alembic's offline output buffer; each `write` is one statement (`static_output` writes once)."""

    def __init__(self) -> None:
        super().__init__()
        self.statements: list[str] = []

    def write(self, text: str) -> int:
        statement = text.strip()
        if statement:
            self.statements.append(statement)
        return len(text)


def render(graph: Graph, revisions: list[str], placeholders: dict[str, str] | None = None) -> list[Rendered]:
    """Render the upgrade of each of `revisions` on its own, as if its parent were applied."""
    cfg = alembic_config("postgresql://render", placeholders=placeholders or {}, dirs=graph.dirs)
    notes: list[str] = []
    cfg.attributes["render_notes"] = notes
    collector = _Collector()
    results = []
    with EnvironmentContext(cfg, graph.script) as env:
        env.configure(
            dialect_name="postgresql",
            as_sql=True,
            output_buffer=collector,
            literal_binds=True,
            transactional_ddl=True,
        )
        context = env.get_context()
        for revision in revisions:
            module = graph.script.get_revision(revision).module  # type: ignore[union-attr]
            collector.statements, notes[:] = [], []
            rendered = Rendered(revision)
            collector.write("BEGIN;")  # transaction_per_migration: each revision in its own
            try:
                with Operations.context(context), contextlib.redirect_stdout(io.StringIO()):
                    module.upgrade()
            except Exception as exc:  # anything a live run alone can do (a bind, a query, a file)
                message = getattr(exc, "message", None) or f"{type(exc).__name__}: {exc}"
                rendered.opaque = str(message).strip().splitlines()[0]
            collector.write("COMMIT;")
            rendered.statements, rendered.notes = list(collector.statements), list(notes)
            results.append(rendered)
    return results
