"""Own telling an orchestrator what a CLI operation did: plugins of the entry point group
`migrata.reporters` (Dagster's is `dagster_defs.reporting:report`) are called after a successful,
non-dry operation, when a Dagster instance is configured (`DAGSTER_HOME` with its `dagster.yaml`) and
`MIGRATA_DAGSTER__REPORT_CLI_RUNS` is on. A reporter that fails warns on stderr; the operation's own
result and exit code stand.
"""

from __future__ import annotations

import os
from importlib.metadata import entry_points
from pathlib import Path
from typing import Any

from python_ops.cli.output import err
from python_ops.engines.context import Engines
from python_ops.settings import MigrataSettings

GROUP = "migrata.reporters"


def report_operation(
    operation: str, *, settings: MigrataSettings, engines: Engines, result: Any, dry_run: bool = False
) -> None:
    """Hand a finished operation's result to every installed reporter (no-op when none applies)."""
    home = os.environ.get("DAGSTER_HOME")
    # an instance is configured: DAGSTER_HOME names a directory with its dagster.yaml
    if dry_run or not settings.dagster.report_cli_runs or not home or not Path(home, "dagster.yaml").exists():
        return
    for plugin in entry_points(group=GROUP):
        try:
            recorded = plugin.load()(operation, engines=engines, result=result)
        except Exception as exc:
            err.print(f"warning: {operation} was not recorded by reporter {plugin.name}: {exc}", markup=False)
            continue
        if recorded:
            err.print(f"{plugin.name}: recorded {recorded} materialization(s) of {operation}", markup=False)
