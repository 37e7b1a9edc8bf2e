"""Own a suite run: the chosen scenarios on one set of engines, a line per trial, the summary table."""

from __future__ import annotations

import json
import random
import time
from dataclasses import asdict
from typing import Any

from rich.console import Console
from rich.table import Table

from benchmarks.reliability.harness import (
    COLUMNS,
    RESULTS,
    Kill,
    Summary,
    TrialResult,
    environment,
    run_scenario,
)
from benchmarks.reliability.scenarios import SCENARIOS


def run_suite(
    *,
    only: list[str] | None = None,
    trials: int = 100,
    kills: list[Kill] | None = None,
    seed: int = 17,
    scale: str = "full",
    log: Any = None,
) -> tuple[list[Summary], list[TrialResult]]:
    """Run the chosen scenarios; return their summaries and every trial."""
    err = Console(stderr=True, soft_wrap=True)
    say = log or (lambda message: err.print(message, highlight=False, markup=False))
    rng = random.Random(seed)
    summaries: list[Summary] = []
    results: list[TrialResult] = []

    RESULTS.mkdir(exist_ok=True)
    journal = RESULTS / f"reliability-{time.strftime('%Y%m%d-%H%M%S')}.jsonl"  # every trial as it ends

    def on_result(r: TrialResult) -> None:
        results.append(r)
        with journal.open("a") as handle:
            handle.write(json.dumps(asdict(r), default=str) + "\n")
        verdict = "converged" if r.converged else "NOT CONVERGED"
        say(
            f"{r.scenario} / kill -9 {r.kill} #{r.trial}: at {r.kill_at_s:.2f}s ({r.phase}), {verdict}, "
            f"lost {r.lost}, duplicated {r.duplicated}, recovery {r.recovery_s:.2f}s"
            + (f"; {'; '.join(r.problems)}" if r.problems else "")
        )

    with environment(say) as env:
        for name in only or list(SCENARIOS):
            scenario = SCENARIOS[name](scale)
            summaries += run_scenario(
                scenario,
                env,
                trials=trials,
                kills=kills or ["tool", "postmaster"],
                rng=rng,
                on_result=on_result,
            )
    return summaries, results


def render(summaries: list[Summary]) -> Table:
    table = Table(title="kill -9 at a random point, rerun, compare with the control", title_justify="left")
    for column in COLUMNS:
        table.add_column(column)
    for s in summaries:
        table.add_row(*s.row()[:-1], "see below" if s.notes else "")
    return table
