"""Own the placeholders migrata itself reads (`--set k=v`): their types and bounds, checked once, up front.

`chunk_size`, `heavy_threshold` and `heavy` reach data migrations and revisions; `max_rows_per_second`
and `max_replication_lag_s` pace `run-pending`. Every entry point (`migrate`, `downgrade`, `run_pending`,
the CLI, Dagster) validates them here before it takes a lock or writes anything, so a bad value is one
`ConfigError` (exit 2) naming the placeholder, and 0 never silently means "the default". Placeholders
a revision defines for itself pass through as strings.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from python_ops.errors import ConfigError


@dataclass(frozen=True)
class Rule:
    """How one known placeholder is parsed and bounded."""

    kind: type  # int, float or str
    minimum: float | None = None
    exclusive_min: bool = False
    choices: tuple[str, ...] = ()
    example: str = ""

    def describe(self) -> str:
        if self.choices:
            return f"one of {', '.join(self.choices)}"
        noun = "an integer" if self.kind is int else "a number"
        if self.minimum is None:
            return noun
        bound = ">" if self.exclusive_min else ">="
        return f"{noun} {bound} {self.minimum:g}"


RULES: dict[str, Rule] = {
    "chunk_size": Rule(int, 1, example="50000"),
    "heavy_threshold": Rule(int, 0, example="100000"),
    "heavy": Rule(str, choices=("auto", "now", "defer"), example="now"),
    "max_rows_per_second": Rule(float, 0, exclusive_min=True, example="10000"),
    "max_replication_lag_s": Rule(float, 0, exclusive_min=True, example="5"),
}


def parse(name: str, value: Any) -> Any:
    """Parse `value` of the known placeholder `name`; a bad value is a ConfigError naming it."""
    rule = RULES[name]
    text = str(value).strip()
    try:
        if rule.choices:
            if text not in rule.choices:
                raise ValueError
            return text
        if isinstance(value, bool):
            raise ValueError
        parsed: float = int(text) if rule.kind is int else float(text)
        if parsed != parsed or parsed in (float("inf"), float("-inf")):  # nan / inf
            raise ValueError
    except ValueError:
        raise _bad(name, value, rule) from None
    if rule.minimum is not None and (
        parsed < rule.minimum or (rule.exclusive_min and parsed == rule.minimum)
    ):
        raise _bad(name, value, rule)
    return parsed


def _bad(name: str, value: Any, rule: Rule) -> ConfigError:
    return ConfigError(
        f"placeholder {name}={str(value)!r} is not {rule.describe()}",
        hint=f"pass e.g. --set {name}={rule.example}; nothing was changed",
    )


def validate(values: Mapping[str, Any], *, allowed: tuple[str, ...] | None = None) -> dict[str, Any]:
    """Check every known placeholder in `values`; return them parsed (unknown ones as strings).

    With `allowed`, any other name is refused too (a verb that reads only some placeholders).
    """
    checked: dict[str, Any] = {}
    for name, value in values.items():
        if allowed is not None and name not in allowed:
            raise ConfigError(
                f"placeholder {name!r} means nothing here",
                hint=f"this command reads only {', '.join(allowed)}; nothing was changed",
            )
        checked[name] = parse(name, value) if name in RULES else str(value)
    return checked
