"""Write lineage rows as the previous version did (schema of lineage_0003, UUIDv5 ids of joined
`kind:NS:NAME` strings), to test the upgrade that repairs such stores."""

from __future__ import annotations

import json
import uuid
from typing import Any

import psycopg

from python_ops.lineage.raw import canonical_json, event_key

_IDS = uuid.UUID("0b5f7a0e-3c1d-4f7e-9d0a-6a1f3e2b9c44")  # the previous version's namespace
_RANK = {"OTHER": 0, "START": 1, "RUNNING": 2, "COMPLETE": 3, "FAIL": 3, "ABORT": 3}


def old_id(kind: str, namespace: str, name: str | None = None) -> uuid.UUID:
    text = f"namespace:{namespace}" if name is None else f"{kind}:{namespace}:{name}"
    return uuid.uuid5(_IDS, text)


def legacy_ingest(conn: psycopg.Connection, events: list[dict[str, Any]]) -> None:
    """Store run events the old way, one at a time: objects whose joined names collide merge into one."""
    for e in events:
        run, job, t = e["run"]["runId"], e["job"], e["eventTime"]
        kind = e.get("eventType", "OTHER")
        conn.execute(
            """INSERT INTO lineage_events_raw (event_id, event_time, event_type, run_id, job_namespace,
                   job_name, producer, payload)
               VALUES (%s, %s, %s, %s, %s, %s, %s, %s::jsonb) ON CONFLICT DO NOTHING""",
            (event_key(e), t, kind, run, job["namespace"], job["name"], e.get("producer"), canonical_json(e)),
        )
        names = {job["namespace"]} | {d["namespace"] for d in e.get("inputs", []) + e.get("outputs", [])}
        for ns in names:
            conn.execute(
                "INSERT INTO lineage_namespaces (uuid, name) VALUES (%s, %s) ON CONFLICT DO NOTHING",
                (old_id("namespace", ns), ns),
            )
        jid = old_id("job", job["namespace"], job["name"])
        conn.execute(
            """INSERT INTO lineage_jobs AS j (uuid, namespace_uuid, namespace_name, name, facets)
               VALUES (%s, %s, %s, %s, %s::jsonb)
               ON CONFLICT (uuid) DO UPDATE SET facets = j.facets || EXCLUDED.facets""",
            (jid, old_id("namespace", job["namespace"]), job["namespace"], job["name"],
             json.dumps(job.get("facets", {}))),
        )  # fmt: skip
        terminal = kind in ("COMPLETE", "FAIL", "ABORT")
        conn.execute(
            """INSERT INTO lineage_runs AS r (uuid, job_uuid, state, state_rank, state_event_time, started_at,
                   ended_at, first_event_time) VALUES (%s, %s, %s, %s, %s, %s, %s, %s)
               ON CONFLICT (uuid) DO UPDATE SET
                   state = CASE WHEN EXCLUDED.state_rank >= r.state_rank THEN EXCLUDED.state ELSE r.state END,
                   ended_at = COALESCE(EXCLUDED.ended_at, r.ended_at),
                   state_rank = GREATEST(r.state_rank, EXCLUDED.state_rank),
                   started_at = LEAST(r.started_at, EXCLUDED.started_at),
                   first_event_time = LEAST(r.first_event_time, EXCLUDED.first_event_time)""",
            (run, jid, kind, _RANK[kind], t, t if kind == "START" else None, t if terminal else None, t),
        )
        for side in ("inputs", "outputs"):
            for d in e.get(side, []):
                did = old_id("dataset", d["namespace"], d["name"])
                conn.execute(
                    """INSERT INTO lineage_datasets AS x (uuid, namespace_uuid, namespace_name, name, facets)
                       VALUES (%s, %s, %s, %s, %s::jsonb)
                       ON CONFLICT (uuid) DO UPDATE SET facets = x.facets || EXCLUDED.facets""",
                    (did, old_id("namespace", d["namespace"]), d["namespace"], d["name"],
                     json.dumps(d.get("facets", {}))),
                )  # fmt: skip
                conn.execute(
                    f"INSERT INTO lineage_run_{side} (run_uuid, dataset_uuid) VALUES (%s, %s) "
                    "ON CONFLICT DO NOTHING",
                    (run, did),
                )
