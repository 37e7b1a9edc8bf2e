"""Own the README's reliability table: the trials of one or more journals, one row per series.

`python -m benchmarks.reliability.table benchmarks/results/reliability-*.jsonl [--only OPERATION]`
prints a Markdown table (operation, kill -9 of, trials, converged, lost, duplicated, median recovery,
mid-run kills, journal) with one row per (operation, kill target, journal), never merging journals, so
the README shows exactly what was run, including series stopped before 100 trials.
"""

from __future__ import annotations

import argparse
import json
import statistics
from collections import defaultdict
from pathlib import Path
from typing import Any

Series = dict[tuple[str, str, str], list[dict[str, Any]]]


def load(paths: list[Path], only: list[str] | None = None) -> Series:
    series: Series = defaultdict(list)
    for path in paths:
        journal = path.stem.removeprefix("reliability-")
        for line in path.read_text().splitlines():
            if line.strip():
                trial = json.loads(line)
                if not only or trial["scenario"] in only:
                    series[(trial["scenario"], trial["kill"], journal)].append(trial)
    return series


def markdown(series: Series) -> str:
    lines = [
        "| operation | kill -9 of | trials | converged | lost | duplicated | median recovery "
        "| mid-run kills | journal |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for (scenario, kill, journal), rows in series.items():
        lines.append(
            f"| {scenario} | {kill} | {len(rows)} | {sum(r['converged'] for r in rows)} | "
            f"{sum(r['lost'] for r in rows)} | {sum(r['duplicated'] for r in rows)} | "
            f"{statistics.median(r['recovery_s'] for r in rows):.1f} s | "
            f"{sum(r['phase'] == 'mid-run' for r in rows)} | {journal} |"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("journals", nargs="+", type=Path)
    parser.add_argument("--only", action="append", help="an operation as the journal names it (repeatable)")
    args = parser.parse_args()
    print(markdown(load(args.journals, args.only)))


if __name__ == "__main__":
    main()
