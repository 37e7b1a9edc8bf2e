"""Own reading a rendered revision: what each statement locks, the work done under the lock, and where.

Statements are parsed by Postgres' own parser (pglast, libpg_query). For each one the analyzer says
which tables it touches, the `lockrules.DDL` kind of each touch, whether it runs inside a transaction,
whether `lock_timeout` is in effect, and which lock the transaction already holds on the table (a
lock is held until COMMIT, so a VALIDATE after an ADD … NOT VALID in the same transaction scans under
ACCESS EXCLUSIVE). It also remembers what the revision itself created and proved: tables created
earlier in the revision, CHECK (col IS NOT NULL) constraints validated earlier. What depends on the
live database (sizes, a function's volatility, a type change's cost) is left to the verdict.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from pglast import ast, enums, parse_sql
from pglast.parser import ParseError
from pglast.stream import RawStream

from python_ops.migrations.lockrules import DDL, Lock

AT = enums.AlterTableType
CT = enums.ConstrType

# functions whose result changes per row, so a DEFAULT using them rewrites the table (pg_proc: 'v')
VOLATILE = frozenset(
    {"random", "clock_timestamp", "timeofday", "gen_random_uuid", "uuid_generate_v1", "uuid_generate_v4",
     "uuidv4", "uuidv7", "nextval", "txid_current", "statement_timestamp", "setseed", "random_normal"}
)  # fmt: skip
# non-volatile functions common in defaults: the value is computed once for the existing rows
NOT_VOLATILE = frozenset(
    {"now", "transaction_timestamp", "current_date", "current_timestamp", "localtimestamp", "lower",
     "upper", "coalesce", "jsonb_build_object", "json_build_object", "to_jsonb", "array", "make_interval"}
)  # fmt: skip


@dataclass
class Action:
    """One table a statement touches and how (`ddl` is a key of `lockrules.DDL`)."""

    table: str
    ddl: str
    detail: str = ""
    column: str | None = None
    functions: tuple[str, ...] = ()  # in an added column's DEFAULT: the verdict asks if they are volatile
    new_type: str | None = None  # ALTER COLUMN TYPE target, as SQL
    using: bool = False  # ALTER COLUMN TYPE … USING (always a rewrite)
    index: str | None = None  # DROP INDEX names an index; the live database knows its table
    new_table: bool = False  # created earlier in this revision: empty, nobody uses it yet
    held_before: Lock | None = None  # the strongest lock this transaction already held on the table
    breaks_old_code: bool = False  # renames or drops something the running code may use
    mode: Lock | None = None  # LOCK TABLE names its lock mode itself
    keys: tuple[str, ...] = ()  # CREATE INDEX: its key columns ("" for an expression)

    def own_lock(self, ddl: str | None = None) -> Lock:
        """The lock this statement itself requests (for `ddl`, when the verdict refined the kind)."""
        return self.mode or DDL[ddl or self.ddl].lock

    def lock(self, ddl: str | None = None) -> Lock:
        """The lock held while the statement runs: its own, or a stronger one the transaction holds."""
        own = self.own_lock(ddl)
        return max(own, self.held_before) if self.held_before else own


@dataclass
class Statement:
    """One rendered statement with where it runs and what it touches."""

    index: int
    sql: str
    line: int
    in_transaction: bool
    transaction: int  # statements with the same number commit together
    lock_timeout: bool
    kind: str = ""
    actions: list[Action] = field(default_factory=list)
    concurrent: bool = False
    opaque: str | None = None

    def short(self, width: int = 90) -> str:
        text = " ".join(self.sql.split()).rstrip(";")
        return text if len(text) <= width else text[: width - 1] + "…"


def _name(rv: ast.RangeVar | None) -> str:
    if rv is None:
        return "?"
    return f"{rv.schemaname}.{rv.relname}" if rv.schemaname else str(rv.relname)


def _bare(name: str) -> str:
    return name.split(".")[-1]


def _functions(node: object) -> tuple[str, ...]:
    """Names of the functions called anywhere in an expression."""
    found: list[str] = []

    def walk(n: object) -> None:
        if isinstance(n, ast.FuncCall):
            found.append(str(n.funcname[-1].sval).lower())
        if isinstance(n, ast.Node):
            for attr in n:
                walk(getattr(n, attr))
        elif isinstance(n, tuple):
            for item in n:
                walk(item)

    walk(node)
    return tuple(found)


def _not_null_column(expr: object) -> str | None:
    """`col IS NOT NULL` → col (the CHECK that lets SET NOT NULL skip its scan)."""
    if (
        isinstance(expr, ast.NullTest)
        and expr.nulltesttype == enums.NullTestType.IS_NOT_NULL
        and isinstance(expr.arg, ast.ColumnRef)
    ):
        return str(expr.arg.fields[-1].sval)
    return None


def _sql(node: object) -> str:
    return str(RawStream()(node))


@dataclass
class _State:
    in_tx: bool = False
    transaction: int = 0
    session_timeout: bool = False
    local_timeout: bool = False
    held: dict[str, Lock] = field(default_factory=dict)
    created: set[str] = field(default_factory=set)
    checks: dict[tuple[str, str], str] = field(default_factory=dict)  # (table, constraint) → column
    proven_not_null: set[tuple[str, str]] = field(default_factory=set)

    def end_transaction(self) -> None:
        self.in_tx, self.local_timeout = False, False
        self.held.clear()
        self.transaction += 1


def analyze(statements: list[str], lines: list[int]) -> list[Statement]:
    """Say, for each rendered statement of one revision, where it runs and what it locks."""
    state = _State()
    result = []
    for i, text in enumerate(statements):
        try:
            parsed = parse_sql(text)
        except ParseError as exc:
            st = Statement(i, text, lines[i], state.in_tx, state.transaction, False)
            st.opaque = f"unparsable statement: {exc}"
            result.append(st)
            continue
        for raw in parsed:
            st = Statement(
                i,
                text,
                lines[i],
                state.in_tx,
                state.transaction,
                state.local_timeout or state.session_timeout,
            )
            _read(raw.stmt, st, state)
            for action in st.actions:
                key = _bare(action.table)
                action.new_table = action.new_table or key in state.created
                action.held_before = state.held.get(key)
            for action in st.actions:
                key = _bare(action.table)
                state.held[key] = max(state.held.get(key, Lock.ACCESS_SHARE), action.own_lock())
            if not state.in_tx and not isinstance(raw.stmt, ast.TransactionStmt):
                state.held.clear()  # autocommit: the statement's own transaction has ended
                state.transaction += 1
            result.append(st)
    return result


def _read(node: object, st: Statement, state: _State) -> None:
    if isinstance(node, ast.TransactionStmt):
        st.kind = "transaction"
        kind = enums.TransactionStmtKind
        if node.kind in (kind.TRANS_STMT_BEGIN, kind.TRANS_STMT_START):
            state.in_tx = True
        elif node.kind in (kind.TRANS_STMT_COMMIT, kind.TRANS_STMT_ROLLBACK):
            state.end_transaction()
    elif isinstance(node, ast.VariableSetStmt):
        st.kind = "SET"
        if node.name == "lock_timeout":
            on = node.kind == enums.VariableSetKind.VAR_SET_VALUE and not _is_zero(node.args)
            if node.is_local:
                state.local_timeout = on and state.in_tx
            else:
                state.session_timeout = on
                state.local_timeout = state.local_timeout and on
    elif isinstance(node, ast.IndexStmt):
        st.kind, st.concurrent = "CREATE INDEX", bool(node.concurrent)
        ddl = "CREATE INDEX CONCURRENTLY" if node.concurrent else "CREATE INDEX"
        keys = tuple(str(p.name) if p.name else "" for p in node.indexParams or ())  # "" = an expression
        st.actions.append(
            Action(_name(node.relation), ddl, f"index {node.idxname or '(unnamed)'}", keys=keys)
        )
    elif isinstance(node, ast.ReindexStmt):
        concurrent = any(p.defname == "concurrently" for p in node.params or ())
        st.kind, st.concurrent = "REINDEX", concurrent
        st.actions.append(Action(_name(node.relation), "REINDEX CONCURRENTLY" if concurrent else "REINDEX"))
    elif isinstance(node, ast.DropStmt):
        _drop(node, st)
    elif isinstance(node, ast.AlterTableStmt):
        st.kind = "ALTER TABLE"
        if node.objtype == enums.ObjectType.OBJECT_TABLE:
            for cmd in node.cmds:
                _alter(_name(node.relation), cmd, st, state)
    elif isinstance(node, ast.RenameStmt):
        st.kind = "RENAME"
        kinds = (enums.ObjectType.OBJECT_COLUMN, enums.ObjectType.OBJECT_TABLE)
        if node.renameType in kinds:
            what = f"column {node.subname} → {node.newname}" if node.subname else f"table → {node.newname}"
            st.actions.append(
                Action(_name(node.relation), "RENAME", what, node.subname, breaks_old_code=True)
            )
    elif isinstance(node, (ast.CreateStmt, ast.CreateTableAsStmt)):
        _create(node, st, state)
    elif isinstance(node, ast.CreateTrigStmt):
        st.kind = "CREATE TRIGGER"
        st.actions.append(Action(_name(node.relation), "CREATE TRIGGER", f"trigger {node.trigname}"))
    elif isinstance(node, ast.TruncateStmt):
        st.kind = "TRUNCATE"
        st.actions += [Action(_name(r), "TRUNCATE", breaks_old_code=True) for r in node.relations]
    elif isinstance(node, (ast.UpdateStmt, ast.DeleteStmt)):
        st.kind = "UPDATE" if isinstance(node, ast.UpdateStmt) else "DELETE"
        st.actions.append(Action(_name(node.relation), "UPDATE/DELETE", st.kind))
    elif isinstance(node, ast.InsertStmt):
        st.kind = "INSERT"
        st.actions.append(Action(_name(node.relation), "INSERT"))
    elif isinstance(node, ast.LockStmt):
        st.kind = "LOCK TABLE"
        for rv in node.relations:
            mode = Lock(node.mode)
            st.actions.append(Action(_name(rv), "LOCK TABLE", f"IN {mode.label} MODE", mode=mode))
    elif isinstance(node, ast.VacuumStmt):
        st.kind = "VACUUM"
        if any(o.defname == "full" for o in node.options or ()):
            st.actions += [Action(_name(r.relation), "VACUUM FULL / CLUSTER") for r in node.rels or ()]
    elif isinstance(node, ast.ClusterStmt):
        st.kind = "CLUSTER"
        st.actions.append(Action(_name(node.relation), "VACUUM FULL / CLUSTER"))
    elif isinstance(node, ast.DoStmt):
        st.kind, st.opaque = "DO", "a DO block (procedural code lint does not read)"
    else:
        st.kind = type(node).__name__.removesuffix("Stmt")


def _is_zero(args: tuple | None) -> bool:
    if not args:
        return False
    value = getattr(args[0], "val", None)
    raw = getattr(value, "sval", None) if value is not None else None
    raw = raw if raw is not None else getattr(value, "ival", None)
    return str(raw).strip() in ("0", "0ms", "0s")


def _drop(node: ast.DropStmt, st: Statement) -> None:
    st.kind = "DROP"
    kind = enums.ObjectType
    if node.removeType == kind.OBJECT_INDEX:
        st.concurrent = bool(node.concurrent)
        for obj in node.objects:
            name = ".".join(str(part.sval) for part in obj)
            ddl = "DROP INDEX CONCURRENTLY" if node.concurrent else "DROP INDEX"
            st.actions.append(Action(f"(table of index {name})", ddl, f"index {name}", index=name))
    elif node.removeType == kind.OBJECT_TABLE:
        for obj in node.objects:
            name = ".".join(str(part.sval) for part in obj)
            st.actions.append(Action(name, "DROP TABLE", breaks_old_code=True))


def _create(node: ast.CreateStmt | ast.CreateTableAsStmt, st: Statement, state: _State) -> None:
    st.kind = "CREATE TABLE"
    rv = node.relation if isinstance(node, ast.CreateStmt) else node.into.rel
    state.created.add(_bare(_name(rv)))
    if not isinstance(node, ast.CreateStmt):
        return
    if node.partbound is not None:
        for parent in node.inhRelations or ():
            st.actions.append(Action(_name(parent), "CREATE TABLE … PARTITION OF (parent)", _name(rv)))
    for element in node.tableElts or ():
        constraints = element.constraints if isinstance(element, ast.ColumnDef) else (element,)
        for c in constraints or ():
            if isinstance(c, ast.Constraint) and c.contype == CT.CONSTR_FOREIGN and c.pktable is not None:
                st.actions.append(
                    Action(
                        _name(c.pktable), "CREATE TABLE … REFERENCES (referenced table)", f"from {_name(rv)}"
                    )
                )


def _alter(table: str, cmd: ast.AlterTableCmd, st: Statement, state: _State) -> None:
    t = cmd.subtype
    if t == AT.AT_AddColumn:
        col: ast.ColumnDef = cmd.def_
        st.actions.append(_add_column(table, col))
        for c in col.constraints or ():
            if c.contype in (CT.CONSTR_PRIMARY, CT.CONSTR_UNIQUE):
                st.actions.append(Action(table, "ADD PRIMARY KEY/UNIQUE", f"on new column {col.colname}"))
            elif c.contype == CT.CONSTR_FOREIGN:
                st.actions.append(Action(table, "ADD FOREIGN KEY", f"on new column {col.colname}"))
    elif t == AT.AT_AlterColumnType:
        col = cmd.def_
        new_type = _sql(col.typeName)
        st.actions.append(
            Action(table, "ALTER COLUMN TYPE", f"column {cmd.name} TYPE {new_type}", cmd.name,
                   new_type=new_type, using=col.raw_default is not None)
        )  # fmt: skip
    elif t == AT.AT_SetNotNull:
        proven = (_bare(table), str(cmd.name)) in state.proven_not_null
        ddl = "SET NOT NULL (proven by a valid CHECK)" if proven else "SET NOT NULL"
        st.actions.append(Action(table, ddl, f"column {cmd.name}", cmd.name))
    elif t == AT.AT_DropNotNull:
        st.actions.append(Action(table, "DROP NOT NULL", f"column {cmd.name}", cmd.name))
    elif t == AT.AT_ColumnDefault:
        st.actions.append(Action(table, "SET/DROP DEFAULT", f"column {cmd.name}", cmd.name))
    elif t == AT.AT_DropColumn:
        st.actions.append(Action(table, "DROP COLUMN", f"column {cmd.name}", cmd.name, breaks_old_code=True))
    elif t == AT.AT_AddConstraint:
        _add_constraint(table, cmd.def_, st, state)
    elif t == AT.AT_ValidateConstraint:
        st.actions.append(Action(table, "VALIDATE CONSTRAINT", f"constraint {cmd.name}"))
        column = state.checks.get((_bare(table), str(cmd.name)))
        if column:
            state.proven_not_null.add((_bare(table), column))
    elif t == AT.AT_DropConstraint:
        st.actions.append(Action(table, "DROP CONSTRAINT", f"constraint {cmd.name}"))
    elif t in (AT.AT_SetStatistics, AT.AT_SetOptions, AT.AT_ResetOptions, AT.AT_SetRelOptions,
               AT.AT_ResetRelOptions):  # fmt: skip
        st.actions.append(Action(table, "SET STATISTICS/storage parameters"))
    elif t == AT.AT_AttachPartition:
        st.actions.append(Action(table, "ATTACH PARTITION (parent)", _name(cmd.def_.name)))
        st.actions.append(Action(_name(cmd.def_.name), "ATTACH PARTITION (partition)", f"into {table}"))
    elif t == AT.AT_DetachPartition:
        concurrent = bool(cmd.def_.concurrent)
        st.concurrent = st.concurrent or concurrent
        ddl = "DETACH PARTITION CONCURRENTLY" if concurrent else "DETACH PARTITION"
        st.actions.append(Action(table, ddl, _name(cmd.def_.name)))
    elif t in (AT.AT_SetTableSpace, AT.AT_SetLogged, AT.AT_SetUnLogged, AT.AT_SetAccessMethod):
        st.actions.append(Action(table, "SET TABLESPACE/LOGGED/UNLOGGED"))
    else:
        st.actions.append(Action(table, "other ALTER TABLE", t.name.removeprefix("AT_")))


def _add_column(table: str, col: ast.ColumnDef) -> Action:
    name = str(col.colname)
    type_name = _sql(col.typeName) if col.typeName is not None else ""
    constraints = col.constraints or ()
    default = next((c for c in constraints if c.contype == CT.CONSTR_DEFAULT), None)
    generated = any(c.contype == CT.CONSTR_GENERATED and c.generated_kind == "s" for c in constraints)
    identity = any(c.contype == CT.CONSTR_IDENTITY for c in constraints)
    serial = type_name.lower() in ("serial", "bigserial", "smallserial", "serial4", "serial8", "serial2")
    not_null = any(c.contype == CT.CONSTR_NOTNULL for c in constraints)
    if generated or identity or serial:
        what = "stored generated" if generated else "identity" if identity else type_name
        return Action(
            table, "ADD COLUMN (stored generated, identity or serial)", f"column {name} ({what})", name
        )
    if default is not None:
        functions = _functions(default.raw_expr)
        detail = f"column {name} DEFAULT {_sql(default.raw_expr)}"
        return Action(table, "ADD COLUMN", detail, name, functions=functions)
    if not_null:
        return Action(table, "ADD COLUMN (NOT NULL, no default)", f"column {name} NOT NULL", name)
    return Action(table, "ADD COLUMN", f"column {name} {type_name}".rstrip(), name)


def _add_constraint(table: str, c: ast.Constraint, st: Statement, state: _State) -> None:
    not_valid = bool(c.skip_validation)
    name = f"constraint {c.conname}" if c.conname else "constraint"
    if c.contype == CT.CONSTR_CHECK:
        st.actions.append(Action(table, "ADD CHECK NOT VALID" if not_valid else "ADD CHECK", name))
        column = _not_null_column(c.raw_expr)
        if column and c.conname:
            state.checks[(_bare(table), str(c.conname))] = column
            if not not_valid:
                state.proven_not_null.add((_bare(table), column))
    elif c.contype == CT.CONSTR_FOREIGN:
        ddl = "ADD FOREIGN KEY NOT VALID" if not_valid else "ADD FOREIGN KEY"
        st.actions.append(Action(table, ddl, name))
        if c.pktable is not None:
            referenced = "ADD FOREIGN KEY NOT VALID" if not_valid else "ADD FOREIGN KEY"
            st.actions.append(Action(_name(c.pktable), referenced, f"referenced by {table}"))
    elif c.contype in (CT.CONSTR_PRIMARY, CT.CONSTR_UNIQUE, CT.CONSTR_EXCLUSION):
        ddl = "ADD PRIMARY KEY/UNIQUE USING INDEX" if c.indexname else "ADD PRIMARY KEY/UNIQUE"
        st.actions.append(Action(table, ddl, name))
    else:
        st.actions.append(Action(table, "other ALTER TABLE", name))
