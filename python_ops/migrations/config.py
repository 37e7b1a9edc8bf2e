"""Own the Alembic configuration: where the version trees are and how a repository URI maps to a URL.

Each component's tree lives in `versions/<component>/` and its base revision carries
`branch_labels=("<component>",)`, so `<component>@head` names that tree's head.
"""

from __future__ import annotations

from pathlib import Path

from alembic.config import Config
from psycopg.conninfo import conninfo_to_dict
from sqlalchemy.engine import URL, make_url

from python_ops.errors import ConfigError

HERE = Path(__file__).parent
VERSIONS = HERE / "versions"


def component_dirs() -> dict[str, Path]:
    """Version directories by component name: migrata's own."""
    return {p.name: p for p in sorted(VERSIONS.iterdir()) if p.is_dir() and not p.name.startswith("_")}


def sqlalchemy_url(dsn: str) -> URL:
    """Turn a libpq DSN (URI or key=value) into a SQLAlchemy URL for the psycopg 3 driver."""
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


def alembic_config(dsn: str, *, placeholders: dict[str, str] | None = None) -> Config:
    """Build the Alembic Config for `dsn` with every component's version directory."""
    cfg = Config()
    cfg.set_main_option("script_location", str(HERE))
    dirs = [str(p) for p in component_dirs().values()]
    cfg.set_main_option("version_locations", " ".join(dirs))
    cfg.set_main_option("path_separator", "space")
    cfg.attributes["dsn"] = dsn
    cfg.attributes["placeholders"] = dict(placeholders or {})
    return cfg
