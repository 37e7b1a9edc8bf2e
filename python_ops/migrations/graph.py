"""Own the revision graph: which revisions exist, which component owns each, and its declarations.

Reads files only (no database). Every structural fault becomes one `ConfigError` naming the object:
a revision file that fails to import, a tree with two heads or two bases, a base revision without its
component's branch label, a revision without declarations.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass, field
from pathlib import Path

from alembic.script import Script, ScriptDirectory
from alembic.util import CommandError

from python_ops.errors import ConfigError
from python_ops.migrations.config import alembic_config, component_dirs
from python_ops.migrations.models import DataMigrationRef, RevisionInfo

CORE = "core"


def _tuple(value: object) -> tuple[str, ...]:
    if value is None:
        return ()
    if isinstance(value, str):
        return (value,)
    return tuple(str(v) for v in value)  # type: ignore[attr-defined]


def _data_migrations(path: str) -> tuple[DataMigrationRef, ...]:
    """Find `data_migration("name", estimate="m:f", run="m:f")` calls with literal arguments in a file."""
    try:
        tree = ast.parse(Path(path).read_text())
    except (OSError, SyntaxError):
        return ()
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


def _declaration(module: object, name: str) -> bool | None:
    value = getattr(module, name, None)
    return value if isinstance(value, bool) else None


@dataclass
class Graph:
    """The loaded revision graph of every component."""

    script: ScriptDirectory
    dirs: dict[str, Path]
    revisions: dict[str, RevisionInfo] = field(default_factory=dict)

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


def _component_for(script: Script, dirs: dict[Path, str]) -> str:
    folder = Path(script.path).resolve().parent
    if folder in dirs:
        return dirs[folder]
    raise ConfigError(
        f"revision {script.revision} ({script.path}) is outside every component's version directory",
        hint="move it into versions/<component>/",
    )


def load_graph(dirs: dict[str, Path] | None = None) -> Graph:
    """Load every component's tree and check its shape (one base, one head, the base labelled)."""
    dirs = dirs if dirs is not None else component_dirs()
    cfg = alembic_config("postgresql://unused", dirs=dirs)
    try:
        script = ScriptDirectory.from_config(cfg)
        scripts = list(script.walk_revisions("base", "heads"))
    except CommandError as exc:
        raise ConfigError(
            f"the migration trees are inconsistent: {exc}", hint="fix the revision files"
        ) from None
    except Exception as exc:  # a revision file that does not import
        raise ConfigError(
            f"a revision file failed to load: {type(exc).__name__}: {exc}",
            hint="fix the revision file (run with --debug for the traceback); nothing was applied",
        ) from exc
    by_dir = {p.resolve(): name for name, p in dirs.items()}
    graph = Graph(script=script, dirs=dirs)
    for sc in scripts:
        module = sc.module
        graph.revisions[sc.revision] = RevisionInfo(
            component=_component_for(sc, by_dir),
            revision=sc.revision,
            down_revision=_tuple(sc.down_revision),
            message=(sc.doc or "").strip().splitlines()[0] if sc.doc else "",
            path=str(sc.path),
            online_safe=_declaration(module, "online_safe"),
            backward_compatible=_declaration(module, "backward_compatible"),
            forward_compatible=_declaration(module, "forward_compatible"),
            depends_on=_tuple(sc.dependencies),
            data_migrations=_data_migrations(sc.path),
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
        base = graph.script.get_revision(bases[0])
        if base is None or component not in (base._orig_branch_labels or ()):
            raise ConfigError(
                f"the base revision {bases[0]} of component {component!r} lacks its branch label",
                hint=f"set branch_labels = ({component!r},) in {Path(graph.revisions[bases[0]].path).name}",
            )
