"""Own lineage: OpenLineage events → normalized tables → denormalized, monthly-partitioned tables.

Public verbs: `ingest_events` / `ingest_text` (idempotent batched ingestion), `backfill` (chunked,
resumable denormalization through the shared runner), `lineage_graph` (graph queries), `refresh`
(the incremental dbt models). Modules: events (parse/validate), ingest (write), denorm + backfill,
graph, changes (what the sensor polls), server (HTTP endpoint), synthetic (generated stores).
"""

from python_ops.lineage.backfill import backfill, estimate_runs
from python_ops.lineage.graph import lineage_graph
from python_ops.lineage.ingest import ingest_events, ingest_text
from python_ops.lineage.refresh import refresh

__all__ = ["backfill", "estimate_runs", "ingest_events", "ingest_text", "lineage_graph", "refresh"]
