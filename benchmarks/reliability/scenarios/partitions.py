"""Own the partitions scenarios: repartitioning under a concurrent writer, and retention."""

from __future__ import annotations

import datetime as dt
import statistics
from typing import Any

from benchmarks.reliability.harness import Env, Outcome, Scenario, TrialResult, run_cli
from benchmarks.reliability.writer import HASH_SQL, Writer

TABLE = "items"


class Repartition(Scenario):
    """`migrata repartition run items --by g` while writers insert, update and delete as fast as they can.

    Control: every row's content hash before the run, plus the writers' log of committed writes. After
    the rerun the table must be the swapped, partitioned one holding exactly the control with every
    committed write applied, with one registered backup and nothing of the run left behind.
    """

    name = "repartition + writer"
    ROWS = {"small": 20_000, "full": 200_000}
    BATCH = {"small": 2_000, "full": 10_000}
    PARTITIONS = 16
    WRITERS = 4  # measured: 2 threads ~600 writes/s (one fsync per commit), 4 ~3,200, 8-16 no more

    def prepare(self, env: Env) -> None:
        env.create_database(self.template, env.heads())
        with env.connect(self.template) as conn:
            conn.execute(
                f"CREATE TABLE {TABLE} (id bigserial PRIMARY KEY, g int NOT NULL, partition_key int, "
                "body text NOT NULL, n int NOT NULL, created_at timestamptz NOT NULL DEFAULT now())"
            )
            conn.execute(f"CREATE INDEX {TABLE}_g_idx ON {TABLE} (g)")
            conn.execute(
                f"INSERT INTO {TABLE} (g, body, n) SELECT i %% 1000, repeat(md5(i::text), 3), i %% 100 "
                "FROM generate_series(1, %s) i",
                (self.ROWS[self.scale],),
            )
            conn.execute(f"VACUUM ANALYZE {TABLE}")

    def control(self, env: Env, db: str) -> dict[int, str]:
        with env.connect(db) as conn:
            return dict(conn.execute(f"SELECT id, {HASH_SQL} FROM {TABLE}").fetchall())

    def command(self, env: Env, db: str) -> list[str]:
        return ["repartition", "run", TABLE, "--by", "g", "--list-partitions", str(self.PARTITIONS),
                "--batch-size", str(self.BATCH[self.scale])]  # fmt: skip

    def rerun_command(self, env: Env, db: str) -> list[str]:
        return [*self.command(env, db), "--wait"]

    def started(self, env: Env, db: str) -> bool:
        with env.connect(db) as conn:
            row = conn.execute(
                "SELECT count(*) FROM repartition_runs WHERE table_name = %s", (f"public.{TABLE}",)
            )
            return row.fetchone() != (0,)

    def start_load(self, env: Env, db: str) -> Writer:
        control = self.control(env, db)
        return Writer(env.dsn(db), control, threads=self.WRITERS, partitions=self.PARTITIONS).start()

    def check(self, env: Env, db: str, control: dict[int, str], load: Writer | None) -> Outcome:
        with env.connect(db) as conn:
            rows = {r[0]: (r[1], r[2]) for r in conn.execute(f"SELECT id, {HASH_SQL}, body FROM {TABLE}")}
            dups = conn.execute(
                f"SELECT count(*) FROM (SELECT id FROM {TABLE} GROUP BY id HAVING count(*) > 1) d"
            ).fetchone()[0]  # type: ignore[index]
            state = conn.execute(
                "SELECT step, lock_ms, extract(epoch FROM swapped_at) FROM repartition_runs "
                "WHERE table_name = %s",
                (f"public.{TABLE}",),
            ).fetchone()
            kind = conn.execute(
                "SELECT relkind::text FROM pg_class WHERE oid = %s::regclass", (TABLE,)
            ).fetchone()
            backups = conn.execute(
                "SELECT count(*) FROM migration_backups WHERE source_table = %s", (f"public.{TABLE}",)
            ).fetchone()
            leftovers = conn.execute(
                "SELECT string_agg(relname, ', ') FROM pg_class WHERE relname IN (%s, %s)",
                (f"{TABLE}_intermediate", f"{TABLE}_delta"),
            ).fetchone()
            triggers = conn.execute(
                "SELECT count(*) FROM pg_trigger WHERE tgrelid = %s::regclass AND NOT tgisinternal", (TABLE,)
            ).fetchone()
        if load is not None:
            lost, duplicated, problems = load.compare(rows, dups)
        else:
            lost = sum(1 for i, h in control.items() if rows.get(i, (None,))[0] != h)
            duplicated, problems = dups + len(set(rows) - set(control)), []
        if kind != ("p",) or state is None or state[0] != "swapped":
            problems.append(f"not swapped: relkind {kind}, step {state[0] if state else None}")
        if backups != (1,):
            problems.append(f"{backups[0] if backups else 0} registered backups of {TABLE}, expected 1")
        if leftovers and leftovers[0]:
            problems.append(f"left behind: {leftovers[0]}")
        if triggers != (0,):
            problems.append(f"{triggers[0] if triggers else '?'} triggers left on {TABLE}")
        extra: dict[str, Any] = {}
        if state and state[1] is not None:
            extra["swap_lock_ms"] = round(float(state[1]), 1)
            if load is not None and state[2] is not None:
                start = float(state[2])
                extra["writer_worst_ms_at_swap"] = round(
                    load.worst_ms_between(start, start + 1 + state[1] / 1000), 1
                )
        return Outcome(lost, duplicated, problems, extra)

    def notes(self, results: list[TrialResult]) -> str:
        loads = [r.extra["load"] for r in results if "load" in r.extra]
        locks = [r.extra["swap_lock_ms"] for r in results if "swap_lock_ms" in r.extra]
        at_swap = [
            r.extra["writer_worst_ms_at_swap"] for r in results if "writer_worst_ms_at_swap" in r.extra
        ]
        if not loads:
            return ""
        rate = statistics.median(x["ops_per_s"] for x in loads)
        lock = statistics.median(locks) if locks else 0
        return (
            f"writer {rate:.0f} writes/s median (max {max(x['ops_per_s'] for x in loads)}), "
            f"{sum(x['ops'] for x in loads)} writes, {sum(x['uncertain'] for x in loads)} uncertain; "
            f"swap lock median {lock:.0f} ms (max {max(locks, default=0):.0f}); writer worst latency at "
            f"the swap {max(at_swap, default=0):.0f} ms, overall {max(x['max_ms'] for x in loads):.0f} ms"
        )


