"""The fault-injection suite's short seeded run (issue 17), part of `make test`.

For each operation this branch owns (repartition under a concurrent writer, parquet repair, partition
retention): one kill -9 of the `migrata` process group and one of the Postgres postmaster, at small
scale and a fixed seed, each followed by a rerun compared with the control computed before the run.
The full run is `python -m benchmarks.reliability` (100 trials per operation and kill target).
"""

from __future__ import annotations

from benchmarks.reliability.scenarios import OWN
from benchmarks.reliability.suite import run_suite


def test_short_seeded_fault_injection_run_converges_with_nothing_lost_or_duplicated() -> None:
    lines: list[str] = []
    summaries, results = run_suite(
        only=list(OWN), trials=1, kills=["tool", "postmaster"], seed=17, scale="small", log=lines.append
    )
    assert [(r.scenario, r.kill) for r in results] == [
        (name, kill)
        for name in ("repartition + writer", "parquet repair", "partitions retention")
        for kill in ("tool", "postmaster")
    ]
    failed = [r for r in results if not r.converged or r.lost or r.duplicated or r.rerun_code != 0]
    assert not failed, "\n".join(lines)
    assert all(s.converged == s.trials == 1 for s in summaries)
    # the writer ran beside the repartitioning and its every committed write was checked
    writes = [r.extra["load"]["ops"] for r in results if r.scenario == "repartition + writer"]
    assert all(n > 0 for n in writes), writes
