"""Own the shared plan → run → verify → report runner and its types."""

from python_ops.runner.core import LogProgress, Operation, ProgressCallback, execute
from python_ops.runner.models import Batch, Check, Plan, Progress, Report, Step

__all__ = [
    "Batch",
    "Check",
    "LogProgress",
    "Operation",
    "Plan",
    "Progress",
    "ProgressCallback",
    "Report",
    "Step",
    "execute",
]
