"""`migrata lineage …` through the CLI: ingest files and stdin (per-line rejection), exit codes, backfill
(dry run prints a chunk's statements, chunk size from settings), graph JSON, retention with export."""

from __future__ import annotations

import json
import uuid
from pathlib import Path

import psycopg
from typer.testing import CliRunner

from migrata_samples.openlineage import food_delivery_events
from python_ops.cli.app import app
from python_ops.settings import MigrataSettings


def test_ingest_backfill_graph(
    settings_env: MigrataSettings, conn: psycopg.Connection, tmp_path: Path
) -> None:
    runner = CliRunner()
    events = food_delivery_events()
    array = tmp_path / "food.json"
    array.write_text(json.dumps(events))
    result = runner.invoke(app, ["--json", "lineage", "ingest", str(array)])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["stored"] == len(events)

    good = {
        "eventType": "START",
        "eventTime": "2026-01-01T00:00:00Z",
        "run": {"runId": str(uuid.uuid4())},
        "job": {"namespace": "cli", "name": "job"},
    }
    lines = "\n".join(
        [
            json.dumps(good),
            '{"eventType": "START"}',
            json.dumps({**good, "job": {"namespace": "cli", "name": "a\ud800b"}}),  # a lone surrogate
            json.dumps({**good, "eventTime": "1970-01-01T00:00:00Z", "run": {"runId": str(uuid.uuid4())}}),
            "[" * 3000 + "]" * 3000,
            json.dumps({**good, "eventType": "COMPLETE"}),
        ]
    )
    result = runner.invoke(app, ["lineage", "ingest", "-"], input=lines)
    assert result.exit_code == 1
    assert "<stdin> line 2: eventTime" in result.stderr
    assert "<stdin> line 3: job.name" in result.stderr and "surrogate" in result.stderr
    assert "<stdin> line 4: eventTime" in result.stderr and "window" in result.stderr
    assert "<stdin> line 5: json" in result.stderr
    assert "6 events, 2 stored" in result.stdout  # the file goes on after each rejected line

    zero = runner.invoke(app, ["lineage", "backfill", "--chunk-size", "0"])
    assert zero.exit_code == 2
    dry = runner.invoke(app, ["lineage", "backfill", "--dry-run"])
    assert dry.exit_code == 0, dry.output
    assert "would process 14 runs" in dry.stdout
    assert "INSERT INTO pg_temp.migrata_batch_runs" in dry.stdout and "DELETE FROM" in dry.stdout
    done = runner.invoke(app, ["--json", "lineage", "backfill", "--workers", "2"])
    assert done.exit_code == 0, done.output
    assert json.loads(done.stdout)["units_done"] == 14
    assert json.loads(done.stdout)["plan"]["details"]["chunk_size"] == 10_000  # MIGRATA_LINEAGE__CHUNK_SIZE
    assert conn.execute("SELECT count(*) FROM run_lineage_denormalized").fetchone() == (14,)

    node = "job:food_delivery:etl_orders_7_days"
    graph = runner.invoke(app, ["lineage", "graph", node, "--depth", "1", "--direction", "down"])
    assert graph.exit_code == 0, graph.output
    data = json.loads(graph.stdout)
    assert data["edges"] == [{"source": node, "target": "dataset:food_delivery:public.orders_7_days"}]
    by_pair = runner.invoke(
        app, ["lineage", "graph", "--type", "job", "--namespace", "food_delivery",
              "--name", "etl_orders_7_days", "--depth", "1", "--direction", "down"],
    )  # fmt: skip
    assert json.loads(by_pair.stdout) == data
    bad = runner.invoke(app, ["lineage", "graph", "table:x"])
    assert bad.exit_code == 2


