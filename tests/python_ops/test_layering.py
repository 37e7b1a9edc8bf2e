"""Dependencies point one way: python_ops never imports dagster; only python_ops/cli imports typer/rich."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2] / "python_ops"


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text())
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module.split(".")[0])
    return names


def test_python_ops_never_imports_dagster() -> None:
    offenders = [
        str(p) for p in ROOT.rglob("*.py") if {"dagster", "dagster_dbt", "dagster_defs"} & _imports(p)
    ]
    assert offenders == []


def test_only_the_cli_imports_typer_and_rich() -> None:
    offenders = [
        str(p)
        for p in ROOT.rglob("*.py")
        if "cli" not in p.relative_to(ROOT).parts[:1] and {"typer", "rich"} & _imports(p)
    ]
    assert offenders == []
