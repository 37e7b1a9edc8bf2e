"""Lineage reads in Marquez's shapes (python_ops/lineage/reads.py): every read answers the same from the
denormalized tables as from the normalized ones, pages, and refuses unknown objects with NotFound."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import psycopg
import pytest

from migrata_samples.lineage_store import generate_store
from migrata_samples.openlineage import food_delivery_events
from python_ops.engines.context import Engines
from python_ops.errors import PreconditionError
from python_ops.lineage import reads
from python_ops.lineage.backfill import backfill
from python_ops.lineage.compiled import lineage_models
from python_ops.lineage.ingest import ingest_events
from python_ops.settings import MigrataSettings


def _folded(name: str) -> tuple[bytes, str]:
    """Search's name order: the lowered name in code-point order, then the name."""
    return name.lower().encode(), name


def _build(settings: MigrataSettings) -> None:
    report = backfill(Engines.from_settings(settings), models=lineage_models(settings), chunk_size=1000)
    assert report.ok, report.summary()


def test_synthetic_reads_match_the_normalized_answers(
    settings: MigrataSettings, conn: psycopg.Connection
) -> None:
    generate_store(conn, 3000, months=4)
    _build(settings)
    for ns in ("ns_0", "ns_7"):
        fast = reads.jobs(conn, ns)
        assert fast == reads.jobs(conn, ns, source="normalized")
        assert fast["totalCount"] == len(fast["jobs"]) > 0
        assert all(
            j["latestRun"] and j["latestRun"]["state"] in reads.MARQUEZ_STATE.values() for j in fast["jobs"]
        )
        job = fast["jobs"][0]["name"]
        runs = reads.job_runs(conn, ns, job, limit=100)
        assert runs == reads.job_runs(conn, ns, job, limit=100, source="normalized")
        assert runs["runs"][0] == fast["jobs"][0]["latestRun"]  # newest first: the latest run leads
        created = [r["createdAt"] for r in runs["runs"]]
        assert created == sorted(created, reverse=True) and runs["totalCount"] == len(runs["runs"])
        one = runs["runs"][-1]
        assert reads.run(conn, one["id"]) == one == reads.run(conn, one["id"], source="normalized")
    assert reads.dashboard(conn, 400) == reads.dashboard(conn, 400, source="normalized")
    assert reads.dashboard(conn, 400)["totalCount"] == 3000
    for node in ("dataset:ns_3:ds_103", "job:ns_7:job_17", "job:ns_9:job_29"):
        for depth in (0, 1, 3, 6, 20):
            fast = reads.lineage(conn, node, depth)
            assert fast == reads.lineage(conn, node, depth, source="normalized"), (node, depth)
            assert fast["graph"][0]["data"] is not None
        for direction in ("up", "down"):  # each walk alone: its own frontier and its own seen nodes
            one_way = reads.lineage(conn, node, 6, direction)
            assert one_way == reads.lineage(conn, node, 6, direction, source="normalized"), (node, direction)
    big = reads.lineage(conn, "job:ns_7:job_17", 20)["graph"]
    assert len(big) > 10
    ids = {n["id"] for n in big}
    for n in big:  # every edge joins two nodes of the graph, and shows on both of them
        for e in n["outEdges"]:
            assert e["origin"] == n["id"] and e["destination"] in ids
            assert e in next(m for m in big if m["id"] == e["destination"])["inEdges"]


def test_paging_is_stable_and_complete(settings: MigrataSettings, conn: psycopg.Connection) -> None:
    generate_store(conn, 2000, months=3)
    _build(settings)
    whole = reads.jobs(conn, "ns_1", limit=1000)
    pages = [reads.jobs(conn, "ns_1", limit=3, offset=o)["jobs"] for o in range(0, whole["totalCount"], 3)]
    assert [j for p in pages for j in p] == whole["jobs"]
    assert reads.jobs(conn, "ns_1", limit=3, offset=10_000) == {"jobs": [], "totalCount": whole["totalCount"]}
    job = whole["jobs"][0]["name"]
    history = reads.job_runs(conn, "ns_1", job, limit=1000)["runs"]
    paged = [r for o in (0, 5, 10, 15) for r in reads.job_runs(conn, "ns_1", job, limit=5, offset=o)["runs"]]
    assert paged == history[:20]
    assert reads.job_runs(conn, "ns_1", job, limit=0) == {"runs": [], "totalCount": len(history)}
    assert reads.job_runs(conn, "ns_1", job, offset=10_000) == {"runs": [], "totalCount": len(history)}
    sets = reads.datasets(conn, "ns_1", limit=2, offset=1)
    assert len(sets["datasets"]) == 2 and sets["totalCount"] > 2
    spaces = reads.namespaces(conn, limit=2)
    assert [n["name"] for n in spaces["namespaces"]] == ["ns_0", "ns_1"] and spaces["totalCount"] == 10
    with pytest.raises(PreconditionError, match="negative"):
        reads.jobs(conn, "ns_1", limit=-1)


