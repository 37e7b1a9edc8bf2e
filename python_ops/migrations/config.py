"""Own the Alembic configuration: where the version trees are and how a repository URI maps to a URL.

Each component's tree lives in one directory: migrata's own in `versions/<component>/`, a plugin's where
its entry point in the group `migrata.migrations` says (the entry point's name is the component). The
base revision of a tree carries `branch_labels=("<component>",)`, so `<component>@head` names its head.
"""

from __future__ import annotations

import os
from argparse import Namespace
from collections.abc import Iterable
from importlib import metadata
from pathlib import Path
from types import ModuleType

from alembic.config import Config
from sqlalchemy.engine import URL, make_url

from python_ops.errors import ConfigError

HERE = Path(__file__).parent
VERSIONS = HERE / "versions"
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


def sqlalchemy_url(dsn: str) -> URL:
    """Turn a libpq DSN (URI or key=value) into a SQLAlchemy URL for the psycopg 3 driver."""
    from psycopg.conninfo import conninfo_to_dict

    try:
        if "://" in dsn:
            url = make_url(dsn)
            return url.set(drivername="postgresql+psycopg")
        parts = conninfo_to_dict(dsn)
    except Exception as exc:
        raise ConfigError(
            f"cannot parse the repository URI: {exc}", hint="use a Postgres DSN or 'embedded'"
        ) from None
    return URL.create(
        "postgresql+psycopg",
        username=parts.get("user"),
        password=parts.get("password"),
        host=parts.get("host"),
        port=int(parts["port"]) if parts.get("port") else None,
        database=parts.get("dbname"),
    )


def alembic_config(
    dsn: str,
    *,
    placeholders: dict[str, str] | None = None,
    dirs: dict[str, Path] | None = None,
) -> Config:
    """Build the Alembic Config for `dsn` with every component's version directory.

    Placeholders become x-arguments (`context.get_x_argument(as_dictionary=True)`) and config attributes.
    """
    values = {k: str(v) for k, v in (placeholders or {}).items()}
    cfg = Config(cmd_opts=Namespace(x=[f"{k}={v}" for k, v in values.items()]))
    cfg.set_main_option("script_location", str(HERE))
    locations = [str(p) for p in (dirs if dirs is not None else component_dirs()).values()]
    cfg.set_main_option("version_locations", os.pathsep.join(locations))
    cfg.set_main_option("path_separator", "os")
    cfg.attributes["dsn"] = dsn
    cfg.attributes["placeholders"] = values
    return cfg
