"""Archive aged Postgres rows to ClickHouse: verified copy per (dataset, table), watermarks, cleanup.

Public verbs: `run` (copy → verify → advance watermark → cleanup), `run_cleanup`, `status`, and
`restore` (the inverse of `run`).
"""

from python_ops.archive.apply import restore, run, run_cleanup
from python_ops.archive.status import status

__all__ = ["restore", "run", "run_cleanup", "status"]
