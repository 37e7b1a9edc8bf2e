"""Own where the version trees are: migrata's own components and installed plugins' (no Alembic import).

Each component's tree lives in one directory: migrata's own in `versions/<component>/`, a plugin's where
its entry point in the group `migrata.migrations` says (the entry point's name is the component).
Light verbs (`migrate status`, `history`) read the trees from here without loading Alembic.
"""

from __future__ import annotations

from collections.abc import Iterable
from importlib import metadata
from pathlib import Path
from types import ModuleType

from python_ops.errors import ConfigError

VERSIONS = Path(__file__).parent / "versions"
PLUGIN_GROUP = "migrata.migrations"


def builtin_dirs() -> dict[str, Path]:
    """migrata's own version directories by component name."""
    return {p.name: p for p in sorted(VERSIONS.iterdir()) if p.is_dir() and p.name[0] not in "_."}


def _plugin_locations(name: str, loaded: object) -> list[Path]:
    if isinstance(loaded, ModuleType):
        paths = list(getattr(loaded, "__path__", [])) or [str(Path(loaded.__file__ or ".").parent)]
        return [Path(paths[0])]
    if callable(loaded):
        loaded = loaded()
    if isinstance(loaded, (str, Path)):
        return [Path(loaded)]
    if isinstance(loaded, Iterable):
        return [Path(p) for p in loaded]
    raise ConfigError(
        f"migration plugin {name!r} gave {type(loaded).__name__}, not a directory",
        hint="point the entry point at a package of revisions or a function returning its directory",
    )


def plugin_dirs() -> dict[str, Path]:
    """Version directories of installed plugins (entry-point group `migrata.migrations`) by component."""
    found: dict[str, Path] = {}
    for ep in sorted(metadata.entry_points(group=PLUGIN_GROUP), key=lambda e: e.name):
        try:
            loaded = ep.load()
        except Exception as exc:
            raise ConfigError(
                f"migration plugin {ep.name!r} ({ep.value}) failed to import: {type(exc).__name__}: {exc}",
                hint="fix or uninstall the plugin package; nothing was applied",
            ) from None
        locations = _plugin_locations(ep.name, loaded)
        for i, location in enumerate(locations):
            if not location.is_dir():
                raise ConfigError(
                    f"migration plugin {ep.name!r} points at {location}, which is not a directory",
                    hint="fix the plugin's entry point; nothing was applied",
                )
            found[ep.name if i == 0 else f"{ep.name}_{i}"] = location
    return found


def component_dirs() -> dict[str, Path]:
    """Every component's version directory: migrata's own, then plugins' (a plugin cannot shadow ours)."""
    dirs = builtin_dirs()
    for name, path in plugin_dirs().items():
        if name in dirs:
            raise ConfigError(
                f"migration plugin {name!r} uses the name of a built-in component",
                hint="rename the plugin's entry point",
            )
        dirs[name] = path
    return dirs
