"""`migrata lineage …` through the CLI: ingest files and stdin, exit codes, backfill, graph JSON."""

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
        [json.dumps(good), '{"eventType": "START"}', json.dumps({**good, "eventType": "COMPLETE"})]
    )
    result = runner.invoke(app, ["lineage", "ingest", "-"], input=lines)
    assert result.exit_code == 1
    assert "<stdin> line 2: eventTime" in result.stderr
    assert "3 events, 2 stored" in result.stdout

    dry = runner.invoke(app, ["lineage", "backfill", "--dry-run"])
    assert dry.exit_code == 0 and "would process 14 runs" in dry.stdout
    done = runner.invoke(app, ["--json", "lineage", "backfill", "--chunk-size", "5", "--workers", "2"])
    assert done.exit_code == 0, done.output
    assert json.loads(done.stdout)["units_done"] == 14
    assert conn.execute("SELECT count(*) FROM run_lineage_denormalized").fetchone() == (14,)

    node = "job:food_delivery:etl_orders_7_days"
    graph = runner.invoke(app, ["lineage", "graph", node, "--depth", "1", "--direction", "down"])
    assert graph.exit_code == 0, graph.output
    data = json.loads(graph.stdout)
    assert data["edges"] == [{"source": node, "target": "dataset:food_delivery:public.orders_7_days"}]
    bad = runner.invoke(app, ["lineage", "graph", "table:x"])
    assert bad.exit_code == 2


def test_missing_file_is_a_usage_error(settings_env: MigrataSettings, tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["lineage", "ingest", str(tmp_path / "nope.json")])
    assert result.exit_code == 2
