"""Own reading Marquez's Job and Run shapes for the reads: the dbt macros that define them, as SQL.

The Job (`lineage_job_json`), the Run (`lineage_run_json`), their times (`lineage_json_ts`), the state
map (`lineage_marquez_state`), the dataset lists (`lineage_datasets_json`) and a dashboard entry
(`lineage_dashboard_entry`) are written once, as dbt macros in `python_ops/dbt/macros/`: dbt renders
them into `lineage_jobs_latest` (each job's answer stored as JSON text) and `lineage_dashboard_daily`,
and the reads built at request time (run history, one run, a job whose stored
answer is out of date, the normalized baseline) render the same macros here with plain Jinja (they use
no dbt context), so a stored answer and one built at request time cannot drift apart.
"""

from __future__ import annotations

import re
from functools import cache
from pathlib import Path
from typing import Any

import jinja2

MACROS = Path(__file__).resolve().parents[1] / "dbt" / "macros"
FILES = (
    "lineage_json_ts",
    "lineage_marquez_state",
    "lineage_datasets_json",
    "lineage_run_json",
    "lineage_job_json",
    "lineage_dashboard_entry",
)


@cache
def _module() -> Any:
    # one template holding the macros, so they call each other as dbt lets them
    text = "\n".join((MACROS / f"{name}.sql").read_text() for name in FILES)
    return jinja2.Environment(undefined=jinja2.StrictUndefined).from_string(text).module


def ts(expr: str) -> str:
    """A timestamptz → Marquez's ISO-8601 UTC text (`…T…Z`, microseconds); null stays null."""
    return str(_module().lineage_json_ts(expr))


def state(expr: str) -> str:
    """An OpenLineage run state → Marquez's (the map of macro lineage_marquez_state)."""
    return str(_module().lineage_marquez_state(expr))


def run_json(r: str) -> str:
    """Marquez's Run from a row `r` with run_lineage_denormalized's column names."""
    return str(_module().lineage_run_json(r))


def datasets_json(namespaces: str, names: str) -> str:
    """Parallel arrays of dataset namespaces and names → Marquez's `[{"namespace", "name"}]`."""
    return str(_module().lineage_datasets_json(namespaces, names))


def job_json(jb: str, run: str, inputs: str, outputs: str) -> str:
    """Marquez's Job from a lineage_jobs row `jb`, its latest Run `run` (or null) and its inputs/outputs."""
    return str(_module().lineage_job_json(jb, run, inputs, outputs))


def dashboard_entry(day: str, state: str, runs: str) -> str:
    """One dashboard entry, `{"date", "state", "count"}` (as lineage_dashboard_daily stores them)."""
    return str(_module().lineage_dashboard_entry(day, state, runs))


def marquez_states() -> dict[str, str]:
    """The state map itself, as the macro renders it (OpenLineage state → Marquez state)."""
    return dict(re.findall(r"WHEN '(\w+)' THEN '(\w+)'", state("x")))
