"""Every module of the samples and the demo imports: `make demo` is not in `make test`, so an API the
demo uses that moves must fail here first."""

from __future__ import annotations

import importlib
import pkgutil

import migrata_samples


def test_every_sample_and_demo_module_imports() -> None:
    names = [m.name for m in pkgutil.walk_packages(migrata_samples.__path__, "migrata_samples.")]
    assert "migrata_samples.demo.migrations" in names
    for name in names:
        if name.endswith("__main__"):
            continue  # runs the demo
        importlib.import_module(name)