def test_search_prefix_and_substring(settings: MigrataSettings, conn: psycopg.Connection) -> None:
    """`TEXT%` is a prefix (the b-tree range of lineage_0007), a text without `%` a substring; `_` stands for
    itself in both (a job `jobx1` is no match for `job_1%`), case-insensitively."""
    generate_store(conn, 2000, months=3)
    _build(settings)
    conn.execute(
        "INSERT INTO lineage_jobs (uuid, namespace_uuid, namespace_name, name) "
        "SELECT migrata_lineage_id('job', 'ns_1', n), uuid, 'ns_1', n FROM lineage_namespaces, "
        "unnest(array['jobx1', 'JOB_1_upper']) n WHERE name = 'ns_1'"
    )
    prefix = reads.search(conn, "Job_1%", filter="job", limit=100)
    names = [r["name"] for r in prefix["results"]]
    # case-insensitive name order: `JOB_1_upper` after `job_19` (`_` > `9`), not first as in byte order
    expected = [r[0] for r in conn.execute(
        "SELECT name FROM lineage_jobs WHERE lower(name) LIKE 'job\\_1%%' "
        "ORDER BY lower(name) USING ~<~, name"
    ).fetchall()]  # fmt: skip
    assert names == expected and "JOB_1_upper" in names and "jobx1" not in names and len(names) > 5
    assert names.index("job_19") < names.index("JOB_1_upper"), names
    substring = {r["name"] for r in reads.search(conn, "b_1", filter="job", limit=100)["results"]}
    assert set(expected) <= substring and "jobx1" not in substring
    assert reads.search(conn, "jobx%", limit=100)["totalCount"] == 1
    conn.execute("SET enable_seqscan = off")  # a small table: only whether the index can serve the range
    plan = "\n".join(r[0] for r in conn.execute(
        "EXPLAIN (COSTS OFF) SELECT name FROM lineage_jobs "
        "WHERE lower(name) ~>=~ 'job_1' AND lower(name) ~<~ 'job_2'"
    ).fetchall())  # fmt: skip
    conn.execute("RESET enable_seqscan")
    assert "lineage_jobs_name_prefix_idx" in plan, plan


def test_unknown_objects_are_not_found(settings: MigrataSettings, conn: psycopg.Connection) -> None:
    ingest_events(conn, food_delivery_events())
    _build(settings)
    for call in (
        lambda: reads.lineage(conn, "job:food_delivery:no_such_job"),
        lambda: reads.jobs(conn, "no_such_namespace"),
        lambda: reads.datasets(conn, "no_such_namespace"),
        lambda: reads.job_runs(conn, "food_delivery", "no_such_job"),
        lambda: reads.run(conn, str(uuid.uuid4())),
        lambda: reads.run(conn, "not-a-uuid"),
        lambda: reads.column_lineage(conn, "dataset:food_delivery:no_such_table"),
    ):
        with pytest.raises(reads.NotFound):
            call()


def test_food_delivery_reads_and_search(settings: MigrataSettings, conn: psycopg.Connection) -> None:
    ingest_events(conn, food_delivery_events())
    _build(settings)
    jobs = reads.jobs(conn, "food_delivery")
    by_name = {j["name"]: j for j in jobs["jobs"]}
    assert by_name["etl_delivery_7_days"]["latestRun"]["state"] in ("COMPLETED", "FAILED", "RUNNING")
    assert {"namespace": "food_delivery", "name": "public.delivery_7_days"} in by_name["etl_delivery_7_days"][
        "outputs"
    ]
    found = reads.search(conn, "delivery")
    assert found["totalCount"] == len(found["results"]) > 0
    assert all("delivery" in r["name"].lower() for r in found["results"])
    assert [r["name"] for r in found["results"]] == sorted((r["name"] for r in found["results"]), key=_folded)
    prefix = reads.search(conn, "etl_%", filter="job", limit=100)
    assert prefix["results"] and all(
        r["type"] == "JOB" and r["name"].startswith("etl_") for r in prefix["results"]
    )
    assert all(r["nodeId"] == f"job:food_delivery:{r['name']}" for r in prefix["results"])
    assert reads.search(conn, "DELIVERY", filter="dataset", limit=2)["totalCount"] == 2
    with pytest.raises(PreconditionError, match="filter"):
        reads.search(conn, "x", filter="run")
    graph = reads.lineage(conn, "dataset:food_delivery:public.delivery_7_days")
    node = next(n for n in graph["graph"] if n["id"] == "dataset:food_delivery:public.delivery_7_days")
    assert node["type"] == "DATASET" and node["data"]["name"] == "public.delivery_7_days"
    assert {"origin": "job:food_delivery:etl_delivery_7_days", "destination": node["id"]} in node["inEdges"]


