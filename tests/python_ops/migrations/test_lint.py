"""`migrate lint`: exactly the known hazards fail, with live sizes; their safe twins pass and really run.

The fixture trees (tests/plugins/migrata_lint_fixtures) hold one hazard per revision (`linthaz`) and its
safe twin (`lintsafe`). Tables are small: the big-table threshold is lowered for the test (1M rows is
the benchmark's job).
"""

from __future__ import annotations

import threading
import time
from pathlib import Path

import plugin_support as ps
import psycopg
import pytest
from migrata_lint_fixtures import EXPECTED, TWINS

from python_ops import migrations
from python_ops.errors import ConfigError, MigrataError
from python_ops.migrations import lint

ROWS = 2_000


@pytest.fixture
def fixtures(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    return ps.install_lint_fixtures(monkeypatch, tmp_path)


@pytest.fixture
def live(fixtures: Path, dsn: str, conn: psycopg.Connection) -> str:
    """Both fixture components at their base revision, each table holding ROWS rows."""
    migrations.migrate(dsn, "linthaz@linthaz_0001")
    migrations.migrate(dsn, "lintsafe@lintsafe_0001")
    for table in ("linthaz_items", "lintsafe_items"):
        conn.execute(
            f"INSERT INTO {table} (id, v, label, note) SELECT g, g, 'l' || g, 'n' || g"
            " FROM generate_series(1, %s) g",
            (ROWS,),
        )
        conn.execute(f"ANALYZE {table}")
    return dsn


def _failing(report, revision: str) -> set[str]:  # type: ignore[no-untyped-def]
    return {f.rule for f in report.by_revision()[revision].of_level("fail")}


def test_live_lint_flags_exactly_the_hazards_with_sizes_and_passes_the_twins(live: str) -> None:
    report = lint(live, ["linthaz", "lintsafe"], big_table_rows=1_000)
    assert report.live and not report.ok
    for revision, rule in EXPECTED.items():
        assert _failing(report, revision) == {rule}, report.by_revision()[revision].findings
        (finding,) = report.by_revision()[revision].of_level("fail")
        assert "linthaz_items" in finding.message and "fix:" in finding.message
        if rule not in ("concurrently-in-transaction",):
            assert f"{ROWS:,} rows" in finding.message and finding.rows == ROWS
    for revision in ("linthaz_0001", *TWINS):
        lint_of = report.by_revision()[revision]
        assert lint_of.verdict == "pass", lint_of.findings
    # the rewrite's lock time is estimated from this server's measured rates
    rewrite = report.by_revision()["linthaz_0005"]
    assert rewrite.lock_estimate_s is not None and rewrite.lock_estimate_s > 0
    assert rewrite.lock_on == "ACCESS EXCLUSIVE on linthaz_items"
    assert report.rates is not None and report.rates["scan_mb_s"] > 0
    # squawk saw the same statements: its rule names ride on migrata's findings
    assert report.by_revision()["linthaz_0002"].of_level("fail")[0].squawk == (
        "require-concurrent-index-creation",
    )
    # the rename names what reads the column
    assert "used by view linthaz_labels" in report.by_revision()["linthaz_0007"].of_level("fail")[0].message


def test_below_the_threshold_size_hazards_pass_with_their_size_and_the_rest_still_fail(live: str) -> None:
    report = lint(live, ["linthaz"])  # default threshold: 100,000 rows
    size_dependent = {"linthaz_0002", "linthaz_0003", "linthaz_0004", "linthaz_0005"}
    for revision in size_dependent:
        lint_of = report.by_revision()[revision]
        assert lint_of.verdict == "pass"
        (note,) = [f for f in lint_of.findings if f.rule == EXPECTED[revision]]
        assert note.level == "info" and "below the 100,000-row threshold" in note.message
    for revision in set(EXPECTED) - size_dependent:
        assert _failing(report, revision) == {EXPECTED[revision]}


def test_static_lint_knows_no_sizes_so_every_existing_table_counts_as_big(fixtures: Path) -> None:
    report = lint(None, ["linthaz", "lintsafe"])
    assert not report.live and report.rates is None
    for revision, rule in EXPECTED.items():
        assert _failing(report, revision) == {rule}
    assert "size unknown offline" in report.by_revision()["linthaz_0002"].of_level("fail")[0].message
    verdicts = {r: report.by_revision()[r].verdict for r in TWINS}
    # varchar(20) → text is binary coercible, but only the live catalog can say the old type
    assert verdicts == {r: "warn" if r == "lintsafe_0005" else "pass" for r in TWINS}


def test_a_table_created_earlier_in_the_revision_or_not_yet_created_is_no_hazard(
    fixtures: Path, dsn: str, conn: psycopg.Connection
) -> None:
    # linthaz_0001 creates the table and its view: nothing there is a hazard, statically or live
    assert lint(None, ["linthaz_0001"]).revisions[0].verdict == "pass"
    # live, with the component not installed (fresh): its tables do not exist, so nothing is at risk
    report = lint(dsn, ["linthaz"], big_table_rows=1)
    assert conn.execute("SELECT to_regclass('linthaz_items')").fetchone() == (None,)
    assert {r.revision: r.verdict for r in report.revisions if r.revision != "linthaz_0006"} == {
        r: "pass" for r in ["linthaz_0001", *EXPECTED] if r != "linthaz_0006"
    }
    assert _failing(report, "linthaz_0006") == {"concurrently-in-transaction"}  # fails whatever the size


def test_the_twins_really_run_online_and_leave_what_they_promise(live: str, conn: psycopg.Connection) -> None:
    # an invalid leftover of an interrupted CREATE INDEX CONCURRENTLY: the helper drops and rebuilds it
    conn.execute("UPDATE lintsafe_items SET v = 1 WHERE id <= 2")
    with pytest.raises(psycopg.errors.UniqueViolation):
        conn.execute("CREATE UNIQUE INDEX CONCURRENTLY lintsafe_items_v_idx ON lintsafe_items (v)")
    assert conn.execute(
        "SELECT indisvalid FROM pg_index WHERE indexrelid = 'lintsafe_items_v_idx'::regclass"
    ).fetchone() == (False,)
    result = migrations.migrate(live, "lintsafe")
    assert result.applied == [f"lintsafe_{n:04d}" for n in range(2, 9)]
    indexes = dict(
        conn.execute(
            "SELECT indexrelid::regclass::text, indisvalid AND NOT indisunique FROM pg_index"
            " WHERE indrelid = 'lintsafe_items'::regclass AND NOT indisprimary"
        ).fetchall()
    )
    assert indexes == {"lintsafe_items_v_idx": True, "lintsafe_items_note_idx": True}
    columns = dict(
        conn.execute(
            "SELECT attname, format_type(atttypid, atttypmod) || (CASE WHEN attnotnull THEN ' not null'"
            " ELSE '' END) FROM pg_attribute WHERE attrelid = 'lintsafe_items'::regclass AND attnum > 0"
            " AND NOT attisdropped"
        ).fetchall()
    )
    assert columns["v"] == "integer not null" and columns["code"] == "text"
    assert {"token", "title", "extra"} <= set(columns)
    # the helper's CHECK was only a means: it is gone again
    assert conn.execute(
        "SELECT count(*) FROM pg_constraint WHERE conrelid = 'lintsafe_items'::regclass AND contype = 'c'"
    ).fetchone() == (0,)
    migrations.downgrade(live, "lintsafe@lintsafe_0001")
    assert migrations.current(live)["lintsafe"] == "lintsafe_0001"


def test_execute_retries_a_lock_timeout_then_gives_up_clearly(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, dsn: str, conn: psycopg.Connection, caplog
) -> None:
    ps.make_tree(
        monkeypatch,
        tmp_path,
        "retry",
        {
            "a.py": ps.revision_source(
                "retry_0001", None, component="retry", upgrade="op.execute('CREATE TABLE retry_t (x int)')",
                downgrade="op.execute('DROP TABLE retry_t')",
            ),
            "b.py": ps.revision_source(
                "retry_0002", "retry_0001",
                upgrade="ddl.execute('ALTER TABLE retry_t ADD COLUMN y int', lock_timeout='0.1s', retries=8)",
                downgrade="ddl.execute('ALTER TABLE retry_t DROP COLUMN y')",
                imports="from python_ops.migrations import ddl\n",
            ),
            "c.py": ps.revision_source(
                "retry_0003", "retry_0002",
                upgrade="ddl.execute('ALTER TABLE retry_t ADD COLUMN z int', lock_timeout='50ms', retries=1)",
                downgrade="ddl.execute('ALTER TABLE retry_t DROP COLUMN z')",
                imports="from python_ops.migrations import ddl\n",
            ),
        },
    )  # fmt: skip
    migrations.migrate(dsn, "retry@retry_0001")
    holder = psycopg.connect(dsn)
    holder.execute("SELECT * FROM retry_t")  # an open transaction holding ACCESS SHARE

    def release_later() -> None:
        time.sleep(1.0)
        holder.rollback()

    thread = threading.Thread(target=release_later)
    thread.start()
    migrations.migrate(dsn, "retry@retry_0002")  # waits, times out, retries, then gets the lock
    thread.join()
    assert "lock not granted in time (attempt 1)" in caplog.text
    assert conn.execute("SELECT count(*) FROM pg_attribute WHERE attrelid = 'retry_t'::regclass"
                        " AND attname = 'y'").fetchone() == (1,)  # fmt: skip

    holder.execute("SELECT * FROM retry_t")  # held for good this time
    try:
        with pytest.raises(MigrataError, match=r"lock not granted within its lock_timeout after 2 attempts"):
            migrations.migrate(dsn, "retry@retry_0003")
    finally:
        holder.close()
    assert migrations.current(dsn)["retry"] == "retry_0002"


def test_suppressions_are_per_revision_and_rule_with_a_reason(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    package = ps.make_tree(
        monkeypatch,
        tmp_path,
        "supp",
        {
            "a.py": ps.revision_source(
                "supp_0001", None, component="supp", upgrade="op.execute('CREATE TABLE supp_t (x int)')",
                downgrade="op.execute('DROP TABLE supp_t')",
            ),
            "b.py": ps.revision_source(
                "supp_0002", "supp_0001", upgrade="op.execute('CREATE INDEX supp_x ON supp_t (x)')",
                downgrade="op.execute('DROP INDEX supp_x')",
                declarations="online_safe = True\nbackward_compatible = True\nforward_compatible = True\n"
                'lint_suppressions = {"index-not-concurrent": "supp_t holds one row per tenant: tiny"}\n',
            ),
        },
    )  # fmt: skip
    report = lint(None, ["supp"])
    revision = report.by_revision()["supp_0002"]
    assert revision.verdict == "fail" and _failing(report, "supp_0002") == {"missing-lock-timeout"}
    (accepted,) = revision.of_level("suppressed")
    assert (
        accepted.rule == "index-not-concurrent" and accepted.reason == "supp_t holds one row per tenant: tiny"
    )

    (package / "lint.toml").write_text('[supp_0002]\nmissing-lock-timeout = "nobody else writes supp_t"\n')
    report = lint(None, ["supp"])
    assert report.ok and report.by_revision()["supp_0002"].verdict == "pass"

    (package / "lint.toml").write_text('[supp_0001]\nmissing-lock-timeout = "unused here"\n')
    assert lint(None, ["supp"]).unused_suppressions == ["supp_0001: missing-lock-timeout (" + str(
        package / "lint.toml") + ")"]  # fmt: skip
    (package / "lint.toml").write_text('[supp_0002]\nmissing-lock-timeout = ""\n')
    with pytest.raises(ConfigError, match="has no reason"):
        lint(None, ["supp"])
    (package / "lint.toml").write_text('[supp_0009]\nmissing-lock-timeout = "x"\n')
    with pytest.raises(ConfigError, match=r"\[supp_0009\] is not a revision of component 'supp'"):
        lint(None, ["supp"])


def test_the_projects_own_revisions_and_plugins_pass_lint(demoplug: Path) -> None:
    """The gate `make test` runs: every revision of migrata's own trees and of the demo plugin."""
    report = lint(None)
    failing = [f.message for r in report.revisions for f in r.of_level("fail")]
    assert report.ok, failing
    assert report.unused_suppressions == []
    assert {"core", "lineage", "archive", "parquet", "partitions", "chunks", "demoplug"} <= {
        r.component for r in report.revisions
    }
    # demoplug_0003's plain CREATE INDEX is declared (online_safe = False), so it is expected, not failed
    demo = report.by_revision()["demoplug_0003"]
    assert {f.rule for f in demo.of_level("info") if f.source == "migrata"} == {
        "index-not-concurrent",
        "missing-lock-timeout",
    }


def test_a_role_that_cannot_create_a_scratch_table_gets_the_verdicts_without_estimates(
    live: str, conn: psycopg.Connection
) -> None:
    role = f"lint_reader_{conn.info.dbname}"
    database = conn.info.dbname
    conn.execute(f"CREATE ROLE {role} LOGIN")
    try:
        conn.execute(f"REVOKE TEMP ON DATABASE {database} FROM PUBLIC")
        conn.execute(f"GRANT SELECT ON ALL TABLES IN SCHEMA public TO {role}")
        reader = psycopg.conninfo.make_conninfo(live, user=role)
        report = lint(reader, ["linthaz"], big_table_rows=1_000)
        for revision, rule in EXPECTED.items():
            assert _failing(report, revision) == {rule}
        assert report.rates is None and report.by_revision()["linthaz_0005"].lock_estimate_s is None
        assert f"{ROWS:,} rows" in report.by_revision()["linthaz_0002"].of_level("fail")[0].message
    finally:
        conn.execute(f"DROP OWNED BY {role}")
        conn.execute(f"DROP ROLE {role}")
