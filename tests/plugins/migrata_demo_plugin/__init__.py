"""A tiny downstream package adding a migration tree (`demoplug`) to migrata through its entry point.

Registered in the group `migrata.migrations` as `demoplug = migrata_demo_plugin:version_locations`.
"""

from __future__ import annotations

from pathlib import Path


def version_locations() -> list[str]:
    """The plugin's version directories (one tree: component `demoplug`)."""
    return [str(Path(__file__).parent / "versions")]
