"""Own the types of the migration system: revisions with declarations, plans, status and check results."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, Literal

Direction = Literal["upgrade", "downgrade"]


@dataclass(frozen=True)
class DataMigrationRef:
    """A `data_migration(...)` call found in a revision, with its estimate when the plan could compute it."""

    name: str
    estimate: str
    run: str
    estimated_rows: int | None = None


@dataclass(frozen=True)
class RevisionInfo:
    """One revision of one component's tree with its declarations (None where the revision lacks one)."""

    component: str
    revision: str
    down_revision: tuple[str, ...]
    message: str
    path: str
    online_safe: bool | None
    backward_compatible: bool | None
    forward_compatible: bool | None
    depends_on: tuple[str, ...] = ()
    data_migrations: tuple[DataMigrationRef, ...] = ()

    @property
    def missing_declarations(self) -> list[str]:
        names = ("online_safe", "backward_compatible", "forward_compatible")
        return [n for n in names if not isinstance(getattr(self, n), bool)]

    @property
    def safety(self) -> str:
        if self.online_safe is None:
            return "undeclared"
        return "online-safe" if self.online_safe else "needs downtime"


@dataclass(frozen=True)
class PlannedStep:
    """One revision a plan will run, in order, and in which direction."""

    direction: Direction
    info: RevisionInfo
    fresh_component: bool = False  # the component is not installed yet: nobody uses its tables
    lint: RevisionLint | None = None  # `migrate lint --live` of the revision, when the plan asked for it

    def as_dict(self) -> dict[str, Any]:
        data = asdict(self.info)
        data["direction"] = self.direction
        data["fresh_component"] = self.fresh_component
        data["safety"] = self.info.safety
        if self.lint is not None:
            data["lint"] = {
                "verdict": self.lint.verdict,
                "lock_estimate_s": self.lint.lock_estimate_s,
                "lock_on": self.lint.lock_on,
                "failures": [f.message for f in self.lint.of_level("fail")],
            }
        return data


@dataclass
class MigrationPlan:
    """What an upgrade or downgrade would run, in order, computed before anything runs."""

    target: str
    direction: Direction
    current: dict[str, str | None]
    steps: list[PlannedStep] = field(default_factory=list)

    @property
    def needs_downtime(self) -> list[PlannedStep]:
        """Steps that need downtime; installing a component from scratch never does (nobody uses it yet)."""
        return [
            s
            for s in self.steps
            if s.direction == "upgrade" and s.info.online_safe is False and not s.fresh_component
        ]

    def as_dict(self) -> dict[str, Any]:
        return {
            "target": self.target,
            "direction": self.direction,
            "current": self.current,
            "steps": [s.as_dict() for s in self.steps],
        }


@dataclass
class MigrationResult:
    """What an upgrade/downgrade/stamp did."""

    plan: MigrationPlan
    applied: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    dry_run: bool = False
    elapsed_s: float = 0.0
    held_back: list[str] = field(default_factory=list)  # needing downtime, left for an operator

    def summary(self) -> str:
        held = f"; {len(self.held_back)} held back (need downtime)" if self.held_back else ""
        if self.dry_run:
            return f"dry run: {len(self.plan.steps)} revisions would run; nothing applied{held}"
        skipped = f", {len(self.warnings)} data migrations deferred" if self.warnings else ""
        return f"{len(self.applied)} revisions {self.plan.direction}d{skipped}, {self.elapsed_s:.2f}s{held}"

    def as_dict(self) -> dict[str, Any]:
        return {
            "plan": self.plan.as_dict(),
            "applied": self.applied,
            "warnings": self.warnings,
            "held_back": self.held_back,
            "dry_run": self.dry_run,
            "elapsed_s": round(self.elapsed_s, 3),
            "summary": self.summary(),
        }


@dataclass(frozen=True)
class ComponentStatus:
    """One component: where it is, where its head is, and how many revisions are pending."""

    component: str
    current: str | None
    head: str | None
    pending: int
    pending_needing_downtime: int = 0

    @property
    def state(self) -> str:
        if self.current is None:
            return "not installed"
        return "at head" if self.pending == 0 else "behind"


