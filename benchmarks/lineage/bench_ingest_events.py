"""Ingestion through the CLI path (`migrata lineage ingest FILE`, NDJSON) of 100K events (small: 10K)
vs the foundation's row-by-row raw insert (`store_raw`, executemany into the raw table only)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import psycopg

from benchmarks.common import Figure, Session, timed
from migrata_samples.lineage_store import new_run_events, store_raw

NAME = "lineage"


def run(session: Session, scale: str) -> list[Figure]:
    events = new_run_events(5_000, 50_000 if scale == "full" else 5_000)  # START + COMPLETE per run
    path = session.home / "events.ndjson"
    path.write_text("\n".join(json.dumps(e) for e in events))
    env = os.environ | {
        "MIGRATA_HOME": str(session.home),
        "MIGRATA_POSTGRES__DSN": session.dsn,
    }
    migrata = str(Path(sys.executable).with_name("migrata"))
    started = time.perf_counter()
    done = subprocess.run(
        [migrata, "--quiet", "--json", "lineage", "ingest", str(path)],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    cli_s = time.perf_counter() - started
    assert done.returncode == 0, done.stderr[-2000:]
    result = json.loads(done.stdout)
    assert result["stored"] == len(events), result
    with psycopg.connect(session.dsn) as conn:
        conn.execute("TRUNCATE lineage_events_raw")
        raw_s, _ = timed(lambda: store_raw(conn, events))
        conn.commit()
    rate, raw_rate = len(events) / cli_s, len(events) / raw_s
    return [
        Figure(
            NAME,
            f"ingest {len(events) // 1000}K events via CLI (validate, raw + normalized, COPY)",
            rate,
            "events/s",
            raw_rate,
            "executemany INSERT into the raw table only",
        ),
    ]
