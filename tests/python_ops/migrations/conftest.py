"""Fixtures of the migration system's tests: the demo plugin installed through its entry point."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parents[2] / "plugins"))

import plugin_support


@pytest.fixture
def demoplug(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """Install the demo plugin (component `demoplug`) for this test; return its site directory."""
    return plugin_support.install_demo_plugin(monkeypatch, tmp_path)
