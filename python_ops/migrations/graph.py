"""Own the revision graph: which revisions exist, which component owns each, and its declarations.

Reads files only (no database). The graph is read from the revision files' source (their module-level
`revision`, `down_revision`, `branch_labels`, `depends_on`, declarations and docstring are literals), so
light verbs (`migrate status`, `history`) never load Alembic; Alembic's `ScriptDirectory` is loaded on
first use of `Graph.script`, by the verbs that run or render revisions. Every structural fault becomes
one `ConfigError` naming the object: a file that is not a revision, a revision that fails to import, a
tree with two heads or two bases, a base revision without its component's branch label, a revision
without declarations.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

from python_ops.errors import ConfigError
from python_ops.migrations.models import DataMigrationRef, RevisionInfo
from python_ops.migrations.trees import component_dirs

if TYPE_CHECKING:
    from alembic.script import ScriptDirectory

CORE = "core"


def _tuple(value: object) -> tuple[str, ...]:
    if value is None:
        return ()
    if isinstance(value, str):
        return (value,)
    return tuple(str(v) for v in value)  # type: ignore[attr-defined]


def _data_migrations(tree: ast.Module) -> tuple[DataMigrationRef, ...]:
    """Find `data_migration("name", estimate="m:f", run="m:f")` calls with literal arguments."""
    refs = []
    for node in ast.walk(tree):
        if not isinstance(node, ast.Call):
            continue
        func = node.func
        called = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", None)
        if called != "data_migration" or not node.args or not isinstance(node.args[0], ast.Constant):
            continue
        kw = {k.arg: k.value.value for k in node.keywords if isinstance(k.value, ast.Constant)}
        refs.append(
            DataMigrationRef(str(node.args[0].value), str(kw.get("estimate", "")), str(kw.get("run", "")))
        )
    return tuple(refs)


def _literals(tree: ast.Module) -> dict[str, Any]:
    """The module-level names assigned a literal (`revision = "x"`, `online_safe: bool = True`)."""
    found: dict[str, Any] = {}
    for node in tree.body:
        if isinstance(node, ast.Assign):
            targets, value = node.targets, node.value
        elif isinstance(node, ast.AnnAssign) and node.value is not None:
            targets, value = [node.target], node.value
        else:
            continue
        try:
            literal = ast.literal_eval(value)
        except ValueError:
            continue  # not a literal: Alembic would read it, so the fault shows where it is used
        for target in targets:
            if isinstance(target, ast.Name):
                found[target.id] = literal
    return found


def _declaration(values: dict[str, Any], name: str) -> bool | None:
    value = values.get(name)
    return value if isinstance(value, bool) else None


def _read_revision(path: Path, component: str) -> tuple[RevisionInfo, tuple[str, ...]]:
    """One revision file's graph entry and branch labels, from its source."""
    try:
        tree = ast.parse(path.read_text(), filename=str(path))
    except (OSError, SyntaxError, ValueError) as exc:
        raise ConfigError(
            f"a revision file failed to load: {path}: {type(exc).__name__}: {exc}",
            hint="fix the revision file; nothing was applied",
        ) from None
    values = _literals(tree)
    revision = values.get("revision")
    if not isinstance(revision, str) or not revision:
        raise ConfigError(
            f'{path} in component {component!r}\'s version directory has no literal `revision = "…"`',
            hint="move helper modules out of versions/<component>/ (or name them _*.py)",
        )
    doc = (ast.get_docstring(tree) or "").strip()
    info = RevisionInfo(
        component=component,
        revision=revision,
        down_revision=_tuple(values.get("down_revision")),
        message=doc.splitlines()[0] if doc else "",
        path=str(path),
        online_safe=_declaration(values, "online_safe"),
        backward_compatible=_declaration(values, "backward_compatible"),
        forward_compatible=_declaration(values, "forward_compatible"),
        depends_on=_tuple(values.get("depends_on")),
        data_migrations=_data_migrations(tree),
    )
    return info, _tuple(values.get("branch_labels"))