@dataclass
class StatusReport:
    """Every component's status plus the recorded heavy data migrations."""

    components: list[ComponentStatus]
    data_migrations: list[dict[str, Any]] = field(default_factory=list)

    @property
    def pending_total(self) -> int:
        return sum(c.pending for c in self.components)

    def summary(self) -> str:
        at_head = sum(c.pending == 0 and c.current is not None for c in self.components)
        open_data = sum(d["status"] != "done" for d in self.data_migrations)
        data = f", {open_data} data migrations pending" if open_data else ""
        total = len(self.components)
        return f"{at_head}/{total} components at head, {self.pending_total} revisions pending{data}"

    def as_dict(self) -> dict[str, Any]:
        return {
            "components": [asdict(c) | {"state": c.state} for c in self.components],
            "data_migrations": self.data_migrations,
            "summary": self.summary(),
        }

    def as_metadata(self) -> dict[str, Any]:
        meta: dict[str, Any] = {"summary": self.summary(), "pending_total": self.pending_total}
        for c in self.components:
            meta[f"{c.component}_current"] = c.current or "-"
            meta[f"{c.component}_head"] = c.head or "-"
            meta[f"{c.component}_pending"] = c.pending
        return meta


Level = Literal["fail", "warn", "info", "suppressed"]


@dataclass(frozen=True)
class Finding:
    """One thing lint says about a revision: one line naming the statement, the table, its size and the fix.

    `rule` is a migrata rule (`lockrules.RULES`) or, for `source="squawk"`, squawk's rule name; `squawk`
    lists squawk rules that reported the same statement. Live facts are None without `--live`.
    """

    revision: str
    rule: str
    level: Level
    message: str
    statement: str = ""
    line: int | None = None  # 1-based, in the rendered script (`migrata migrate lint --sql`)
    table: str | None = None
    rows: int | None = None
    size_bytes: int | None = None
    lock: str | None = None
    estimate_s: float | None = None
    source: Literal["migrata", "squawk"] = "migrata"
    squawk: tuple[str, ...] = ()
    link: str | None = None
    reason: str | None = None  # why it is suppressed

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class RevisionLint:
    """The verdict on one revision: fail (a declaration is contradicted), warn, or pass."""

    component: str
    revision: str
    online_safe: bool | None
    findings: list[Finding] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    statements: int = 0
    applied: bool | None = None  # known with --live
    lock_estimate_s: float | None = None  # longest time a lock blocking writes is held (live)
    lock_on: str | None = None  # `ACCESS EXCLUSIVE on big_table`

    @property
    def verdict(self) -> Literal["fail", "warn", "pass"]:
        levels = {f.level for f in self.findings}
        return "fail" if "fail" in levels else "warn" if "warn" in levels else "pass"

    def of_level(self, *levels: Level) -> list[Finding]:
        return [f for f in self.findings if f.level in levels]

    def as_dict(self) -> dict[str, Any]:
        return {
            "component": self.component,
            "revision": self.revision,
            "verdict": self.verdict,
            "online_safe": self.online_safe,
            "applied": self.applied,
            "statements": self.statements,
            "lock_estimate_s": self.lock_estimate_s,
            "lock_on": self.lock_on,
            "notes": self.notes,
            "findings": [f.as_dict() for f in self.findings],
        }


@dataclass
class LintReport:
    """Lint of a set of revisions: each one's verdict, with what the live database said."""

    revisions: list[RevisionLint]
    live: bool
    big_table_rows: int
    rates: dict[str, float] | None = None
    unused_suppressions: list[str] = field(default_factory=list)
    elapsed_s: float = 0.0

    @property
    def ok(self) -> bool:
        return all(r.verdict != "fail" for r in self.revisions)

    def by_revision(self) -> dict[str, RevisionLint]:
        return {r.revision: r for r in self.revisions}

    def summary(self) -> str:
        counts = {v: sum(r.verdict == v for r in self.revisions) for v in ("fail", "warn", "pass")}
        findings = [f for r in self.revisions for f in r.findings]
        suppressed = sum(f.level == "suppressed" for f in findings)
        advice = sum(f.level == "info" and f.source == "squawk" for f in findings)
        mode = "live" if self.live else "static"
        return (
            f"{len(self.revisions)} revisions linted ({mode}): {counts['fail']} fail, "
            f"{counts['warn']} warn, {counts['pass']} pass; {suppressed} suppressed, "
            f"{advice} squawk advisories, {self.elapsed_s:.2f}s"
        )

    def as_dict(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "live": self.live,
            "big_table_rows": self.big_table_rows,
            "rates": self.rates,
            "unused_suppressions": self.unused_suppressions,
            "revisions": [r.as_dict() for r in self.revisions],
            "summary": self.summary(),
        }

    def as_metadata(self) -> dict[str, Any]:
        failing = [f.message for r in self.revisions for f in r.of_level("fail")]
        return {
            "summary": self.summary(),
            "revisions": len(self.revisions),
            "failing": len([r for r in self.revisions if r.verdict == "fail"]),
            "failures": "\n".join(failing) or "none",
        }
