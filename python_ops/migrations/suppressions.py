"""Own lint suppressions: explicit, per revision and rule, each with its reason.

A new revision states its own in a module-level `lint_suppressions = {"rule": "reason"}`. Applied
revisions are never edited, so theirs live beside them in the component's version directory, in
`lint.toml`: one table per revision, `rule = "reason"`. A suppression naming an unknown revision, an
empty reason, or a rule of neither migrata nor squawk is a ConfigError; one that matched nothing is
reported by lint, so the registry cannot rot silently.
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass
from pathlib import Path

from python_ops.errors import ConfigError
from python_ops.migrations.graph import Graph
from python_ops.migrations.lockrules import RULES

REGISTRY = "lint.toml"
_SQUAWK_NAME = re.compile(r"^[a-z]+(-[a-z0-9]+)+$")  # squawk's rule names: kebab-case


@dataclass(frozen=True)
class Suppression:
    """Lint's finding `rule` on `revision` is accepted, for `reason`; `source` says where it is written."""

    revision: str
    rule: str
    reason: str
    source: str


def _check(revision: str, rule: object, reason: object, source: str) -> Suppression:
    if not isinstance(rule, str) or (rule not in RULES and not _SQUAWK_NAME.match(rule)):
        raise ConfigError(
            f"{source}: suppression of {revision} names an unknown rule {rule!r}",
            hint=f"use one of {', '.join(RULES)} or a squawk rule name",
        )
    if not isinstance(reason, str) or not reason.strip():
        raise ConfigError(
            f"{source}: suppression of rule {rule} on {revision} has no reason",
            hint="say why the finding is safe here; a suppression without a reason is not accepted",
        )
    return Suppression(revision, rule, " ".join(reason.split()), source)


def load(graph: Graph) -> dict[tuple[str, str], Suppression]:
    """Every suppression: each component's `lint.toml` and each revision's `lint_suppressions`."""
    found: dict[tuple[str, str], Suppression] = {}
    for component, directory in graph.dirs.items():
        path = Path(directory) / REGISTRY
        if not path.exists():
            continue
        try:
            data = tomllib.loads(path.read_text())
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(
                f"{path} is not valid TOML: {exc}", hint="fix the suppression registry"
            ) from None
        known = {r.revision for r in graph.component_revisions(component)}
        for revision, rules in data.items():
            if revision not in known or not isinstance(rules, dict):
                raise ConfigError(
                    f"{path}: [{revision}] is not a revision of component {component!r}",
                    hint=f"its revisions: {', '.join(sorted(known))}",
                )
            for rule, reason in rules.items():
                found[(revision, rule)] = _check(revision, rule, reason, str(path))
    for revision in graph.revisions:
        module = graph.script.get_revision(revision).module  # type: ignore[union-attr]
        inline = getattr(module, "lint_suppressions", None)
        if inline is None:
            continue
        source = Path(graph.revisions[revision].path).name
        if not isinstance(inline, dict):
            raise ConfigError(
                f"{source}: lint_suppressions is not a dict",
                hint='write lint_suppressions = {"rule": "reason"}',
            )
        for rule, reason in inline.items():
            found[(revision, rule)] = _check(revision, rule, reason, source)
    return found
