"""Own the archive scenarios: the copy to ClickHouse (`archive run --no-cleanup`) and the cleanup of
Postgres (`archive cleanup`), each killed and rerun.

The data leaves a gap around the archive's age limit (rows older than 8 days, and rows of the last 6
days; the limit is 7), so what a run must archive does not depend on the moment it starts: the control
is every aged row's id, computed before the run. ClickHouse is chDB in the suite's home, one ClickHouse
database per trial; the harness opens chDB only while no `migrata` process runs.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from benchmarks.reliability.harness import Env, Outcome, Scenario, run_cli

TABLES = {"dataset_access_audit": "accessed_at", "lifecycle_audit_log": "created_at",
          "lifecycle_job_runs": "created_at"}  # fmt: skip


def _ids(env: Env, db: str, where: str, params: tuple[Any, ...] = ()) -> dict[str, set[str]]:
    with env.connect(db) as conn:
        return {t: {r[0] for r in conn.execute(f"SELECT id FROM {t} WHERE {where.format(time=c)}", params)}
                for t, c in TABLES.items()}  # fmt: skip


def _clickhouse_ids(env: Env, db: str) -> dict[str, tuple[int, set[str]]]:
    """(rows with FINAL, ids) of each archived table in this trial's ClickHouse database."""
    from python_ops.engines import control

    result = {}
    with control.clickhouse(env.settings(db)) as client:
        for table in TABLES:
            try:
                count = client.query(f"SELECT count() FROM `{db}`.`{table}` FINAL").result_rows[0][0]
                ids = {r[0] for r in client.query(f"SELECT DISTINCT id FROM `{db}`.`{table}`").result_rows}
            except Exception:  # not created yet: nothing archived
                count, ids = 0, set()
            result[table] = (int(count), ids)
    return result


