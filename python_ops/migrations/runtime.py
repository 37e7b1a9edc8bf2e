"""Own what a revision can ask while it runs: the placeholders (`--set k=v`) and the repository's DSN.

`migrata migrate upgrade --set chunk_size=50000` puts `chunk_size=50000` both into Alembic's
x-arguments (`context.get_x_argument(as_dictionary=True)`) and into the config's attributes; a revision
reads them with `placeholders()` (strings, as typed).
"""

from __future__ import annotations

from typing import Any

from python_ops.errors import MigrataError


def _context() -> Any:
    """Alembic's environment context, or None outside a migration run."""
    from alembic import context

    try:
        return context.config  # the proxy is only installed while an environment runs
    except (NameError, AttributeError):
        return None


def in_migration() -> bool:
    """Whether the caller runs inside a migration (an Alembic environment is active)."""
    return _context() is not None


def placeholders() -> dict[str, str]:
    """Placeholders of the running migration (`--set k=v` / `migrate(uri, k=v)`); empty outside a run."""
    config = _context()
    if config is None:
        return {}
    values: dict[str, str] = {}
    if config.cmd_opts is not None and getattr(config.cmd_opts, "x", None):
        for item in config.cmd_opts.x:
            key, _, value = item.partition("=")
            values[key] = value
    values.update({k: str(v) for k, v in config.attributes.get("placeholders", {}).items()})
    return values


def placeholder(name: str, default: Any = None) -> Any:
    """One placeholder, converted to the type of `default` when one is given."""
    value = placeholders().get(name)
    if value is None:
        return default
    from python_ops.migrations import params

    if name in params.RULES:  # migrata's own: the same parse and bounds as at the entry points
        return params.parse(name, value)
    if isinstance(default, bool):
        return value.lower() in ("1", "true", "yes", "on")
    if isinstance(default, int):
        try:
            return int(value)
        except ValueError:
            from python_ops.errors import ConfigError

            raise ConfigError(
                f"placeholder {name}={value!r} is not an integer", hint=f"pass e.g. --set {name}={default}"
            ) from None
    return value


class OfflineRender(MigrataError):
    """A revision asked for something only a live run has (its own connection); lint cannot see it."""


def rendering() -> bool:
    """Whether the revision is being rendered to SQL (`migrate lint`) rather than run."""
    from alembic import op

    try:
        return bool(op.get_context().as_sql)
    except (NameError, AttributeError):
        return False


def note(text: str) -> None:
    """Tell the renderer something its SQL does not show (e.g. a data migration run on its own)."""
    notes = attribute("render_notes")
    if notes is not None:
        notes.append(text)


def repository_dsn() -> str:
    """The libpq DSN of the repository being migrated (never printed: it may hold a password)."""
    config = _context()
    if config is None:
        raise RuntimeError("repository_dsn() is only available while a migration runs")
    if rendering():
        raise OfflineRender(
            "the revision runs Python on its own connection (repository_dsn()), so its SQL is not rendered",
            hint="review it by hand, or suppress rule 'opaque' for it with the reason it is safe",
        )
    dsn = config.attributes.get("dsn")
    if dsn:
        return str(dsn)
    from alembic import op

    url = op.get_bind().engine.url.set(drivername="postgresql")
    return url.render_as_string(hide_password=False)


def attribute(name: str, default: Any = None) -> Any:
    """A value the API handed to the run (progress callback, collected warnings)."""
    config = _context()
    if config is None:
        return default
    return config.attributes.get(name, default)
