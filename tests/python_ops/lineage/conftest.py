"""Fixtures of the lineage tests: the compiled lineage models bound to this test's database."""

from __future__ import annotations

import pytest

from python_ops.engines.context import Engines
from python_ops.lineage.batch import LineageModels
from python_ops.lineage.compiled import lineage_models
from python_ops.settings import MigrataSettings


@pytest.fixture
def models(settings: MigrataSettings) -> LineageModels:
    """The lineage models compiled once per session (cached under MIGRATA_HOME), dbt bound to this test."""
    return lineage_models(settings)


@pytest.fixture
def engines(settings: MigrataSettings) -> Engines:
    return Engines.from_settings(settings)