def _column_event(job: str, inputs: list[str], output: str, fields: dict[str, list[tuple[str, str]]]) -> dict:
    now = (datetime.now(UTC) - timedelta(minutes=5)).isoformat()
    return {
        "eventType": "COMPLETE",
        "eventTime": now,
        "run": {"runId": str(uuid.uuid4())},
        "job": {"namespace": "cl", "name": job},
        "producer": "https://example.com/test",
        "inputs": [{"namespace": "cl", "name": n} for n in inputs],
        "outputs": [
            {
                "namespace": "cl",
                "name": output,
                "facets": {
                    "columnLineage": {
                        "_producer": "https://example.com/test",
                        "_schemaURL": "https://openlineage.io/spec/facets/1-2-0/ColumnLineageDatasetFacet.json",
                        "fields": {
                            f: {
                                "inputFields": [
                                    {
                                        "namespace": "cl",
                                        "name": ds,
                                        "field": col,
                                        "transformations": [
                                            {
                                                "type": "DIRECT",
                                                "subtype": "IDENTITY",
                                                "description": "identical",
                                            }
                                        ],
                                    }
                                    for ds, col in src
                                ]
                            }
                            for f, src in fields.items()
                        },
                    }
                },
            }
        ],
    }


def test_column_lineage_walks_the_stored_field_edges(conn: psycopg.Connection) -> None:
    ingest_events(
        conn,
        [
            _column_event("j1", ["raw"], "mid", {"a": [("raw", "x")], "b": [("raw", "y"), ("raw", "z")]}),
            _column_event("j2", ["mid"], "top", {"c": [("mid", "a"), ("mid", "b")]}),
        ],
    )
    full = reads.column_lineage(conn, "datasetField:cl:top:c")
    ids = [n["id"] for n in full["graph"]]
    assert ids == sorted(
        f"datasetField:cl:{x}" for x in ("top:c", "mid:a", "mid:b", "raw:x", "raw:y", "raw:z")
    )
    top = next(n for n in full["graph"] if n["id"] == "datasetField:cl:top:c")
    assert [f["field"] for f in top["data"]["inputFields"]] == ["a", "b"]
    assert top["data"]["transformationType"] == "DIRECT" and top["outEdges"] == []
    one = reads.column_lineage(conn, "datasetField:cl:top:c", depth=1)
    assert {n["id"] for n in one["graph"]} == {
        "datasetField:cl:top:c",
        "datasetField:cl:mid:a",
        "datasetField:cl:mid:b",
    }
    # upstream only by default, as Marquez; withDownstream adds what the field feeds
    assert {n["id"] for n in reads.column_lineage(conn, "datasetField:cl:mid:a", 5)["graph"]} == {
        "datasetField:cl:mid:a", "datasetField:cl:raw:x"
    }  # fmt: skip
    down = reads.column_lineage(conn, "datasetField:cl:mid:a", 5, with_downstream=True)
    assert "datasetField:cl:top:c" in {n["id"] for n in down["graph"]}
    assert len(reads.column_lineage(conn, "dataset:cl:mid")["graph"]) == 6 - 1  # mid's a, b and their inputs
    with pytest.raises(reads.NotFound):
        reads.column_lineage(conn, "datasetField:cl:top:nope")


# --- the read-serving tables (lineage_jobs_latest, lineage_run_counts_daily, lineage_dashboard_daily) -----

_LATEST_NORMALIZED = """
SELECT DISTINCT ON (r.job_uuid) r.job_uuid, r.uuid, r.state, r.first_event_time, r.updated_at,
       count(*) OVER (PARTITION BY r.job_uuid)
  FROM lineage_runs r ORDER BY r.job_uuid, r.first_event_time DESC, r.uuid DESC"""
_LATEST_TABLE = """
SELECT job_uuid, run_uuid, state, created_at, updated_at, run_count
  FROM lineage_jobs_latest ORDER BY job_uuid"""
_COUNTS_NORMALIZED = """
SELECT (r.first_event_time AT TIME ZONE 'UTC')::date, r.state, j.namespace_name, count(*)
  FROM lineage_runs r JOIN lineage_jobs j ON j.uuid = r.job_uuid GROUP BY 1, 2, 3 ORDER BY 1, 2, 3"""
