"""The demo: `python -m migrata_samples.demo` (what `make demo` runs). One module per capability."""
