"""Own what every command gets from the root callback: settings, engines, output flags.

Sub-apps import `state` from here, never from `app`, so the root app imports its sub-apps and no
sub-app imports the root (no import cycle).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from typing import TYPE_CHECKING

import typer

if TYPE_CHECKING:  # loaded by the root callback, so `--help` never imports pydantic-settings
    from python_ops.engines.context import Engines
    from python_ops.settings import MigrataSettings


@dataclass
class AppState:
    """Settings (read once by the root callback) and the global output flags."""

    settings: MigrataSettings
    json: bool
    quiet: bool
    debug: bool

    @cached_property
    def engines(self) -> Engines:
        from python_ops.engines.context import Engines

        return Engines.from_settings(self.settings)


def state(ctx: typer.Context) -> AppState:
    obj = ctx.find_root().obj
    assert isinstance(obj, AppState)
    return obj
