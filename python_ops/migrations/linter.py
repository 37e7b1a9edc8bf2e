"""Own `migrate lint`: prove each revision's declarations from its SQL and, with `--live`, the live tables.

For each revision: render its upgrade (`render`), read what every statement locks and does (`analyze`),
run squawk over the same SQL (`squawk`), and judge. A hazard of `lockrules.RULES` on a table that
exists before the revision fails the revision when it contradicts a declaration: an `online_safe`
revision may not hold a lock that blocks writes while it scans, rewrites or indexes a big table, build
an index without CONCURRENTLY, or wait for such a lock without `lock_timeout`; a `forward_compatible`
one may not rename or drop what running code uses; CONCURRENTLY inside a transaction always fails
(Postgres refuses it). Without a database, sizes are unknown and every existing table counts as big;
with one (`--live`), tables below `big_table_rows` pass with their size shown, tables that do not exist
yet (a fresh component, or created earlier in the plan) are no hazard, function volatility and type
casts are looked up, and lock times are estimated from rates measured on the server. A table created
earlier in the same revision is never a hazard. Squawk's findings are attached to the migrata finding
on the same statement, or listed as advice; suppressions (`suppressions`) turn a finding into an
accepted one with its reason.
"""

from __future__ import annotations

import bisect
import dataclasses
import time
from collections.abc import Sequence
from typing import TYPE_CHECKING

from python_ops.errors import ConfigError
from python_ops.migrations import squawk, suppressions
from python_ops.migrations.analyze import NOT_VOLATILE, VOLATILE, Action, Statement, analyze
from python_ops.migrations.graph import Graph, load_graph
from python_ops.migrations.lockrules import DDL, RULES, Lock, rule_for_squawk, squawk_link
from python_ops.migrations.models import Finding, Level, LintReport, RevisionInfo, RevisionLint
from python_ops.migrations.plan import applied_revisions, read_heads
from python_ops.migrations.render import Rendered, render

if TYPE_CHECKING:
    import psycopg

    from python_ops.migrations.livefacts import LiveFacts, TableSize

DEFAULT_BIG_TABLE_ROWS = 100_000

# which hazard a statement kind's work is, when it runs under a lock that blocks writes
_WORK_RULE = {
    "CREATE INDEX": "index-not-concurrent",
    "REINDEX": "index-not-concurrent",
    "ADD COLUMN (volatile default)": "volatile-default-rewrite",
    "ADD COLUMN (stored generated, identity or serial)": "volatile-default-rewrite",
    "ALTER COLUMN TYPE": "column-type-rewrite",
    "SET NOT NULL": "set-not-null-scan",
    "ADD CHECK": "constraint-scan",
    "ADD FOREIGN KEY": "constraint-scan",
    "VALIDATE CONSTRAINT": "constraint-scan",
    "ATTACH PARTITION (partition)": "constraint-scan",
    "ADD COLUMN (NOT NULL, no default)": "constraint-scan",
    "ADD PRIMARY KEY/UNIQUE": "constraint-index-build",
    "SET TABLESPACE/LOGGED/UNLOGGED": "table-rewrite",
    "VACUUM FULL / CLUSTER": "table-rewrite",
}
_MAYBE_BINARY = ("text", "varchar", "character varying", "numeric", "decimal")


def lint(
    repository_uri: str | None = None,
    targets: Sequence[str] = (),
    *,
    big_table_rows: int = DEFAULT_BIG_TABLE_ROWS,
) -> LintReport:
    """Lint revisions (all, or `targets`: components or revisions); live when given a repository URI.

    A revision fails when its SQL contradicts its declarations (see the module's docstring).
    """
    if big_table_rows < 1:
        raise ConfigError(
            f"big_table_rows={big_table_rows} is not >= 1", hint="pass a row count, e.g. 100000"
        )
    graph = load_graph()
    revisions = select(graph, targets)
    if repository_uri is None:
        return lint_revisions(graph, revisions, None, big_table_rows=big_table_rows)
    from python_ops.db import connect
    from python_ops.migrations.uri import resolve_uri

    with connect(resolve_uri(repository_uri), autocommit=True) as conn:
        return lint_revisions(graph, revisions, conn, big_table_rows=big_table_rows)


def render_sql(targets: Sequence[str] = ()) -> list[Rendered]:
    """The SQL each revision of `targets` runs, as lint reads it (`migrate lint --sql`)."""
    graph = load_graph()
    return render(graph, select(graph, targets))


