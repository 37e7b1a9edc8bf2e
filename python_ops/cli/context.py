"""Own what every command gets from the root callback: settings, engines, output flags.

Sub-apps import `state` from here, never from `app`, so the root app imports its sub-apps and no
sub-app imports the root (no import cycle).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING

import typer

if TYPE_CHECKING:  # loaded on first use, so `--help` (of any sub-app) never imports pydantic-settings
    from python_ops.engines.context import Engines
    from python_ops.settings import MigrataSettings


@dataclass
class AppState:
    """Settings (read once, by the first command that uses them) and the global output flags."""

    json: bool
    quiet: bool
    debug: bool
    home: Path | None = None

    @cached_property
    def settings(self) -> MigrataSettings:
        """The settings from `MIGRATA_*` and `--home`; a bad value raises `ConfigError` here, inside the
        command, so the root's error handler prints it (one line, exit 2)."""
        from python_ops.settings import load_settings

        return load_settings(**({"home": self.home} if self.home else {}))

    @cached_property
    def engines(self) -> Engines:
        from python_ops.engines.context import Engines

        return Engines.from_settings(self.settings)


def state(ctx: typer.Context) -> AppState:
    obj = ctx.find_root().obj
    assert isinstance(obj, AppState)
    return obj
