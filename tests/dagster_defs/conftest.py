"""The Dagster tests build months of 2026: the monthly partitions start there whatever the date, so the
definitions (imported once per test process) do not depend on which store a discovery would see."""

import os

os.environ.setdefault("MIGRATA_DAGSTER__PARTITIONS_START", "2025-01")