_COUNTS_TABLE = """
SELECT run_date, state, namespace_name, runs FROM lineage_run_counts_daily WHERE runs > 0 ORDER BY 1, 2, 3"""


def _assert_serving_tables_match(conn: psycopg.Connection) -> None:
    latest = conn.execute(_LATEST_TABLE).fetchall()
    assert latest == conn.execute(_LATEST_NORMALIZED).fetchall()
    counts = conn.execute(_COUNTS_TABLE).fetchall()
    assert counts == conn.execute(_COUNTS_NORMALIZED).fetchall()
    assert len(latest) > 0 and len(counts) > 0
    # lineage_dashboard_daily: every day's stored answer, read over the whole store
    dashboard = reads.dashboard(conn, 400)
    assert dashboard == reads.dashboard(conn, 400, source="normalized") and dashboard["totalCount"] > 0


def test_read_serving_tables_follow_micro_batches(
    settings: MigrataSettings, conn: psycopg.Connection
) -> None:
    """Backfill, then micro-batches: new runs, runs finishing, a late event moving a run to an earlier day;
    after each, the latest run per job and the daily counts equal a recount of the normalized store."""
    from migrata_samples.lineage_store import new_run_events
    from python_ops.lineage.refresher import refresh_changed

    models = lineage_models(settings)
    generate_store(conn, 1000, months=2)
    _build(settings)
    _assert_serving_tables_match(conn)
    before = reads.dashboard(conn, 3)["totalCount"]

    events = new_run_events(10, 6, at=datetime.now(UTC) - timedelta(minutes=5))
    starts = [e for e in events if e["eventType"] == "START"]
    assert ingest_events(conn, starts).ok
    assert refresh_changed(conn, models).runs == 6
    _assert_serving_tables_match(conn)
    running = reads.jobs(conn, starts[0]["job"]["namespace"])["jobs"]
    assert "RUNNING" in {j["latestRun"]["state"] for j in running if j["name"] == starts[0]["job"]["name"]}
    assert reads.dashboard(conn, 3)["totalCount"] == before + 6

    assert ingest_events(conn, [e for e in events if e["eventType"] == "COMPLETE"]).ok
    refresh_changed(conn, models)
    _assert_serving_tables_match(conn)
    # the START counts of these runs went to zero: kept as 0 rows, not read
    assert conn.execute("SELECT count(*) FROM lineage_run_counts_daily WHERE runs = 0").fetchone()[0] > 0  # type: ignore[index]

    late = dict(starts[0], eventType="OTHER", eventTime=(datetime.now(UTC) - timedelta(days=5)).isoformat())
    assert ingest_events(conn, [late]).ok
    assert refresh_changed(conn, models).runs == 1
    day = conn.execute(
        "SELECT run_date FROM run_lineage_denormalized WHERE run_uuid = %s", (starts[0]["run"]["runId"],)
    ).fetchone()[0]  # type: ignore[index]
    assert day == (datetime.now(UTC) - timedelta(days=5)).date()  # the run moved to an earlier day
    _assert_serving_tables_match(conn)
    for ns in ("ns_0", "ns_3"):
        assert reads.jobs(conn, ns) == reads.jobs(conn, ns, source="normalized")
    assert reads.dashboard(conn, 30) == reads.dashboard(conn, 30, source="normalized")

    # a job's facets change with no run changing (as ingestion merges a JobEvent's facets: updated_at moves):
    # its stored answer in lineage_jobs_latest is out of date, and the reads build that job's answer instead
    ns, name = starts[0]["job"]["namespace"], starts[0]["job"]["name"]
    stored = {j["name"]: j for j in reads.jobs(conn, ns, limit=1000)["jobs"]}[name]
    conn.execute(
        "UPDATE lineage_jobs SET facets = facets || %s::jsonb, updated_at = now() "
        "WHERE namespace_name = %s AND name = %s",
        ('{"documentation": {"description": "docs added later"}}', ns, name),
    )
    fresh = {j["name"]: j for j in reads.jobs(conn, ns, limit=1000)["jobs"]}
    assert fresh[name]["description"] == "docs added later" and stored["description"] is None
    assert fresh[name]["latestRun"] == stored["latestRun"] is not None
    assert reads.jobs(conn, ns, limit=1000) == reads.jobs(conn, ns, limit=1000, source="normalized")
    graph = reads.lineage(conn, f"job:{ns}:{name}", 1)
    assert graph == reads.lineage(conn, f"job:{ns}:{name}", 1, source="normalized")
    assert next(n for n in graph["graph"] if n["id"] == f"job:{ns}:{name}")["data"] == fresh[name]
