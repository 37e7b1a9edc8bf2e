"""The fault-injection suite (issue 17): kill -9 every long operation at a random point, rerun, compare.

`python -m benchmarks.reliability [--trials N] [--only OP] [--kill tool|postmaster|both] [--seed S]`
starts its own embedded Postgres (and chDB) in a temporary home, and for each operation runs N trials
per kill target: a fresh database cloned from the scenario's template, a control computed before the
run (counts, distinct keys, content checksums — for repartition plus the concurrent writer's log of
committed writes), the operation started through the `migrata` CLI in its own process group, a kill -9
at a random moment (of that process group, or of the Postgres postmaster, which is then restarted), the
operation run again to completion, and the result compared with the control. It prints, per operation
and kill target: trials, converged, rows lost, rows duplicated, median recovery time (kill → converged),
and how many kills landed mid-run. Each scenario is a small class in `scenarios/`; the harness drives
only the CLI, so scenarios survive changes to the internals.

A short seeded run (one trial per kill target) is part of `make test`
(`tests/benchmarks/test_reliability.py`).
"""
