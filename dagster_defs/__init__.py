"""Dagster definitions for migrata: thin wrappers over `python_ops`. `defs` is the one Definitions."""

from dagster_defs.definitions import defs

__all__ = ["defs"]
