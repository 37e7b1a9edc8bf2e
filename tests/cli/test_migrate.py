"""`migrata migrate …` as a user runs it: status, plan, up/down, stamp, run-pending, check, new, docs."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import psycopg
import pytest
from typer.testing import CliRunner

from python_ops.cli.app import app

sys.path.insert(0, str(Path(__file__).parents[1] / "plugins"))

import plugin_support as ps

runner = CliRunner()


@pytest.fixture
def cli_dsn(dsn: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> str:
    """The test database as the CLI's repository, with the demo plugin installed."""
    monkeypatch.setenv("MIGRATA_POSTGRES__DSN", dsn)
    ps.install_demo_plugin(monkeypatch, tmp_path)
    return dsn


def _migrate(*args: str):  # type: ignore[no-untyped-def]
    return runner.invoke(app, ["--quiet", "migrate", *args])


def _status(dsn: str) -> dict[str, dict]:
    result = runner.invoke(app, ["--json", "migrate", "status"])
    assert result.exit_code == 0, result.output
    return {c["component"]: c for c in json.loads(result.stdout)["components"]}


def test_upgrade_downgrade_round_trip_with_declarations_placeholders_and_run_pending(cli_dsn: str) -> None:
    assert _status(cli_dsn)["demoplug"]["state"] == "not installed"
    planned = _migrate("plan", "demoplug")
    assert planned.exit_code == 0 and "demoplug_0003" in planned.stdout and "needs downtime" in planned.stdout

    assert _migrate("upgrade", "demoplug@demoplug_0001").exit_code == 0
    with psycopg.connect(cli_dsn, autocommit=True) as conn:
        conn.execute("INSERT INTO demoplug_items (id, v) SELECT g, g FROM generate_series(1, 10) g")

    refused = _migrate("upgrade", "--set", "heavy_threshold=5")
    assert refused.exit_code == 2
    assert (
        "1 revisions need downtime: demoplug_0003" in refused.stderr and "--allow-downtime" in refused.stderr
    )
    assert _status(cli_dsn)["demoplug"]["current"] == "demoplug_0001"  # nothing applied

    dry = _migrate("upgrade", "--allow-downtime", "--dry-run")
    assert dry.exit_code == 0 and "dry run: 2 revisions would run" in dry.stdout
    assert _status(cli_dsn)["demoplug"]["current"] == "demoplug_0001"

    done = _migrate("upgrade", "--allow-downtime", "--set", "heavy_threshold=5")
    assert done.exit_code == 0, done.output
    assert "data migration demoplug_double (demoplug_0002) skipped: about 10 rows" in done.stderr
    status = runner.invoke(app, ["migrate", "status"])
    assert "demoplug_double" in status.stdout and "pending" in status.stdout
    assert _status(cli_dsn)["demoplug"] == {
        "component": "demoplug", "current": "demoplug_0003", "head": "demoplug_0003", "pending": 0,
        "pending_needing_downtime": 0, "state": "at head",
    }  # fmt: skip

    listed = _migrate("run-pending", "--dry-run")
    assert listed.exit_code == 0 and "demoplug_double" in listed.stdout
    ran = _migrate("run-pending", "--set", "chunk_size=4")
    assert ran.exit_code == 0, ran.output
    assert "demoplug_double: 10 rows in 3 batches" in ran.stdout

    history = _migrate("history", "demoplug")
    assert history.exit_code == 0 and "3 revisions, 3 applied" in history.stdout
    down_plan = _migrate("plan", "--downgrade", "demoplug@-1")
    assert down_plan.exit_code == 0 and "demoplug_0003" in down_plan.stdout, down_plan.output
    down = _migrate("downgrade", "demoplug@base")
    assert down.exit_code == 0, down.output
    assert _status(cli_dsn)["demoplug"]["state"] == "not installed"

    assert _migrate("stamp", "demoplug@demoplug_0001").exit_code == 0
    assert _status(cli_dsn)["demoplug"]["current"] == "demoplug_0001"
    assert _migrate("stamp", "demoplug@base").exit_code == 0
    assert _status(cli_dsn)["demoplug"]["current"] is None


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["upgrade", "nosuch"], "unknown component or revision 'nosuch'"),
        (["downgrade", "demoplug"], "downgrade needs a revision"),
        (["upgrade", "--set", "novalue"], "'novalue' is not k=v"),
    ],
)
def test_bad_input_is_one_clear_error_with_exit_2(cli_dsn: str, args: list[str], message: str) -> None:
    result = _migrate(*args)
    assert result.exit_code == 2
    assert message in result.stderr and "Traceback" not in result.output


