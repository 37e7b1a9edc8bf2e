"""Own the parquet repair part of the demo: a small store with damaged footers, scanned before
Dagster runs the repair asset (then the health asset and its blocking check), verified afterwards.

Idempotent: every run regenerates the same 200 files and damages 30% of their cache entries again.
"""

from __future__ import annotations

import json
from pathlib import Path

from migrata_samples.demo.section import Section
from migrata_samples.parquet_store import damage_store, generate_store
from python_ops.engines.context import Engines
from python_ops.parquet_repair import scan, verify
from python_ops.parquet_repair.backup import REVISION
from python_ops.parquet_repair.models import EntryClass, StoreConfig
from python_ops.parquet_repair.storage import Storage
from python_ops.settings import MigrataSettings

FILES = 200
DAMAGED = 0.3
# all repairable from storage, so the demo ends green; missing files are covered by the tests
MIX = {"legacy": 0.6, "corrupt": 0.2, "truncated": 0.2}


def _state_file(settings: MigrataSettings) -> Path:
    path = settings.home / "parquet_repair" / "demo-scan-before.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    return path


def prepare(settings: MigrataSettings) -> None:
    """Write 200 parquet files, cache their footers, damage 30% like an upgrade does, scan."""
    store, storage = StoreConfig.from_settings(settings), Storage.from_settings(settings)
    engines = Engines.from_settings(settings)
    with engines.connect(autocommit=True) as conn:
        generated = generate_store(conn, store, storage, FILES, max_rows=500, prefix="demo")
        damage_store(conn, store, storage, generated, DAMAGED, mix=MIX)
    before = scan(engines, store, storage)
    _state_file(settings).write_text(json.dumps(before.details["counts"]))


def report(settings: MigrataSettings) -> Section:
    store, storage = StoreConfig.from_settings(settings), Storage.from_settings(settings)
    classes = [c.value for c in EntryClass]
    before = json.loads(_state_file(settings).read_text())
    engines = Engines.from_settings(settings)
    with engines.connect(autocommit=True) as conn:
        repaired = conn.execute(
            "SELECT units, status FROM migrata_checkpoints WHERE operation = %s",
            (f"parquet_repair:{store.table}",),
        ).fetchone()
        backup = conn.execute(
            "SELECT backup_table, row_count FROM migration_backups WHERE migration_revision = %s "
            "ORDER BY created_at DESC LIMIT 1",
            (REVISION,),
        ).fetchone()
    after = scan(engines, store, storage)
    checked = verify(engines, store, storage)
    rows = [
        ["scan before", *(before.get(c, 0) for c in classes), "damaged like an Arrow upgrade"],
        [
            "repair (Dagster asset)",
            "",
            "",
            "",
            "",
            f"{repaired[0] if repaired else 0} entries, {repaired[1] if repaired else '-'}; "
            f"backup {backup[0] if backup else '-'} ({backup[1] if backup else 0} rows)",
        ],
        ["scan after", *(after.details["counts"].get(c, 0) for c in classes), after.status],
        ["verify", checked.details["checked"], "", "", "", f"{checked.details['issue_count']} differences"],
    ]
    return Section(
        "parquet repair (200 files, 30% damaged)",
        ["step", *classes, "detail"],
        rows,
        f"{sum(before.values()) - before.get('ok', 0)} damaged entries → "
        f"{after.details['undecodable']} undecodable after repair; verify {checked.status}",
    )
