"""Fixtures of the partitions tests: the `Engines` every public verb takes first."""

from __future__ import annotations

import pytest

from python_ops.engines.context import Engines


@pytest.fixture
def engines(dsn: str) -> Engines:
    return Engines.from_dsn(dsn)
