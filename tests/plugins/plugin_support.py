"""Install test plugins without pip: a `*.dist-info` with `entry_points.txt` on `sys.path`.

Discovery then goes through `importlib.metadata` entry points for real, as for an installed package.
"""

from __future__ import annotations

import importlib
import sys
from pathlib import Path

import pytest

PLUGINS = Path(__file__).parent
GROUP = "migrata.migrations"


def write_dist(site: Path, dist: str, entry_points: dict[str, str]) -> Path:
    """Write `<dist>-0.1.dist-info` declaring `entry_points` in the group `migrata.migrations`."""
    info = site / f"{dist}-0.1.dist-info"
    info.mkdir(parents=True, exist_ok=True)
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {dist}\nVersion: 0.1\n")
    lines = [f"[{GROUP}]"] + [f"{name} = {value}" for name, value in entry_points.items()]
    (info / "entry_points.txt").write_text("\n".join(lines) + "\n")
    return site


def install(monkeypatch: pytest.MonkeyPatch, site: Path, *extra_paths: Path) -> None:
    """Put `site` (and the packages' directories) on sys.path and forget cached metadata."""
    for path in (*extra_paths, site):
        monkeypatch.syspath_prepend(str(path))
    importlib.invalidate_caches()


def install_demo_plugin(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """Install tests/plugins/migrata_demo_plugin (component `demoplug`); return the site directory."""
    site = write_dist(
        tmp_path / "site", "migrata_demo_plugin", {"demoplug": "migrata_demo_plugin:version_locations"}
    )
    install(monkeypatch, site, PLUGINS)
    return site


def install_lint_fixtures(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """Install tests/plugins/migrata_lint_fixtures (components `linthaz` and `lintsafe`)."""
    site = write_dist(
        tmp_path / "site_lint",
        "migrata_lint_fixtures",
        {"linthaz": "migrata_lint_fixtures:hazards", "lintsafe": "migrata_lint_fixtures:twins"},
    )
    install(monkeypatch, site, PLUGINS)
    return site


def python_path(site: Path) -> str:
    """PYTHONPATH for a subprocess that should see the plugin too."""
    return ":".join([str(site), str(PLUGINS), *sys.path])


def revision_source(
    revision: str,
    down_revision: str | None,
    *,
    upgrade: str,
    downgrade: str,
    component: str | None = None,
    declarations: str = "online_safe = True\nbackward_compatible = True\nforward_compatible = True\n",
    depends_on: str | None = None,
    imports: str = "",
) -> str:
    """The text of a revision file (branch label on the base when `component` is given)."""
    labels = f"({component!r},)" if component else "None"
    body_up = "\n".join("    " + line for line in upgrade.strip().splitlines())
    body_down = "\n".join("    " + line for line in downgrade.strip().splitlines())
    return (
        f'"""{revision}: test revision."""\n\nfrom alembic import op\n{imports}\n'
        f"revision = {revision!r}\ndown_revision = {down_revision!r}\nbranch_labels = {labels}\n"
        f"depends_on = {depends_on!r}\n\n{declarations}\n\n"
        f"def upgrade() -> None:\n{body_up}\n\n\ndef downgrade() -> None:\n{body_down}\n"
    )


def make_tree(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, component: str, files: dict[str, str]) -> Path:
    """Install a plugin whose entry point names a package (module-valued) holding `files` as revisions."""
    site = tmp_path / f"site_{component}"
    package = site / f"{component}_migrations"
    package.mkdir(parents=True)
    (package / "__init__.py").write_text(f'"""Revisions of the test component {component}."""\n')
    for name, text in files.items():
        (package / name).write_text(text)
    write_dist(site, f"{component}_plugin", {component: f"{component}_migrations"})
    monkeypatch.delitem(sys.modules, f"{component}_migrations", raising=False)
    install(monkeypatch, site)
    return package
