"""Archive aged Postgres rows to ClickHouse: verified copy per (dataset, table), watermarks, cleanup.

Public verbs, each taking `Engines` first and the archive settings: `run` (copy → verify → watermark,
cleanup only when asked), `run_cleanup`, `restore` (the inverse of `run`) and `status`.
`archive_models(settings)` gives `run` the archived tables' dbt models (an edge function).
"""

from python_ops.archive.apply import restore, run, run_cleanup
from python_ops.archive.compiled import archive_models
from python_ops.archive.status import status

__all__ = ["archive_models", "restore", "run", "run_cleanup", "status"]
