"""Own the demo report's unit: one titled table and a one-line summary per capability."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass
class Section:
    """One block of the demo report: a titled table and a one-line summary."""

    title: str
    columns: list[str] = field(default_factory=list)
    rows: list[list[Any]] = field(default_factory=list)
    summary: str = ""
