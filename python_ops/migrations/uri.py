"""Own what a repository URI means: a Postgres DSN, or `embedded` for the embedded server of the settings.

Every migration function takes a repository URI (seed 003: "a migration is a Python callable given a
repository URI") and resolves it here, once.
"""

from __future__ import annotations

from python_ops.errors import ConfigError


def resolve_uri(repository_uri: str) -> str:
    """Map `embedded` to the embedded server's DSN; any other value is a DSN already."""
    if not repository_uri:
        raise ConfigError("no repository URI given", hint="pass a Postgres DSN or 'embedded'")
    if repository_uri == "embedded":
        from python_ops.engines.control import postgres_dsn
        from python_ops.settings import load_settings

        return postgres_dsn(load_settings())
    import psycopg
    from psycopg.conninfo import conninfo_to_dict

    try:
        conninfo_to_dict(repository_uri)
    except psycopg.Error as exc:
        raise ConfigError(
            f"cannot parse the repository URI: {str(exc).strip()}", hint="use a Postgres DSN or 'embedded'"
        ) from None
    return repository_uri
