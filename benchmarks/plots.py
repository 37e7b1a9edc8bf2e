"""Own the scale curves: one PNG per capability, cost against size on log-log axes, with its baselines.

Every figure a benchmark gives a `size` (rows, runs, entries) is a point; the newest measurement of
each figure at each size is used. A figure with a baseline draws the baseline's curve beside it, dashed,
so how each cost grows can be read against the bare operation measured in the same runs.
`python -m benchmarks --plot` writes docs/scale_<capability>.png from benchmarks/results/.
"""

from __future__ import annotations

import json
from collections import defaultdict
from pathlib import Path

from benchmarks.common import RESULTS

DOCS = Path(__file__).resolve().parent.parent / "docs"


def curves() -> dict[str, dict[str, list[tuple[float, float, float | None, str]]]]:
    """capability → figure name → [(size, value, baseline, unit)] sorted by size.

    Each point is the newest measurement of that figure at that size in any result file, so sizes run
    separately (the xl sizes one at a time, or a size re-run) add to the curve instead of replacing it.
    """
    newest: dict[tuple[str, str, float], tuple[str, float, float | None, str]] = {}
    for path in sorted(RESULTS.glob("*.json")):
        data = json.loads(path.read_text())
        if not isinstance(data, dict) or "benchmark" not in data:
            continue  # the reliability summaries and bench_read_api's own results share the folder
        stamp = "-".join(path.stem.rsplit("-", 2)[-2:])
        cap = data.get("scale", {}).get("capability") or data["benchmark"]
        for f in data["figures"]:
            if f.get("size"):
                key = (cap, f["name"], float(f["size"]))
                if key not in newest or stamp >= newest[key][0]:
                    newest[key] = (stamp, float(f["value"]), f.get("baseline"), f["unit"])
    out: dict[str, dict[str, list[tuple[float, float, float | None, str]]]] = defaultdict(
        lambda: defaultdict(list)
    )
    for (cap, name, size), (_, value, baseline, unit) in newest.items():
        out[cap][name].append((size, value, baseline, unit))
    return {cap: {n: sorted(p) for n, p in figs.items()} for cap, figs in out.items()}


def plot_all(docs: Path = DOCS) -> list[Path]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    written = []
    for cap, figs in sorted(curves().items()):
        fig, ax = plt.subplots(figsize=(8, 5.5))
        for i, (name, points) in enumerate(sorted(figs.items())):
            color = f"C{i % 10}"
            xs, ys = [p[0] for p in points], [p[1] for p in points]
            ax.plot(xs, ys, "o-", color=color, label=f"{name} ({points[0][3]})")
            base = [(p[0], p[2]) for p in points if p[2]]
            if base:
                ax.plot(
                    *zip(*base, strict=True), "s--", color=color, alpha=0.6, label="  baseline, same runs"
                )
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel("size (rows / runs / entries)")
        ax.set_ylabel("cost")
        ax.set_title(f"{cap}: cost vs size (log-log)")
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(fontsize=7, loc="upper left")
        docs.mkdir(exist_ok=True)
        path = docs / f"scale_{cap}.png"
        fig.tight_layout()
        fig.savefig(path, dpi=110)
        plt.close(fig)
        written.append(path)
    return written