def select(graph: Graph, targets: Sequence[str]) -> list[str]:
    """Revisions named by `targets` (a component means all of its revisions), base to head."""
    if not targets:
        return [r.revision for c in graph.components for r in graph.component_revisions(c)]
    chosen: list[str] = []
    for target in targets:
        if target in graph.dirs:
            chosen += [r.revision for r in graph.component_revisions(target)]
        elif target in graph.revisions:
            chosen.append(target)
        else:
            raise ConfigError(
                f"unknown component or revision {target!r}",
                hint=f"known components: {', '.join(graph.components)} (see `migrata migrate history`)",
            )
    return list(dict.fromkeys(chosen))


def lint_revisions(
    graph: Graph,
    revisions: list[str],
    conn: psycopg.Connection | None,
    *,
    big_table_rows: int = DEFAULT_BIG_TABLE_ROWS,
) -> LintReport:
    """Lint `revisions` of `graph`, live when `conn` is given (autocommit; only read)."""
    started = time.monotonic()
    facts = None
    if conn is not None:  # imported only live: a static lint never loads the driver
        from python_ops.migrations.livefacts import LiveFacts

        facts = LiveFacts(conn)
    applied = applied_revisions(graph, read_heads(conn)) if conn is not None else None
    rendered = render(graph, revisions)
    found = squawk.run(
        {r.revision: r.script() for r in rendered}, pg_version=facts.server_version if facts else None
    )
    registry = suppressions.load(graph)
    used: set[tuple[str, str]] = set()
    results = []
    for item in rendered:
        info = graph.revisions[item.revision]
        statements = analyze(item.statements, item.line_of())
        judge = _Judge(info, facts, big_table_rows)
        findings, by_statement = judge.run(statements, item)
        findings += _squawk(
            item, statements, findings, by_statement, [v for v in found if v.revision == info.revision]
        )
        findings = [_suppressed(f, registry, used) for f in findings]
        result = RevisionLint(
            info.component,
            info.revision,
            info.online_safe,
            findings,
            item.notes,
            sum(s.kind != "transaction" for s in statements),
            None if applied is None else info.revision in applied,
        )
        if facts is not None:
            result.lock_estimate_s, result.lock_on = judge.lock_estimate(statements)
        results.append(result)
    unused = [
        f"{s.revision}: {s.rule} ({s.source})"
        for key, s in registry.items()
        if key not in used and s.revision in revisions
    ]
    measured = facts.rates() if facts is not None and facts.measured else None
    rates = measured.as_dict() if measured is not None else None
    return LintReport(results, conn is not None, big_table_rows, rates, unused, time.monotonic() - started)


