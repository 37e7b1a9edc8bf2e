"""Authoring: `new` starts a component's tree with its branch label; the docs come from the declarations."""

from __future__ import annotations

from pathlib import Path

import pytest

from python_ops.errors import ConfigError
from python_ops.migrations.authoring import new_revision, render_docs
from python_ops.migrations.graph import load_graph
from python_ops.migrations.trees import builtin_dirs


def test_new_component_starts_a_tree_whose_base_carries_the_branch_label(tmp_path: Path) -> None:
    path = new_revision("audit", "audit log table", online_safe=False, versions_dir=tmp_path)
    assert path == tmp_path / "audit" / "0001_audit_audit_log_table.py"
    text = path.read_text()
    assert (
        "revision: str = 'audit_0001'" in text and "down_revision: str | Sequence[str] | None = None" in text
    )
    assert "branch_labels: str | Sequence[str] | None = ('audit',)" in text and "online_safe = False" in text

    graph = load_graph({**builtin_dirs(), "audit": tmp_path / "audit"})
    assert graph.head("audit") == "audit_0001" and graph.base("audit") == "audit_0001"
    info = graph.revisions["audit_0001"]
    assert info.message == "audit: audit log table" and info.online_safe is False
    assert "| `audit_0001` | audit log table | **no** | yes | yes |  |" in render_docs(graph)


def test_new_refuses_a_bad_component_name(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="is not a lower-case identifier"):
        new_revision("Bad Name", "x", versions_dir=tmp_path)
    assert not any(tmp_path.iterdir())


def test_docs_list_every_builtin_revision_with_its_declarations() -> None:
    graph = load_graph(builtin_dirs())
    docs = render_docs(graph)
    for info in graph.revisions.values():
        assert f"| `{info.revision}` |" in docs
    assert "| `lineage_0003` |" not in docs or "`lineage_backfill`" in docs  # data migrations are named
