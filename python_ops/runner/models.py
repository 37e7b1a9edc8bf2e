"""Own the types of the one operation shape: Plan (with Steps) → Batches → Checks → Report."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

Status = Literal["ok", "failed", "dry-run", "nothing-to-do"]


@dataclass(frozen=True)
class Step:
    """One thing a plan will do, with the SQL it runs and, where it can be undone, the SQL that undoes it."""

    description: str
    sql: str = ""
    reverse_sql: str | None = None

    def reverse(self) -> Step:
        """Return the step that undoes this one; an irreversible step says so loudly."""
        if self.reverse_sql is None:
            raise NotImplementedError(f"step {self.description!r} cannot be reversed")
        return Step(f"undo: {self.description}", self.reverse_sql, self.sql)


@dataclass
class Plan:
    """What an operation will change, computed before anything is changed."""

    operation: str
    description: str
    total: int
    unit: str = "rows"
    steps: list[Step] = field(default_factory=list)
    details: dict[str, Any] = field(default_factory=dict)

    @property
    def nothing_to_do(self) -> bool:
        return self.total == 0

    def sql(self) -> str:
        """The plan's SQL as a script, for `--dry-run`."""
        return "\n".join(f"-- {s.description}\n{s.sql.rstrip(';')};" for s in self.steps if s.sql)


@dataclass(frozen=True)
class Batch:
    """The outcome of one batch: how many units it did and where the next one starts."""

    units: int
    position: Any
    done: bool
    details: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Check:
    """One verification: a named property with what was expected and what was found."""

    name: str
    ok: bool
    expected: Any = None
    actual: Any = None
    detail: str = ""


@dataclass(frozen=True)
class Progress:
    """A progress event for the CLI's progress bar or Dagster's log."""

    operation: str
    phase: Literal["plan", "run", "verify", "done"]
    done: int
    total: int
    unit: str
    batch: int = 0
    message: str = ""
    rate: float | None = None  # units per second of this run so far (resumed units excluded)
    eta_s: float | None = None  # seconds left at that rate

    def pace(self) -> str:
        """`10,012 rows/s, ETA 0:35`, or empty when the rate is not known yet."""
        if not self.rate:
            return ""
        eta = f", ETA {format_duration(self.eta_s)}" if self.eta_s is not None else ""
        return f"{self.rate:,.0f} {self.unit}/s{eta}"


def format_duration(seconds: float) -> str:
    """`0:07`, `12:30`, `2:03:15`."""
    whole = max(0, round(seconds))
    hours, rest = divmod(whole, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


@dataclass
class Report:
    """What an operation did: counts, checks, timing. Renders as a table, JSON or Dagster metadata."""

    operation: str
    status: Status
    plan: Plan
    units_done: int = 0
    batches: int = 0
    resumed_from: Any = None
    checks: list[Check] = field(default_factory=list)
    elapsed_s: float = 0.0
    details: dict[str, Any] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return self.status != "failed"

    @property
    def failed_checks(self) -> list[Check]:
        return [c for c in self.checks if not c.ok]

    def summary(self) -> str:
        """One line: `12 rows copied in 3 batches, 2/2 checks passed, 0.41s`."""
        if self.status == "dry-run":
            would = f"would process {self.plan.total} {self.plan.unit}"
            return f"{self.operation}: dry run, {would}; nothing written"
        if self.status == "nothing-to-do":
            return f"{self.operation}: nothing to do"
        passed = sum(c.ok for c in self.checks)
        resumed = f", resumed from {self.resumed_from}" if self.resumed_from is not None else ""
        return (
            f"{self.operation}: {self.units_done} {self.plan.unit} in {self.batches} batches{resumed}, "
            f"{passed}/{len(self.checks)} checks passed, {self.elapsed_s:.2f}s — {self.status}"
        )

    def as_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["ok"] = self.ok
        data["summary"] = self.summary()
        return json.loads(json.dumps(data, default=str))

    def as_metadata(self) -> dict[str, Any]:
        """Flat values for Dagster's `MaterializeResult(metadata=…)`."""
        meta: dict[str, Any] = {
            "status": self.status,
            "units_done": self.units_done,
            "unit": self.plan.unit,
            "batches": self.batches,
            "elapsed_s": round(self.elapsed_s, 3),
            "checks_passed": sum(c.ok for c in self.checks),
            "checks_failed": len(self.failed_checks),
            "summary": self.summary(),
        }
        for key, value in self.details.items():
            meta[key] = (
                value if isinstance(value, (int, float, str, bool)) else json.dumps(value, default=str)
            )
        return meta
