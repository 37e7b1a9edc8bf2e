"""Own running squawk (the `squawk-cli` package's binary) over rendered revisions and reading its findings.

All revisions go to one squawk process, one file per revision named after it, with `--reporter json`;
each finding comes back with its rule name, its 0-based line in that file and squawk's message.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

from python_ops.errors import ConfigError, MigrataError


@dataclass(frozen=True)
class Violation:
    """One squawk finding: which revision, which line of its rendered script, which rule, what it says."""

    revision: str
    line: int  # 0-based
    rule: str
    message: str
    help: str | None = None


def binary() -> str:
    """The squawk executable of this environment (the wheel puts it beside the interpreter)."""
    beside = Path(sys.executable).with_name("squawk")
    if beside.exists():
        return str(beside)
    found = shutil.which("squawk")
    if found is None:
        raise ConfigError(
            "squawk is not installed, so `migrate lint` cannot run its rules",
            hint="pip install squawk-cli (a dependency of migrata)",
        )
    return found


def run(scripts: dict[str, str], *, pg_version: str | None = None) -> list[Violation]:
    """Run squawk once over `scripts` (revision → SQL); return every finding."""
    if not scripts:
        return []
    with tempfile.TemporaryDirectory(prefix="migrata-lint-") as tmp:
        paths = []
        for revision, text in scripts.items():
            path = Path(tmp) / f"{revision}.sql"
            path.write_text(text)
            paths.append(str(path))
        args = [binary(), "--reporter", "json", *(["--pg-version", pg_version] if pg_version else []), *paths]
        done = subprocess.run(args, capture_output=True, text=True, timeout=120, check=False)
    if done.returncode not in (0, 1) or not done.stdout.strip().startswith("["):
        reason = (done.stderr.strip() or done.stdout.strip() or f"exit {done.returncode}").splitlines()[0]
        raise MigrataError(
            f"squawk failed: {reason}", hint="run with --debug, or check the squawk-cli install"
        )
    return [
        Violation(
            Path(item["file"]).stem, int(item["line"]), item["rule_name"], item["message"], item.get("help")
        )
        for item in json.loads(done.stdout)
    ]