@dataclass
class Graph:
    """The loaded revision graph of every component."""

    dirs: dict[str, Path]
    revisions: dict[str, RevisionInfo] = field(default_factory=dict)
    branch_labels: dict[str, tuple[str, ...]] = field(default_factory=dict)

    @cached_property
    def script(self) -> ScriptDirectory:
        """Alembic's view of the same files, loaded (every revision imported) on first use."""
        return _load_script(self.dirs)

    def dependencies(self, revision: str) -> tuple[str, ...]:
        """The revisions `revision` depends on; a branch label among them is resolved by Alembic."""
        deps = self.revisions[revision].depends_on
        if all(d in self.revisions for d in deps):
            return deps
        script_rev = self.script.get_revision(revision)
        return tuple(getattr(script_rev, "_resolved_dependencies", ()) or ())

    @property
    def components(self) -> list[str]:
        return list(self.dirs)

    def component_revisions(self, component: str) -> list[RevisionInfo]:
        """The component's revisions from base to head."""
        revs = [r for r in self.revisions.values() if r.component == component]
        by_down = {d: r for r in revs for d in r.down_revision}
        ordered = [r for r in revs if not r.down_revision or r.down_revision[0] not in self.revisions]
        while ordered and ordered[-1].revision in by_down:
            ordered.append(by_down[ordered[-1].revision])
        return ordered

    def head(self, component: str) -> str | None:
        revs = self.component_revisions(component)
        return revs[-1].revision if revs else None

    def base(self, component: str) -> str | None:
        revs = self.component_revisions(component)
        return revs[0].revision if revs else None

    def component_of(self, revision: str) -> str:
        return self.revisions[revision].component

    def require_component(self, component: str) -> None:
        if component not in self.dirs:
            raise ConfigError(
                f"unknown component {component!r}",
                hint=f"known components: {', '.join(self.components)}",
            )

    def require_revision(self, revision: str, component: str | None = None) -> RevisionInfo:
        info = self.revisions.get(revision)
        if info is None or (component is not None and info.component != component):
            where = f" in component {component!r}" if component else ""
            known = [r.revision for r in self.revisions.values() if component in (None, r.component)]
            raise ConfigError(
                f"unknown revision {revision!r}{where}",
                hint=f"known revisions: {', '.join(sorted(known)) or 'none'} (see `migrata migrate history`)",
            )
        return info

    def validate_declarations(self, revisions: list[RevisionInfo]) -> None:
        """Refuse revisions that do not declare online_safe / backward_compatible / forward_compatible."""
        missing = [r for r in revisions if r.missing_declarations]
        if missing:
            listed = "; ".join(
                f"{r.revision} ({Path(r.path).name}) lacks {', '.join(r.missing_declarations)}"
                for r in missing
            )
            raise ConfigError(
                f"revisions without declarations: {listed}",
                hint="set module-level online_safe, backward_compatible and forward_compatible to True/False",
            )


def _load_script(dirs: dict[str, Path]) -> ScriptDirectory:
    from alembic.script import ScriptDirectory
    from alembic.util import CommandError

    from python_ops.migrations.config import alembic_config

    try:
        script = ScriptDirectory.from_config(alembic_config("postgresql://unused", dirs=dirs))
        list(script.walk_revisions("base", "heads"))
    except CommandError as exc:
        raise ConfigError(
            f"the migration trees are inconsistent: {exc}", hint="fix the revision files"
        ) from None
    except Exception as exc:  # a revision file that does not import
        raise ConfigError(
            f"a revision file failed to load: {type(exc).__name__}: {exc}",
            hint="fix the revision file (run with --debug for the traceback); nothing was applied",
        ) from exc
    return script


def load_graph(dirs: dict[str, Path] | None = None) -> Graph:
    """Read every component's tree and check its shape (one base, one head, the base labelled)."""
    dirs = dirs if dirs is not None else component_dirs()
    graph = Graph(dirs=dirs)
    for component, directory in dirs.items():
        for path in sorted(directory.glob("*.py")):
            if path.name[0] in "_.":
                continue
            info, labels = _read_revision(path, component)
            if info.revision in graph.revisions:
                raise ConfigError(
                    f"the migration trees are inconsistent: revision {info.revision} is defined twice "
                    f"({graph.revisions[info.revision].path} and {path})",
                    hint="fix the revision files",
                )
            graph.revisions[info.revision] = info
            graph.branch_labels[info.revision] = labels
    for info in graph.revisions.values():
        missing = [d for d in info.down_revision if d not in graph.revisions]
        if missing:
            raise ConfigError(
                f"the migration trees are inconsistent: revision {info.revision} revises "
                f"{', '.join(missing)}, which no component has",
                hint="fix the revision files",
            )
    _check_shape(graph)
    return graph


def _check_shape(graph: Graph) -> None:
    for component in graph.components:
        revs = [r for r in graph.revisions.values() if r.component == component]
        if not revs:
            continue
        ids = {r.revision for r in revs}
        children = {d for r in revs for d in r.down_revision if d in ids}
        heads = sorted(ids - children)
        bases = sorted(r.revision for r in revs if not any(d in ids for d in r.down_revision))
        if len(heads) > 1:
            raise ConfigError(
                f"component {component!r} has {len(heads)} heads: {', '.join(heads)}",
                hint="make one revision revise the other (set its down_revision), or merge them; "
                "nothing was applied",
            )
        if len(bases) > 1:
            raise ConfigError(
                f"component {component!r} has {len(bases)} base revisions: {', '.join(bases)}",
                hint="a component's tree starts with exactly one revision",
            )
        if component not in graph.branch_labels.get(bases[0], ()):
            raise ConfigError(
                f"the base revision {bases[0]} of component {component!r} lacks its branch label",
                hint=f"set branch_labels = ({component!r},) in {Path(graph.revisions[bases[0]].path).name}",
            )
