"""Lint fixtures: revisions with one known hazard each (`linthaz`) and their safe twins (`lintsafe`).

Registered like a plugin (group `migrata.migrations`): `linthaz = migrata_lint_fixtures:hazards`,
`lintsafe = migrata_lint_fixtures:twins`. Each base revision creates its component's table; every other
revision changes that existing table, one hazard (or its safe twin) at a time. `EXPECTED` is what lint
must find: the one rule of each hazard revision; the twins must pass.
"""

from __future__ import annotations

from pathlib import Path

HERE = Path(__file__).parent

EXPECTED = {
    "linthaz_0002": "index-not-concurrent",
    "linthaz_0003": "volatile-default-rewrite",
    "linthaz_0004": "set-not-null-scan",
    "linthaz_0005": "column-type-rewrite",
    "linthaz_0006": "concurrently-in-transaction",
    "linthaz_0007": "breaks-old-code",
    "linthaz_0008": "missing-lock-timeout",
}
TWINS = {f"lintsafe_{rev[-4:]}": rule for rev, rule in EXPECTED.items()}


def hazards() -> str:
    return str(HERE / "hazards")


def twins() -> str:
    return str(HERE / "twins")
