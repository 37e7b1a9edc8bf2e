"""The rooms of the house, enforced: dependencies point one way, no cycles, samples stay out.

- `python_ops` never imports dagster; only `python_ops/cli` imports typer and rich.
- A capability (lineage, archive, parquet_repair, partitions, migrations) imports only shared pieces,
  never another capability. A migration revision of component C may also import the capability that
  owns C (the `chunks` tree belongs to partitions), and the migrations API it calls.
- No import cycles among the modules of `python_ops` and `dagster_defs` (function-level imports count).
- Neither the product (`python_ops`) nor its Dagster definitions import `migrata_samples`.
"""

from __future__ import annotations

import ast
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
ROOT = REPO / "python_ops"
CAPABILITIES = {"lineage", "archive", "parquet_repair", "partitions", "migrations"}
TREE_OWNER = {"core": None, "lineage": "lineage", "archive": "archive", "parquet": "parquet_repair",
              "partitions": "partitions", "chunks": "partitions"}  # fmt: skip


def _imports(path: Path) -> set[str]:
    """Every module `path` imports, anywhere in the file, as dotted names (relative ones resolved)."""
    tree = ast.parse(path.read_text())
    package = ".".join(path.relative_to(REPO).with_suffix("").parts[:-1])
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parent = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*parent, base] if base else parent)
            names.add(base)
            names.update(f"{base}.{alias.name}" for alias in node.names)
    return names


def _module(path: Path) -> str:
    parts = path.relative_to(REPO).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _product_files() -> list[Path]:
    return [*ROOT.rglob("*.py"), *(REPO / "dagster_defs").rglob("*.py")]


def _top(names: set[str]) -> set[str]:
    return {n.split(".")[0] for n in names}


def test_python_ops_never_imports_dagster() -> None:
    offenders = [
        str(p) for p in ROOT.rglob("*.py") if {"dagster", "dagster_dbt", "dagster_defs"} & _top(_imports(p))
    ]
    assert offenders == []


def test_only_the_cli_imports_typer_and_rich() -> None:
    offenders = [
        str(p)
        for p in ROOT.rglob("*.py")
        if "cli" not in p.relative_to(ROOT).parts[:1] and {"typer", "rich"} & _top(_imports(p))
    ]
    assert offenders == []


def _capability_of(name: str) -> str | None:
    parts = name.split(".")
    return parts[1] if len(parts) > 1 and parts[0] == "python_ops" and parts[1] in CAPABILITIES else None


def test_no_capability_imports_another() -> None:
    offenders = []
    for path in ROOT.rglob("*.py"):
        rel = path.relative_to(ROOT).parts
        if rel[0] not in CAPABILITIES:
            continue
        allowed = {rel[0]}
        if rel[:2] == ("migrations", "versions"):  # a revision: its tree's owner as well
            owner = TREE_OWNER.get(rel[2])
            allowed |= {owner} if owner else set()
        for name in _imports(path):
            other = _capability_of(name)
            if other and other not in allowed:
                offenders.append(f"{path.relative_to(REPO)} imports {name}")
    assert offenders == []


def test_no_import_cycles() -> None:
    imports = {_module(p): _imports(p) for p in _product_files()}
    graph = {
        name: {m for m in imports if m != name and any(i == m or i.startswith(m + ".") for i in found)}
        for name, found in imports.items()
    }
    # a package importing its own submodules (its face) is not a cycle; drop parent → child edges
    graph = {name: {m for m in deps if not m.startswith(name + ".")} for name, deps in graph.items()}
    cycles: list[list[str]] = []
    state: dict[str, int] = {}

    def visit(node: str, stack: list[str]) -> None:
        state[node] = 1
        for dep in sorted(graph[node]):
            if state.get(dep) == 1:
                cycles.append([*stack[stack.index(dep) :], dep])
            elif dep not in state:
                visit(dep, [*stack, dep])
        state[node] = 2

    for node in sorted(graph):
        if node not in state:
            visit(node, [node])
    assert cycles == [], "\n".join(" -> ".join(c) for c in cycles)


def test_the_product_never_imports_samples() -> None:
    offenders = [str(p.relative_to(REPO)) for p in _product_files() if "migrata_samples" in _top(_imports(p))]
    assert offenders == []