class _Judge:
    """Turn one revision's analyzed statements into findings, with live facts when there are any."""

    def __init__(self, info: RevisionInfo, facts: LiveFacts | None, big_table_rows: int) -> None:
        self.info, self.facts, self.big = info, facts, big_table_rows
        self.durations: dict[int, float] = {}  # statement index → estimated seconds of work
        self.blocking: list[tuple[Statement, Action, TableSize]] = []

    def run(self, statements: list[Statement], item: Rendered) -> tuple[list[Finding], dict[int, list[int]]]:
        findings: list[Finding] = []
        by_statement: dict[int, list[int]] = {}

        def add(st: Statement | None, finding: Finding) -> None:
            if st is not None:
                by_statement.setdefault(st.index, []).append(len(findings))
            findings.append(finding)

        if item.opaque:
            add(None, self._finding("opaque", "warn", f"{item.opaque}; the statements before it are checked"))
        for st in statements:
            if st.opaque:
                add(st, self._finding("opaque", "warn", f"{st.short()}: {st.opaque}", st))
            if st.concurrent and st.in_transaction:
                add(
                    st,
                    self._finding(
                        "concurrently-in-transaction",
                        "fail",
                        self._text(st, "concurrently-in-transaction"),
                        st,
                    ),
                )
            timeout_flagged: set[str] = set()
            for action in st.actions:
                for finding in self._action(st, action, timeout_flagged):
                    add(st, finding)
        return findings, by_statement

    def _action(self, st: Statement, action: Action, timeout_flagged: set[str]) -> list[Finding]:
        if action.new_table:
            return []
        table_name = action.table
        if action.index and self.facts is not None:
            table_name = self.facts.index_table(action.index) or table_name
        size = self.facts.table(table_name) if self.facts is not None else None
        if self.facts is not None and size is None:
            return []  # not there yet: created by an earlier revision of the plan, nobody uses it
        ddl = self._refine(action, size)
        lock, work = action.lock(ddl), DDL[ddl].work
        seconds = None
        if size is not None and work != "none" and self.facts is not None:
            rates = self.facts.rates()
            if rates is not None:
                text_key = work == "index" and self.facts.text_key(size.name, action.keys)
                seconds = rates.seconds(work, size, text_key=text_key)  # type: ignore[arg-type]
                self.durations[st.index] = self.durations.get(st.index, 0.0) + seconds
        if size is not None and lock.blocks_writes:
            self.blocking.append((st, dataclasses.replace(action, ddl=ddl), size))
        out = []
        rule_id = _WORK_RULE.get(ddl) if lock.blocks_writes else None
        if ddl == "UPDATE/DELETE":
            rule_id = "bulk-dml"
        if rule_id:
            out.append(self._hazard(rule_id, st, action, ddl, lock, size, seconds))
        if action.own_lock(ddl).blocks_writes and not st.lock_timeout and table_name not in timeout_flagged:
            timeout_flagged.add(table_name)
            out.append(self._hazard("missing-lock-timeout", st, action, ddl, lock, size, None))
        if action.breaks_old_code and not (self.facts and action.column and not self._column_exists(action)):
            out.append(self._hazard("breaks-old-code", st, action, ddl, lock, size, None))
        return out

    def _column_exists(self, action: Action) -> bool:
        assert self.facts is not None and action.column is not None
        return self.facts.column(action.table, action.column) is not None

    def _refine(self, action: Action, size: TableSize | None) -> str:
        """The statement kind once live facts (or, offline, what is certain) are known."""
        facts, column = self.facts, action.column or ""
        if action.ddl == "ADD COLUMN" and action.functions and self._volatile(action.functions):
            return "ADD COLUMN (volatile default)"
        if (
            action.ddl == "ALTER COLUMN TYPE"
            and facts is not None
            and facts.type_change_rewrites(action.table, column, action.new_type or "", action.using) is False
        ):
            return "ALTER COLUMN TYPE (binary coercible)"
        if action.ddl == "SET NOT NULL" and facts is not None and facts.not_null_proven(action.table, column):
            return "SET NOT NULL (proven by a valid CHECK)"
        return action.ddl

    def _volatile(self, functions: tuple[str, ...]) -> bool:
        if self.facts is not None:
            return any(self.facts.volatile(f) for f in functions)
        # offline: known volatile ones, and any function not known to be stable (it may be volatile)
        return any(f in VOLATILE or f not in NOT_VOLATILE for f in functions)

    def _level(self, rule_id: str, size: TableSize | None) -> tuple[Level, str]:
        rule = RULES[rule_id]
        if rule.contradicts == "always":
            return "fail", ""
        if rule.contradicts == "nothing":
            return rule.severity, ""
        declared = getattr(self.info, rule.contradicts)
        if declared is False:
            return "info", f"expected: the revision declares {rule.contradicts} = False"
        if rule.size_dependent and size is not None and size.rows is not None and size.rows < self.big:
            return "info", f"below the {self.big:,}-row threshold"
        return rule.severity, ""

    def _hazard(
        self,
        rule_id: str,
        st: Statement,
        action: Action,
        ddl: str,
        lock: Lock,
        size: TableSize | None,
        seconds: float | None,
    ) -> Finding:
        level, why = self._level(rule_id, size)
        rule = RULES[rule_id]
        if level == "fail" and self.facts is None and self._uncertain(rule_id, action):
            level, why = (
                "warn",
                "it may not rewrite; the old type or the function is known only live (--live)",
            )
        table = size.name if size is not None else action.table
        facts = []
        if size is not None:
            facts.append(size.describe())
        elif rule.size_dependent:
            facts.append("size unknown offline: `migrate lint --live` measures it")
        if seconds is not None and lock.blocks_writes:
            facts.append(f"blocks {lock.blocks} ~{_seconds(seconds)}")
        # which part of a many-part statement (one ALTER TABLE, several subcommands) it is
        detail = f" ({action.detail})" if action.detail and len(st.actions) > 1 else ""
        if rule_id == "missing-lock-timeout":
            facts.append(f"takes {lock.label}")
        if rule_id == "breaks-old-code" and self.facts is not None and action.column:
            users = self.facts.column_users(table, action.column)
            facts += [f"used by {', '.join(users)}"] if users else []
        message = f"{st.short()}: {rule.title}{detail} on {table}" + (
            f" ({'; '.join(facts)})" if facts else ""
        )
        message += f"; {why}" if why else f"; fix: {rule.fix}"
        return self._finding(
            rule_id, level, message, st, table=table, size=size, lock=lock.label, seconds=seconds
        )

    @staticmethod
    def _uncertain(rule_id: str, action: Action) -> bool:
        """Offline, a rewrite is certain only for known volatile defaults and non-coercible type changes."""
        if rule_id == "volatile-default-rewrite" and action.functions:
            return not any(f in VOLATILE for f in action.functions)
        if rule_id == "column-type-rewrite" and not action.using and action.new_type:
            return action.new_type.split("(")[0].strip().lower() in _MAYBE_BINARY
        return False

    def _text(self, st: Statement, rule_id: str) -> str:
        return f"{st.short()}: {RULES[rule_id].title}; fix: {RULES[rule_id].fix}"

    def _finding(
        self,
        rule_id: str,
        level: Level,
        message: str,
        st: Statement | None = None,
        *,
        table: str | None = None,
        size: TableSize | None = None,
        lock: str | None = None,
        seconds: float | None = None,
    ) -> Finding:
        return Finding(
            self.info.revision,
            rule_id,
            level,
            message,
            statement=st.short(200) if st else "",
            line=st.line + 1 if st else None,
            table=table,
            rows=size.rows if size else None,
            size_bytes=size.total_bytes if size else None,
            lock=lock,
            estimate_s=round(seconds, 4) if seconds is not None else None,
        )

    def lock_estimate(self, statements: list[Statement]) -> tuple[float | None, str | None]:
        """The longest a lock blocking writes is held: from its statement to its transaction's end."""
        if self.facts is not None and self.facts.measured and self.facts.rates() is None:
            return None, None  # the rates could not be measured here: no estimate rather than a wrong one
        best: tuple[float, str] | None = None
        for st, action, size in self.blocking:
            held = sum(
                self.durations.get(other.index, 0.0)
                for other in statements
                if other.transaction == st.transaction and other.index >= st.index
            )
            if best is None or held > best[0]:
                best = (held, f"{action.lock().label} on {size.name}")
        return (round(best[0], 4), best[1]) if best else (None, None)