def test_check_exits_1_on_drift(cli_dsn: str) -> None:
    ok = _migrate("check")
    assert ok.exit_code == 1  # the installed plugin is not applied yet
    assert "demoplug" in ok.stdout.split("not at head:")[1]
    assert _migrate("upgrade", "demoplug").exit_code == 0
    assert _migrate("check").exit_code == 0
    with psycopg.connect(cli_dsn, autocommit=True) as conn:
        conn.execute("ALTER TABLE demoplug_items ADD COLUMN by_hand text")
    drift = runner.invoke(app, ["--json", "migrate", "check"])
    assert drift.exit_code == 1
    report = json.loads(drift.stdout)
    (demoplug,) = [c for c in report["components"] if c["component"] == "demoplug"]
    assert demoplug["state"] == "drift" and "+by_hand text" in demoplug["problems"][0]


def test_new_revision_and_generated_docs(
    cli_dsn: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    package = ps.make_tree(
        monkeypatch,
        tmp_path,
        "authored",
        {
            "0001_authored_base.py": ps.revision_source(
                "authored_0001", None, component="authored",
                upgrade="op.execute('CREATE TABLE authored_t (x int)')",
                downgrade="op.execute('DROP TABLE authored_t')",
            )
        },
    )  # fmt: skip
    created = _migrate("new", "authored", "add a column", "--needs-downtime", "--not-forward-compatible")
    assert created.exit_code == 0, created.output
    path = package / "0002_authored_add_a_column.py"
    text = path.read_text()
    assert (
        "revision: str = 'authored_0002'" in text
        and "down_revision: str | Sequence[str] | None = 'authored_0001'" in text
    )
    assert (
        "online_safe = False" in text
        and "backward_compatible = True" in text
        and "forward_compatible = False" in text
    )
    assert "raise NotImplementedError('write the upgrade')" in text

    docs = tmp_path / "migrations.md"
    assert runner.invoke(app, ["migrate", "docs", "--output", str(docs)]).exit_code == 0
    rendered = docs.read_text()
    assert (
        "## authored" in rendered and "| `authored_0002` | add a column | **no** | yes | **no** |" in rendered
    )
    assert "## demoplug" in rendered and "`demoplug_double`" in rendered
    assert runner.invoke(app, ["migrate", "docs", "--output", str(docs), "--check"]).exit_code == 0
    docs.write_text(rendered + "edited by hand\n")
    assert runner.invoke(app, ["migrate", "docs", "--output", str(docs), "--check"]).exit_code == 1


def test_committed_migration_docs_are_up_to_date() -> None:
    """docs/migrations.md is generated; a revision added without regenerating it fails here."""
    result = CliRunner().invoke(app, ["migrate", "docs", "--check"])
    assert result.exit_code == 0, "run `migrata migrate docs` and commit docs/migrations.md"


def _deferred_demoplug(dsn: str) -> None:
    """demoplug at 0002 with its data migration recorded as pending over 10 rows."""
    assert _migrate("upgrade", "demoplug@demoplug_0001").exit_code == 0
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute("INSERT INTO demoplug_items (id, v) SELECT g, g FROM generate_series(1, 10) g")
    assert _migrate("upgrade", "demoplug@demoplug_0002", "--set", "heavy_threshold=5").exit_code == 0


def _pending_state(dsn: str) -> tuple:
    with psycopg.connect(dsn, autocommit=True) as conn:
        return conn.execute(
            "SELECT p.status, p.started_at IS NULL,"
            " (SELECT count(*) FROM demoplug_items WHERE doubled IS NULL)"
            " FROM migrata_pending_migrations p WHERE p.name = 'demoplug_double'"
        ).fetchone()


@pytest.mark.parametrize("value", ["0", "x", "-5", "1.5", ""])
def test_run_pending_refuses_a_bad_chunk_size_before_writing_anything(cli_dsn: str, value: str) -> None:
    """Issue 17 items 1-2: 0 is not the default, `x` is not a traceback; the record stays pending."""
    _deferred_demoplug(cli_dsn)
    before = _pending_state(cli_dsn)
    assert before == ("pending", True, 10)
    result = _migrate("run-pending", "--set", f"chunk_size={value}")
    assert result.exit_code == 2, result.output
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert lines[0].startswith("error: placeholder chunk_size") and repr(value) in lines[0], lines
    assert "--set chunk_size=" in result.stderr and "--chunk-size" not in result.stderr
    assert "Traceback" not in result.output and len(lines) == 2  # the error and its hint
    assert _pending_state(cli_dsn) == before  # not marked running, nothing migrated


@pytest.mark.parametrize(
    ("pair", "name"), [("chunk_size=0", "chunk_size"), ("heavy_threshold=-1", "heavy_threshold"),
                       ("heavy=sometimes", "heavy")]
)  # fmt: skip
def test_upgrade_refuses_a_bad_placeholder_before_applying_anything(
    cli_dsn: str, pair: str, name: str
) -> None:
    result = _migrate("upgrade", "demoplug", "--set", pair)
    assert result.exit_code == 2, result.output
    assert result.stderr.startswith(f"error: placeholder {name}") and "Traceback" not in result.output
    assert _status(cli_dsn)["demoplug"]["current"] is None  # not even demoplug_0001 ran


def test_lint_passes_the_project_and_fails_a_hazard_with_one_clear_line(
    cli_dsn: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    clean = _migrate("lint")
    assert clean.exit_code == 0, clean.output
    assert "0 fail" in clean.stdout and "accepted lineage_0002 index-not-concurrent:" in clean.stdout

    ps.install_lint_fixtures(monkeypatch, tmp_path)
    assert _migrate("upgrade", "linthaz@linthaz_0001").exit_code == 0
    with psycopg.connect(cli_dsn, autocommit=True) as conn:
        conn.execute("INSERT INTO linthaz_items (id, v) SELECT g, g FROM generate_series(1, 300) g")
    static = _migrate("lint", "linthaz_0002", "lintsafe_0002")
    assert static.exit_code == 1
    (line,) = [x for x in static.stdout.splitlines() if x.startswith("FAIL ")]
    assert line.startswith("FAIL linthaz_0002: CREATE INDEX linthaz_items_v_idx ON linthaz_items (v): builds")
    assert "size unknown offline" in line and "fix: ddl.create_index" in line
    assert "[squawk: require-concurrent-index-creation]" in line

    live = runner.invoke(app, ["--json", "migrate", "lint", "--live", "--big-table-rows", "100", "linthaz"])
    assert live.exit_code == 1
    report = json.loads(live.stdout)
    failing = {r["revision"]: r for r in report["revisions"] if r["verdict"] == "fail"}
    assert set(failing) == {f"linthaz_{n:04d}" for n in range(2, 9)}
    index = failing["linthaz_0002"]["findings"][0]
    assert index["rows"] == 300 and index["table"] == "linthaz_items" and index["level"] == "fail"

    sql = _migrate("lint", "--sql", "lintsafe_0002")
    assert sql.exit_code == 0
    assert sql.stdout.splitlines()[:3] == ["-- lintsafe_0002", "BEGIN;", ""]
    assert "COMMIT;\n\nSET lock_timeout = '2s';\n\nCREATE INDEX CONCURRENTLY IF NOT EXISTS" in sql.stdout

    planned = _migrate("plan", "linthaz")
    assert planned.exit_code == 0
    assert "FAIL linthaz_0006: CREATE INDEX CONCURRENTLY" in planned.stdout
    assert "3 fail lint" in planned.stdout  # at the default threshold 300 rows are small: 4 pass

    assert _migrate("lint", "nosuch").exit_code == 2
    zero = _migrate("lint", "--big-table-rows", "0")
    assert zero.exit_code == 2 and "Traceback" not in zero.output


def test_new_writes_a_lock_safe_revision_that_passes_lint_runs_and_reverses(
    cli_dsn: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    package = ps.make_tree(
        monkeypatch,
        tmp_path,
        "authored",
        {
            "0001_authored_base.py": ps.revision_source(
                "authored_0001", None, component="authored",
                upgrade="op.execute('CREATE TABLE authored_items (id bigint PRIMARY KEY, note text)')",
                downgrade="op.execute('DROP TABLE authored_items')",
            )
        },
    )  # fmt: skip
    created = _migrate(
        "new", "authored", "state, required note",
        "--add-column", "authored_items.state text",
        "--set-not-null", "authored_items.note",
        "--create-index", "authored_items(state, note)",
    )  # fmt: skip
    assert created.exit_code == 0, created.output
    text = (package / "0002_authored_state_required_note.py").read_text()
    assert "ddl.set_not_null('authored_items', 'note')" in text
    assert "ddl.create_index('authored_items_state_note_idx', 'authored_items', 'state, note')" in text
    assert "NotImplementedError" not in text

    assert _migrate("upgrade", "authored@authored_0001").exit_code == 0
    with psycopg.connect(cli_dsn, autocommit=True) as conn:
        conn.execute("INSERT INTO authored_items SELECT g, 'n' FROM generate_series(1, 500) g")
    linted = _migrate("lint", "--live", "--big-table-rows", "10", "authored_0002")
    assert linted.exit_code == 0 and "1 pass" in linted.stdout, linted.output
    assert _migrate("upgrade", "authored").exit_code == 0
    with psycopg.connect(cli_dsn, autocommit=True) as conn:
        assert conn.execute(
            "SELECT attnotnull FROM pg_attribute"
            " WHERE attrelid = 'authored_items'::regclass AND attname = 'note'"
        ).fetchone() == (True,)
        assert conn.execute(
            "SELECT indisvalid FROM pg_index WHERE indexrelid = 'authored_items_state_note_idx'::regclass"
        ).fetchone() == (True,)
    assert _migrate("downgrade", "authored@-1").exit_code == 0
    with psycopg.connect(cli_dsn, autocommit=True) as conn:
        assert conn.execute("SELECT to_regclass('authored_items_state_note_idx')").fetchone() == (None,)

    bad = _migrate("new", "authored", "x", "--create-index", "no parens")
    assert bad.exit_code == 2 and "--create-index 'no parens' is not of the form" in bad.stderr


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--max-rows-per-second", "0"], "placeholder max_rows_per_second='0.0' is not a number > 0"),
        (["--max-replication-lag", "-1"], "placeholder max_replication_lag_s='-1.0' is not a number > 0"),
        (["--set", "heavy=now"], "placeholder 'heavy' means nothing here"),
    ],
)
def test_run_pending_refuses_bad_throttle_options_before_writing(
    cli_dsn: str, args: list[str], message: str
) -> None:
    _deferred_demoplug(cli_dsn)
    result = _migrate("run-pending", *args)
    assert result.exit_code == 2 and result.stderr.startswith(f"error: {message}"), result.output
    assert _pending_state(cli_dsn) == ("pending", True, 10)
