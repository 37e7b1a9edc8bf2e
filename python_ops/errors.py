"""Own the error types every layer raises for a user to read.

A `MigrataError` carries one sentence naming the object and what went wrong, plus a hint saying
what to do. The CLI prints both and exits non-zero; Dagster shows them as the failure message.
"""

from __future__ import annotations


class MigrataError(Exception):
    """A failure a user can act on. `exit_code` 1 means a step or check failed."""

    exit_code = 1

    def __init__(self, message: str, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        return f"{self.message} ({self.hint})" if self.hint else self.message


class ConfigError(MigrataError):
    """A configuration value is unusable (bad DSN, port in use, unwritable directory)."""

    exit_code = 2


class PreconditionError(MigrataError):
    """The state found is not the state the operation expects; nothing was changed."""

    exit_code = 2


class EngineError(MigrataError):
    """An engine (Postgres or ClickHouse) could not be started, reached or stopped."""


class VerificationError(MigrataError):
    """A copy did not match its source by count or checksum; nothing was deleted or overwritten."""
