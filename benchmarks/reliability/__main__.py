"""Run the fault-injection suite: `python -m benchmarks.reliability [--trials N] [--only OP] [--kill K]`.

Prints one line per trial on stderr while it runs, then the table (operation, kill target, trials,
converged, lost, duplicated, median recovery time, mid-run kills); the trials go to
benchmarks/results/reliability-*.json. Exit 1 when any trial did not converge or lost or duplicated rows.
"""

from __future__ import annotations

import argparse
import signal
import sys

from rich.console import Console

from benchmarks.reliability.harness import Kill, write_results
from benchmarks.reliability.scenarios import SCENARIOS
from benchmarks.reliability.suite import render, run_suite


def main() -> int:
    # `kill PID` stops the suite like Ctrl-C: the engines it started are stopped and its home removed
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--trials", type=int, default=100, help="trials per operation and kill target")
    parser.add_argument("--only", action="append", choices=sorted(SCENARIOS), help="operation (repeatable)")
    parser.add_argument("--kill", choices=["tool", "postmaster", "both"], default="both")
    parser.add_argument("--seed", type=int, default=17)
    parser.add_argument("--scale", choices=["small", "full"], default="full")
    args = parser.parse_args()
    if args.trials < 1:
        parser.error("--trials must be at least 1")
    kills: list[Kill] = ["tool", "postmaster"] if args.kill == "both" else [args.kill]
    summaries, results = run_suite(
        only=args.only, trials=args.trials, kills=kills, seed=args.seed, scale=args.scale
    )
    out = Console(width=None if sys.stdout.isatty() else 160)
    out.print(render(summaries))
    for s in summaries:
        if s.notes:
            out.print(f"{s.scenario}, kill -9 of {s.kill}: {s.notes}", highlight=False)
    path = write_results(summaries, results, vars(args))
    out.print(f"trials written to {path}", highlight=False)
    bad = [s for s in summaries if s.converged != s.trials or s.lost or s.duplicated]
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
