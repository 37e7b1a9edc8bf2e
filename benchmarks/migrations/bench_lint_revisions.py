"""`migrate lint` end to end (the CLI in a fresh process, as CI runs it): every revision of the project
statically (goal < 3 s), then with `--live` on a store whose hazard table holds 1M rows (small: 100K)
(goal < 5 s), against squawk alone on the same rendered SQL measured in the same run. Then the lint's
estimated lock times are checked against the real statements run on that table.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psycopg

from benchmarks.common import Figure, Session, timed
from python_ops import migrations
from python_ops.migrations import squawk
from python_ops.migrations.linter import render_sql

NAME = "bench_lint_revisions"
TABLE = "bench_lint_items"
MIGRATA = str(Path(sys.executable).with_name("migrata"))

_REVISION = '''"""benchlint: {doc}"""
from alembic import op

revision = "benchlint_{n:04d}"
down_revision = {down!r}
branch_labels = {labels}
depends_on = None
online_safe = True
backward_compatible = True
forward_compatible = True


def upgrade() -> None:
{body}


def downgrade() -> None:
    raise NotImplementedError("benchmark tree")
'''
_HAZARDS = [
    ("the table", f"CREATE TABLE {TABLE} (id bigint PRIMARY KEY, v integer, label varchar(20), note text)"),
    ("index without CONCURRENTLY", f"CREATE INDEX {TABLE}_v_idx ON {TABLE} (v)"),
    ("type change", f"ALTER TABLE {TABLE} ALTER COLUMN v TYPE bigint"),
    ("NOT NULL", f"ALTER TABLE {TABLE} ALTER COLUMN v SET NOT NULL"),
    ("volatile default", f"ALTER TABLE {TABLE} ADD COLUMN token uuid DEFAULT gen_random_uuid()"),
]
EXPECTED = {
    "benchlint_0002": "index-not-concurrent",
    "benchlint_0003": "column-type-rewrite",
    "benchlint_0004": "set-not-null-scan",
    "benchlint_0005": "volatile-default-rewrite",
}


def _plugin(root: Path) -> Path:
    """A plugin tree `benchlint` (registered through its entry point) with one hazard per revision."""
    site = root / "site"
    package = site / "bench_lint_migrations"
    package.mkdir(parents=True)
    (package / "__init__.py").write_text('"""Benchmark revisions."""\n')
    for n, (doc, sql) in enumerate(_HAZARDS, 1):
        body = (
            "    op.execute(\"SET LOCAL lock_timeout = '2s'\")\n" if n > 1 else ""
        ) + f"    op.execute({sql!r})"
        down = None if n == 1 else f"benchlint_{n - 1:04d}"
        labels = '("benchlint",)' if n == 1 else "None"
        text = _REVISION.format(doc=doc, n=n, down=down, labels=labels, body=body)
        (package / f"{n:04d}_benchlint.py").write_text(text)
    info = site / "bench_lint_migrations-0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: bench_lint_migrations\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text("[migrata.migrations]\nbenchlint = bench_lint_migrations\n")
    return site


def _cli(args: list[str], env: dict[str, str]) -> tuple[float, subprocess.CompletedProcess[str]]:
    return timed(
        lambda: subprocess.run(
            [MIGRATA, "--quiet", *args], capture_output=True, text=True, env=env, check=False
        )
    )


def run(session: Session, scale: str) -> list[Figure]:
    rows = 1_000_000 if scale == "full" else 100_000
    env = os.environ | {"MIGRATA_POSTGRES__DSN": session.dsn, "MIGRATA_HOME": str(session.home)}
    figures = []

    # static: the project's own revisions, in a fresh process (Python start-up and imports included)
    squawk_s, _ = timed(lambda: squawk.run({r.revision: r.script() for r in render_sql()}))
    migrations.lint(None)  # warm: revision modules imported once
    in_process_s, _ = timed(lambda: migrations.lint(None))
    figures.append(
        Figure(NAME, "lint, all project revisions, static, in-process (render, parse, squawk, verdict)",
               in_process_s, "s", squawk_s, "squawk alone on the same rendered SQL", "-")
    )  # fmt: skip
    static_s, done = _cli(["migrate", "lint"], env)
    assert done.returncode == 0, done.stdout + done.stderr
    figures.append(
        Figure(NAME, "lint, all project revisions, static (CLI, fresh process)", static_s, "s", squawk_s,
               "squawk alone on the same rendered SQL (in-process render)", "< 3 s")
    )  # fmt: skip

    with tempfile.TemporaryDirectory(prefix="migrata-bench-lint-") as tmp:
        site = _plugin(Path(tmp))
        sys.path.insert(0, str(site))
        env["PYTHONPATH"] = os.pathsep.join([str(site), *sys.path])
        try:
            migrations.migrate(session.dsn, "benchlint@benchlint_0001")
            with psycopg.connect(session.dsn, autocommit=True) as conn:
                conn.execute(
                    f"INSERT INTO {TABLE} (id, v, label, note)"
                    " SELECT g, g %% 1000, 'l' || g %% 97, md5(g::text) FROM generate_series(1, %s) g",
                    (rows,),
                )
                conn.execute(f"VACUUM ANALYZE {TABLE}")
            live_s, done = _cli(["--json", "migrate", "lint", "--live"], env)
            assert done.returncode == 1, done.stderr  # the benchmark's hazards fail, on a big table
            report = json.loads(done.stdout)
            failing = {r["revision"]: r for r in report["revisions"] if r["verdict"] == "fail"}
            assert {
                k: {f["rule"] for f in v["findings"] if f["level"] == "fail"} for k, v in failing.items()
            } == {k: {v} for k, v in EXPECTED.items()}, failing
            figures.append(
                Figure(NAME, f"lint --live, all revisions, {rows:,}-row hazard table (CLI, fresh process)",
                       live_s, "s", static_s, "the static lint above", "< 5 s")
            )  # fmt: skip
            figures += _estimates_vs_real(session.dsn, failing, rows)
        finally:
            sys.path.remove(str(site))
    return figures


def _estimates_vs_real(dsn: str, failing: dict, rows: int) -> list[Figure]:  # type: ignore[type-arg]
    """Run the hazards for real on the big table; compare each with lint's estimated lock time."""
    figures = []
    # the rewrite first: its estimate was made with the table's indexes as they were (the primary key)
    for revision, sql in (("benchlint_0003", _HAZARDS[2][1]), ("benchlint_0002", _HAZARDS[1][1])):
        estimate = failing[revision]["lock_estimate_s"]
        with psycopg.connect(dsn, autocommit=True) as conn:
            started = time.perf_counter()
            conn.execute(sql)
            real = time.perf_counter() - started
        figures.append(
            Figure(NAME, f"{revision} run for real on {rows:,} rows ({sql[:40]}…)", real, "s",
                   estimate, "lint's estimated lock time (from measured rates)", "same order")
        )  # fmt: skip
    return figures
