"""migrata's operations: plain Python, no Dagster. One subpackage per capability plus shared pieces."""

__version__ = "0.1.0"
