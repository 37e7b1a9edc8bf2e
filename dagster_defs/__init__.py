"""Dagster definitions for migrata: thin wrappers over `python_ops`. `defs` is the one Definitions.

`defs` is loaded on first access (PEP 562), so `dagster_defs.reporting` (the CLI's runless reports)
imports without parsing dbt manifests; `dagster dev -m dagster_defs` finds it through `dir()`.
"""

from typing import Any

__all__ = ["defs"]


def __getattr__(name: str) -> Any:
    if name == "defs":
        from dagster_defs.definitions import defs

        return defs
    raise AttributeError(f"module 'dagster_defs' has no attribute {name!r}")


def __dir__() -> list[str]:
    return [*globals(), "defs"]