def _months_back(now: dt.datetime, k: int) -> dt.datetime:
    y, m = divmod(now.year * 12 + now.month - 1 - k, 12)
    return dt.datetime(y, m + 1, 1, tzinfo=dt.UTC)


class Retention(Scenario):
    """`migrata partitions maintain --yes` on tables with 5 years of monthly partitions, 12 months kept.

    Half the tables detach what is past retention (kept as plain tables), half drop it. Control: every
    row's content hash and month. After the rerun: the kept months hold their rows, each detached month
    is a plain table with exactly its rows, each dropped month is gone, the premade months exist.
    """

    name = "partitions retention"
    TABLES = {"small": 2, "full": 24}
    MONTHS = 60
    ROWS_PER_MONTH = {"small": 100, "full": 500}
    PREMAKE = 3

    def _tables(self) -> list[str]:
        return [f"ev{t}" for t in range(self.TABLES[self.scale])]

    def _mode(self, table: str) -> str:
        return "detach" if int(table[2:]) % 2 == 0 else "drop"

    def prepare(self, env: Env) -> None:
        env.create_database(self.template, env.heads())
        now = dt.datetime.now(dt.UTC)
        start = _months_back(now, self.MONTHS)
        with env.connect(self.template) as conn:
            for t, table in enumerate(self._tables()):
                conn.execute(
                    f"CREATE TABLE {table} (id bigint NOT NULL, at timestamptz NOT NULL, v text NOT NULL) "
                    "PARTITION BY RANGE (at)"
                )
                conn.execute(
                    "SELECT migrata_ensure_range_partitions(%s::regclass, %s, %s, 'month')",
                    (table, start, _months_back(now, -1)),
                )
                conn.execute(
                    f"INSERT INTO {table} SELECT %s * 10000000 + i, "
                    "%s::timestamptz + (i::float8 / %s) * (now() - %s::timestamptz - interval '1 day'), "
                    "md5(i::text) FROM generate_series(1, %s) i",
                    (t, start, self.MONTHS * self.ROWS_PER_MONTH[self.scale], start,
                     self.MONTHS * self.ROWS_PER_MONTH[self.scale]),
                )  # fmt: skip
        for table in self._tables():  # declared the way an operator does
            done = run_cli(
                ["partitions", "manage", table, "--interval", "month", "--premake", str(self.PREMAKE),
                 "--retention", "12 months", "--retention-mode", self._mode(table)],
                env.cli_env(self.template),
            )  # fmt: skip
            if done.code != 0:
                raise RuntimeError(f"partitions manage {table} failed: {done.output}")

    def control(self, env: Env, db: str) -> dict[str, Any]:
        cutoff = _months_back(dt.datetime.now(dt.UTC), 12)
        rows: dict[str, dict[int, tuple[str, str]]] = {}
        with env.connect(db) as conn:
            for table in self._tables():
                rows[table] = {
                    r[0]: (r[1], r[2])
                    for r in conn.execute(
                        "SELECT id, md5(concat_ws('|', id, at, v)), "
                        f"to_char(at AT TIME ZONE 'UTC', 'YYYYMM') FROM {table}"
                    )
                }
        return {"cutoff": cutoff.strftime("%Y%m"), "rows": rows}

    def command(self, env: Env, db: str) -> list[str]:
        return ["partitions", "maintain", "--yes"]

    def rerun_command(self, env: Env, db: str) -> list[str]:
        return [*self.command(env, db), "--wait"]

    def started(self, env: Env, db: str) -> bool:
        with env.connect(db) as conn:
            row = conn.execute(
                "SELECT (SELECT count(*) FROM managed_partitions WHERE last_run_at IS NOT NULL) "
                "+ (SELECT count(*) FROM migrata_checkpoints WHERE operation = 'partitions maintain')"
            )
            return row.fetchone() != (0,)

    def check(self, env: Env, db: str, control: dict[str, Any], load: Any) -> Outcome:
        lost = duplicated = 0
        problems: list[str] = []
        cutoff = control["cutoff"]
        now = dt.datetime.now(dt.UTC)
        with env.connect(db) as conn:
            for table, expected in control["rows"].items():
                parent = {
                    r[0]: r[1]
                    for r in conn.execute(f"SELECT id, md5(concat_ws('|', id, at, v)) FROM {table}")
                }
                duplicated += conn.execute(f"SELECT count(*) - count(DISTINCT id) FROM {table}").fetchone()[0]  # type: ignore[index]
                seen: dict[int, int] = {}
                for month in sorted({m for _, m in expected.values() if m < cutoff}):
                    part = f"{table}_p{month}"
                    exists = conn.execute("SELECT to_regclass(%s) IS NOT NULL", (part,)).fetchone()[0]  # type: ignore[index]
                    attached = conn.execute(
                        "SELECT count(*) FROM pg_inherits WHERE inhrelid = to_regclass(%s)", (part,)
                    ).fetchone()
                    if attached != (0,):
                        problems.append(f"{part} is still attached")
                    if self._mode(table) == "drop":
                        if exists:
                            problems.append(f"{part} past retention still exists")
                        continue
                    if not exists:
                        want = sum(1 for _, m in expected.values() if m == month)
                        lost += want
                        problems.append(f"detached {part} is missing ({want} rows)")
                        continue
                    for i, h in conn.execute(f"SELECT id, md5(concat_ws('|', id, at, v)) FROM {part}"):
                        seen[i] = seen.get(i, 0) + 1
                        if expected.get(i, (None,))[0] != h:
                            problems.append(f"{part}: row {i} differs")
                for i, (h, month) in expected.items():
                    if month >= cutoff:
                        if parent.get(i) != h:
                            lost += 1
                    elif self._mode(table) == "detach" and seen.get(i, 0) == 0:
                        lost += 1
                    if month < cutoff and i in parent:
                        duplicated += 1  # still in the parent although its month was retired
                duplicated += sum(c - 1 for c in seen.values() if c > 1)
                ahead = conn.execute(
                    "SELECT count(*) FROM migrata_range_bounds(%s::regclass) "
                    "WHERE lo >= %s AND NOT is_default",
                    (table, _months_back(now, 0).replace(tzinfo=None)),
                ).fetchone()
                if ahead != (self.PREMAKE + 1,):
                    problems.append(
                        f"{table}: {ahead} partitions from this month on, expected {self.PREMAKE + 1}"
                    )
        return Outcome(lost, duplicated, problems[:10])
