"""Own the parquet repair scenario."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

from benchmarks.reliability.harness import Env, Outcome, Scenario
from migrata_samples.parquet_store import damage_store, file_footer, generate_store
from python_ops.parquet_repair.models import StoreConfig
from python_ops.parquet_repair.storage import Storage


class ParquetRepair(Scenario):
    """`migrata parquet repair` of a footer cache with 40% of its entries damaged (all repairable).

    Control, computed from the files themselves before the run: every entry must end up holding its
    file's own footer bytes. After the rerun: every entry does, none is missing or extra, and exactly
    one backup is registered, holding exactly the damaged entries.
    """

    name = "parquet repair"
    FILES = {"small": 200, "full": 10_000}
    BATCH = {"small": 20, "full": 20}

    def _root(self, env: Env) -> Path:
        return env.home / "parquet-objects"

    def prepare(self, env: Env) -> None:
        env.create_database(self.template, env.heads())
        storage = Storage.from_url(str(self._root(env)))
        with env.connect(self.template) as conn:
            generated = generate_store(conn, StoreConfig(), storage, self.FILES[self.scale], max_rows=400)
            damaged = damage_store(
                conn,
                StoreConfig(),
                storage,
                generated,
                0.4,
                mix={"legacy": 0.6, "corrupt": 0.2, "truncated": 0.2},
            )
        self.damaged = sum(len(v) for v in damaged.damaged.values())
        # the control: each file's own footer, read from the file by the generator's helper (not the repair)
        self.expected = {
            path: hashlib.md5(file_footer((self._root(env) / path).read_bytes())).hexdigest()
            for path in generated.paths
        }

    def control(self, env: Env, db: str) -> dict[str, str]:
        return self.expected

    def extra_env(self, env: Env, db: str) -> dict[str, str]:
        return {"MIGRATA_PARQUET__STORAGE_URL": str(self._root(env))}

    def command(self, env: Env, db: str) -> list[str]:
        return ["parquet", "repair", "--batch-size", str(self.BATCH[self.scale]), "--workers", "2"]

    def rerun_command(self, env: Env, db: str) -> list[str]:
        return [*self.command(env, db), "--wait"]

    def started(self, env: Env, db: str) -> bool:
        with env.connect(db) as conn:
            row = conn.execute(
                "SELECT (SELECT count(*) FROM migrata_checkpoints WHERE operation LIKE 'parquet_repair:%%') "
                "+ (SELECT count(*) FROM migration_backups)"
            ).fetchone()
            return row != (0,)

    def check(self, env: Env, db: str, control: dict[str, str], load: Any) -> Outcome:
        with env.connect(db) as conn:
            rows = conn.execute("SELECT file_path, md5(metadata) FROM partition_metadata").fetchall()
            backups = conn.execute(
                "SELECT backup_table, row_count FROM migration_backups "
                "WHERE migration_revision = 'parquet_repair'"
            ).fetchall()
            tables = conn.execute(
                "SELECT count(*) FROM pg_class "
                "WHERE relname LIKE 'partition_metadata_backup_%%' AND relkind = 'r'"
            ).fetchone()
        found = dict(rows)
        lost = sum(1 for path, want in control.items() if found.get(path) != want)
        duplicated = len(rows) - len(found) + len(set(found) - set(control))
        problems = []
        if [b[1] for b in backups] != [self.damaged]:
            problems.append(f"registered backups {backups}, expected one of {self.damaged} entries")
        if tables != (1,):
            problems.append(f"{tables[0] if tables else '?'} backup tables exist, expected 1")
        return Outcome(lost, duplicated, problems)
