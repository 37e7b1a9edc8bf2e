"""Own the README's reliability table: the trials of one or more journals, summed per operation and kill.

`python -m benchmarks.reliability.table benchmarks/results/reliability-*.jsonl` prints a Markdown table
(operation, kill -9 of, trials, converged, lost, duplicated, median recovery, mid-run kills, journal),
so the README shows exactly what the journals hold, including series stopped before 100 trials.
"""

from __future__ import annotations

import argparse
import json
import statistics
from collections import defaultdict
from pathlib import Path
from typing import Any


def load(paths: list[Path]) -> dict[tuple[str, str], list[tuple[dict[str, Any], str]]]:
    series: dict[tuple[str, str], list[tuple[dict[str, Any], str]]] = defaultdict(list)
    for path in paths:
        for line in path.read_text().splitlines():
            if line.strip():
                trial = json.loads(line)
                series[(trial["scenario"], trial["kill"])].append(
                    (trial, path.stem.removeprefix("reliability-"))
                )
    return series


def markdown(series: dict[tuple[str, str], list[tuple[dict[str, Any], str]]]) -> str:
    lines = [
        "| operation | kill -9 of | trials | converged | lost | duplicated | median recovery "
        "| mid-run kills | journal |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for (scenario, kill), trials in series.items():
        rows = [t for t, _ in trials]
        journals = ", ".join(sorted({j for _, j in trials}))
        lines.append(
            f"| {scenario} | {kill} | {len(rows)} | {sum(r['converged'] for r in rows)} | "
            f"{sum(r['lost'] for r in rows)} | {sum(r['duplicated'] for r in rows)} | "
            f"{statistics.median(r['recovery_s'] for r in rows):.1f} s | "
            f"{sum(r['phase'] == 'mid-run' for r in rows)} | {journals} |"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("journals", nargs="+", type=Path)
    print(markdown(load(parser.parse_args().journals)))


if __name__ == "__main__":
    main()