class _Archive(Scenario):
    ROWS = {"small": 3_000, "full": 100_000}
    timeout_s = 900

    def setup(self, env: Env, db: str) -> None:
        from python_ops.engines import control

        control.configure_clickhouse(env.settings(db))  # this trial's ClickHouse database and collection
        with control.clickhouse(env.settings(db)) as client:
            for statement in self.ddl:
                client.command(statement.replace(self.probe, db))

    def _make_template(self, env: Env) -> None:
        from migrata_samples.archive_rows import generate

        env.create_database(self.template, env.heads())
        now = dt.datetime.now(dt.UTC)
        with env.connect(self.template) as conn:
            generate(conn, rows=self.ROWS[self.scale], days=22, now=now - dt.timedelta(days=8), tag="old")
            generate(conn, rows=self.ROWS[self.scale] // 4, days=6, now=now, tag="new")

    def prepare(self, env: Env) -> None:
        self._make_template(env)
        # dbt builds the ClickHouse tables once, on a probe: each trial gets them as copies of its DDL, so
        # a run finds its tables and cached models and starts copying at once (the kills land in the copy
        # and the cleanup, not in a dbt build each trial would repeat)
        probe = f"t_probe_{self.template[4:]}"[:60]
        env.drop_database(probe)
        env.create_database(probe, self.template)
        from python_ops.engines import control

        control.configure_clickhouse(env.settings(probe))
        done = run_cli(["archive", "run", "--no-cleanup"], env.cli_env(probe), self.timeout_s)
        if done.code != 0:
            raise RuntimeError(f"{self.name}: the probe run failed: {done.output}")
        with control.clickhouse(env.settings(probe)) as client:
            rows = client.query(
                "SELECT name, engine = 'View' FROM system.tables WHERE database = {db:String} "
                "ORDER BY engine = 'View', name",
                parameters={"db": probe},
            ).result_rows
            self.ddl = [
                client.query(f"SHOW CREATE TABLE `{probe}`.`{name}`").result_rows[0][0] for name, _ in rows
            ]
            client.command(f"DROP DATABASE IF EXISTS `{probe}`")
        self.probe = probe
        env.drop_database(probe)

    def rerun_command(self, env: Env, db: str) -> list[str]:
        return [*self.command(env, db), "--wait"]

    def cleanup(self, env: Env, db: str) -> None:
        from python_ops.engines import control

        with control.clickhouse(env.settings(db)) as client:
            client.command(f"DROP DATABASE IF EXISTS `{db}`")
        super().cleanup(env, db)


class ArchiveCopy(_Archive):
    """`migrata archive run --no-cleanup`: every aged row in ClickHouse exactly once, Postgres untouched."""

    name = "archive copy"

    def control(self, env: Env, db: str) -> dict[str, Any]:
        return {
            "aged": _ids(env, db, "{time} < now() - interval '7 days'"),
            "all": _ids(env, db, "true"),
        }

    def command(self, env: Env, db: str) -> list[str]:
        return ["archive", "run", "--no-cleanup"]

    def started(self, env: Env, db: str) -> bool:
        with env.connect(db) as conn:
            row = conn.execute("SELECT count(*) FROM migrata_checkpoints WHERE operation LIKE 'archive%%'")
            return row.fetchone() != (0,)

    def check(self, env: Env, db: str, control: dict[str, Any], load: Any) -> Outcome:
        archived = _clickhouse_ids(env, db)
        still = _ids(env, db, "true")
        lost = duplicated = 0
        problems = []
        for table, want in control["aged"].items():
            count, ids = archived[table]
            lost += len(want - ids)
            duplicated += count - len(ids)
            if ids - want:
                problems.append(f"{table}: {len(ids - want)} rows archived that are not aged")
            gone = control["all"][table] - still[table]  # (new rows are allowed: the run's audit events)
            if gone:
                problems.append(f"{table}: {len(gone)} Postgres rows deleted by a copy without cleanup")
        return Outcome(lost, duplicated, problems)


class ArchiveCleanup(_Archive):
    """`migrata archive cleanup` after a verified copy: only rows ClickHouse holds leave Postgres."""

    name = "archive cleanup"
    GRACE = {"MIGRATA_ARCHIVE__GRACE_PERIOD_HOURS": "0"}

    def setup(self, env: Env, db: str) -> None:
        super().setup(env, db)
        done = run_cli(["archive", "run", "--no-cleanup"], env.cli_env(db), self.timeout_s)
        if done.code != 0:
            raise RuntimeError(f"archive run before the cleanup failed: {done.output}")

    def extra_env(self, env: Env, db: str) -> dict[str, str]:
        return self.GRACE

    def control(self, env: Env, db: str) -> dict[str, Any]:
        with env.connect(db) as conn:
            marks = dict(
                conn.execute(
                    "SELECT table_name, min(watermark_timestamp) FROM migration_watermarks GROUP BY 1"
                )
            )
        return {
            "all": _ids(env, db, "true"),
            "due": {t: _ids(env, db, "{time} < %s", (marks[t],))[t] for t in TABLES},
        }

    def command(self, env: Env, db: str) -> list[str]:
        return ["archive", "cleanup", "--yes"]

    def started(self, env: Env, db: str) -> bool:
        with env.connect(db) as conn:
            row = conn.execute("SELECT count(*) FROM migrata_checkpoints WHERE operation LIKE '%%cleanup%%'")
            return row.fetchone() != (0,)

    def check(self, env: Env, db: str, control: dict[str, Any], load: Any) -> Outcome:
        archived = _clickhouse_ids(env, db)
        left = _ids(env, db, "true")
        lost = duplicated = 0
        problems = []
        for table, every in control["all"].items():
            count, ids = archived[table]
            lost += len(every - left[table] - ids)  # gone from Postgres and not in ClickHouse
            duplicated += count - len(ids)
            undeleted = control["due"][table] & left[table]
            if undeleted:
                problems.append(f"{table}: {len(undeleted)} rows due for cleanup still in Postgres")
        return Outcome(lost, duplicated, problems)