def test_retain_exports_drops_months_and_ingest_restores(
    settings_env: MigrataSettings, conn: psycopg.Connection, tmp_path: Path
) -> None:
    runner = CliRunner()
    old = [
        {"eventType": kind, "eventTime": f"2021-0{m}-10T10:0{k}:00Z", "run": {"runId": run},
         "job": {"namespace": "ret", "name": "old_job"}, "outputs": [{"namespace": "ret", "name": "old_out"}]}
        for m, run in ((3, str(uuid.uuid4())), (4, str(uuid.uuid4())))
        for k, kind in enumerate(("START", "COMPLETE"))
    ]  # fmt: skip
    static = {"eventTime": "2021-03-01T00:00:00Z", "job": {"namespace": "ret", "name": "old_job"},
              "outputs": [{"namespace": "ret", "name": "declared"}],
              "schemaURL": "https://openlineage.io/spec/2-0-2/OpenLineage.json#/$defs/JobEvent"}  # fmt: skip
    path = tmp_path / "old.ndjson"
    path.write_text("\n".join(json.dumps(e) for e in [*old, static]))
    assert runner.invoke(app, ["lineage", "ingest", str(path)]).exit_code == 0
    assert (
        runner.invoke(app, ["lineage", "ingest", "-"], input=json.dumps(food_delivery_events())).exit_code
        == 0
    )
    assert runner.invoke(app, ["lineage", "backfill"]).exit_code == 0
    before = conn.execute("SELECT count(*) FROM lineage_events_raw").fetchone()
    assert before is not None

    dry = runner.invoke(app, ["lineage", "retain", "--older-than", "24months", "--dry-run"])
    assert dry.exit_code == 0, dry.output
    assert "DROP TABLE lineage_events_raw_p202103" in dry.stdout
    assert conn.execute("SELECT count(*) FROM lineage_events_raw").fetchone() == before  # nothing dropped
    refused = runner.invoke(app, ["lineage", "retain", "--older-than", "24months"])
    assert refused.exit_code == 2  # irreversible: no --yes, no terminal to ask
    assert runner.invoke(app, ["lineage", "retain", "--older-than", "0months", "--yes"]).exit_code == 2

    export = tmp_path / "export.ndjson"
    done = runner.invoke(
        app, ["--json", "lineage", "retain", "--older-than", "24months", "--yes", "--export", str(export)]
    )
    assert done.exit_code == 0, done.output
    assert len(export.read_text().splitlines()) == 5  # the four old run events and the job event
    assert conn.execute("SELECT count(*) FROM lineage_events_raw").fetchone() == (before[0] - 5,)
    assert conn.execute("SELECT count(*) FROM lineage_runs r JOIN lineage_jobs j ON j.uuid = r.job_uuid "
                        "WHERE j.name = 'old_job'").fetchone() == (0,)  # fmt: skip
    assert conn.execute(
        "SELECT count(*) FROM run_lineage_denormalized WHERE run_date < '2022-01-01'"
    ).fetchone() == (0,)
    edges = conn.execute(
        "SELECT target_name, is_static, last_run_date FROM lineage_graph_edges "
        "WHERE source_name = 'old_job' ORDER BY 1"
    ).fetchall()
    assert edges == [("declared", True, None)]  # the run edge went with its runs, the static edge stays
    assert not any(p.startswith("lineage_events_raw_p2021") for (p,) in conn.execute(
        "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
        "WHERE i.inhparent = 'lineage_events_raw'::regclass").fetchall())  # fmt: skip

    restored = runner.invoke(app, ["--json", "lineage", "ingest", str(export)])
    assert restored.exit_code == 0, restored.output
    assert json.loads(restored.stdout)["stored"] == 5
    assert conn.execute("SELECT count(*) FROM lineage_events_raw").fetchone() == before


def test_missing_file_is_a_usage_error(settings_env: MigrataSettings, tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["lineage", "ingest", str(tmp_path / "nope.json")])
    assert result.exit_code == 2


def test_read_verbs_print_marquez_json_when_piped(
    settings_env: MigrataSettings, conn: psycopg.Connection
) -> None:
    from python_ops.engines.context import Engines
    from python_ops.lineage.backfill import backfill
    from python_ops.lineage.compiled import lineage_models
    from python_ops.lineage.ingest import ingest_events

    unicode_job = {
        "eventType": "COMPLETE",
        "eventTime": "2026-01-01T00:00:00Z",
        "run": {"runId": str(uuid.uuid4())},
        "job": {"namespace": "food_delivery", "name": "étl_café"},
        "producer": "https://example.com/test",
    }
    ingest_events(conn, [*food_delivery_events(), unicode_job])
    assert backfill(
        Engines.from_settings(settings_env), models=lineage_models(settings_env), chunk_size=100
    ).ok
    runner = CliRunner()

    def run(*args: str, code: int = 0) -> dict:
        result = runner.invoke(app, ["lineage", *args])
        assert result.exit_code == code, result.output
        return json.loads(result.stdout) if code == 0 else {"stderr": result.stderr}

    jobs = run("jobs", "food_delivery", "--limit", "100")
    assert jobs["totalCount"] == len(jobs["jobs"]) and all("latestRun" in j for j in jobs["jobs"])
    assert run("jobs", "food_delivery", "--limit", "2", "--offset", "1")["jobs"] == jobs["jobs"][1:3]
    assert run("namespaces")["namespaces"][0]["name"] == "food_delivery"
    assert run("datasets", "food_delivery", "--limit", "1")["totalCount"] > 1
    history = run("runs", "food_delivery", "étl_café")
    assert history["totalCount"] == 1 and history["runs"][0]["state"] == "COMPLETED"
    assert run("run", history["runs"][0]["id"])["id"] == history["runs"][0]["id"]
    raw = runner.invoke(app, ["lineage", "search", "café"]).stdout
    assert "étl_café" in raw and "\\u" not in raw  # unicode as text
    assert json.loads(raw)["results"][0]["nodeId"] == "job:food_delivery:étl_café"
    assert run("stats", "--days", "3650")["totalCount"] > 0
    assert run("column-lineage", "dataset:food_delivery:public.delivery_7_days", "--depth", "1")["graph"]
    assert "unknown" in run("jobs", "nowhere", code=2)["stderr"]
    assert "unknown" in run("runs", "food_delivery", "no_such_job", code=2)["stderr"]
    assert "unknown" in run("graph", "job:food_delivery:no_such_job", code=2)["stderr"]
    assert runner.invoke(app, ["lineage", "jobs", "food_delivery", "--limit", "-1"]).exit_code == 2
