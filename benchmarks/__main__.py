"""Run the benchmarks: `python -m benchmarks [--only CAP] [--scale small|full|xl]` (`make bench`).

`--scale xl` (not in CI) runs only the benchmarks that define `XL = True`, at ten times the seeds'
sizes; `--plot` draws each capability's cost-vs-size curve from the JSON results into docs/.

Each benchmark makes its own data at the chosen scale in a fresh embedded-engine session and prints
its figures as ratios against a baseline measured in the same run; JSON goes to benchmarks/results/.
"""

from __future__ import annotations

import argparse
import importlib
import pkgutil
import sys
from pathlib import Path

from rich.console import Console
from rich.table import Table

from benchmarks.common import Figure, session, write_results

HERE = Path(__file__).parent


def discover(only: str | None) -> list[str]:
    names = []
    for cap in sorted(p.name for p in HERE.iterdir() if p.is_dir() and (p / "__init__.py").exists()):
        if only and cap != only:
            continue
        for mod in pkgutil.iter_modules([str(HERE / cap)]):
            if mod.name.startswith("bench_"):
                names.append(f"benchmarks.{cap}.{mod.name}")
    return names


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument(
        "--only", help="folder to run (lineage, archive, parquet_repair, partitions, migrations, cli)"
    )
    parser.add_argument(
        "--scale",
        default="full",
        choices=["small", "full", "xl"],
        help="small: a quick smoke run; full: the sizes the issues name; xl: ten times those (not in CI)",
    )
    parser.add_argument("--plot", action="store_true", help="only draw docs/scale_<cap>.png from results/")
    args = parser.parse_args()
    if args.plot:
        from benchmarks.plots import plot_all

        for path in plot_all():
            print(path)
        return 0
    console = Console()
    all_figures: list[Figure] = []
    for name in discover(args.only):
        module = importlib.import_module(name)
        if args.scale == "xl" and not getattr(module, "XL", False):
            continue
        console.print(f"[bold]{name}[/bold] ({args.scale})")
        with session() as s:
            figures = module.run(s, args.scale)
        write_results(name.split(".")[-1], figures, {"scale": args.scale, "capability": name.split(".")[1]})
        all_figures.extend(figures)
        table = Table(title_justify="left")
        for col in ("figure", "value", "baseline", "ratio", "goal"):
            table.add_column(col)
        for f in figures:
            base = f"{f.baseline:.4g} {f.unit} ({f.baseline_name})" if f.baseline is not None else "-"
            ratio = f"{f.ratio:.2f}x" if f.ratio is not None else "-"
            table.add_row(f.name, f"{f.value:.4g} {f.unit}", base, ratio, f.goal)
        console.print(table)
    if not all_figures:
        console.print("no benchmarks found", style="red")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
