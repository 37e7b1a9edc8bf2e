"""Own the Dagster instance directory `make dev` and `make demo` use: `$DAGSTER_HOME` with migrata's
instance settings (`dagster_defs/dagster.yaml`: the one-slot `chdb` pool, no telemetry) copied in.

Its storage is SQLite, so the instance works before any engine is up. A deployment uses
`dagster_defs/deploy/dagster.yaml` instead (storage on Postgres; docs/deploy.md).
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

INSTANCE_YAML = Path(__file__).resolve().parents[1] / "dagster_defs" / "dagster.yaml"


def prepare(default: Path) -> Path:
    """`$DAGSTER_HOME` (or `default`), created, with dagster.yaml if it has none; return it."""
    home = Path(os.environ.get("DAGSTER_HOME") or default)
    home.mkdir(parents=True, exist_ok=True)
    if not (home / "dagster.yaml").exists():
        shutil.copy(INSTANCE_YAML, home / "dagster.yaml")
    return home
