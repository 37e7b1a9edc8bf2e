"""Own the Alembic configuration: the version trees (from `trees`) and how a repository URI maps to a URL.

The base revision of a tree carries `branch_labels=("<component>",)`, so `<component>@head` names its head.
"""

from __future__ import annotations

import os
from argparse import Namespace
from pathlib import Path

from alembic.config import Config
from sqlalchemy.engine import URL, make_url

from python_ops.errors import ConfigError
from python_ops.migrations.trees import component_dirs

HERE = Path(__file__).parent


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