def _seconds(s: float) -> str:
    return f"{s * 1000:.0f} ms" if s < 1 else f"{s:.1f} s"


def _squawk(
    item: Rendered,
    statements: list[Statement],
    findings: list[Finding],
    by_statement: dict[int, list[int]],
    violations: list[squawk.Violation],
) -> list[Finding]:
    """Attach squawk's findings to migrata's on the same statement; the rest are advice."""
    starts = [s.line for s in statements]
    advice = []
    for v in violations:
        at = bisect.bisect_right(starts, v.line) - 1
        st = statements[at] if at >= 0 else None
        same = rule_for_squawk(v.rule)
        match = [i for i in by_statement.get(st.index, []) if findings[i].rule == same] if st and same else []
        if match:
            for i in match:
                if v.rule not in findings[i].squawk:
                    findings[i] = dataclasses.replace(findings[i], squawk=(*findings[i].squawk, v.rule))
            continue
        text = f"{st.short()}: {v.message}" if st else v.message
        advice.append(
            Finding(
                item.revision, v.rule, "info", text, statement=st.short(200) if st else "",
                line=(st.line + 1) if st else None, source="squawk", link=squawk_link(v.rule),
            )
        )  # fmt: skip
    return advice


def _suppressed(
    finding: Finding, registry: dict[tuple[str, str], suppressions.Suppression], used: set[tuple[str, str]]
) -> Finding:
    key = (finding.revision, finding.rule)
    hit = registry.get(key)
    if hit is None:
        return finding
    used.add(key)
    if finding.level in ("fail", "warn"):
        return dataclasses.replace(finding, level="suppressed", reason=hit.reason)
    if finding.source == "squawk":
        return dataclasses.replace(finding, level="suppressed", reason=hit.reason)
    return finding
