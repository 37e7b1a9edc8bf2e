"""Own the sample events: Marquez's food_delivery pipeline from ../shared, placeholders filled."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from python_ops.errors import ConfigError

_PLACEHOLDER = re.compile(r"\{\{(RUN_START_TIME|RUN_END_TIME_AFTER_(\d+)_MINUTES)\}\}")


def default_template() -> Path:
    """`../shared/data/openlineage/food_delivery.template.json` beside the repository."""
    return Path(__file__).resolve().parents[2] / "shared/data/openlineage/food_delivery.template.json"


def food_delivery_events(
    template: Path | None = None, *, start: datetime | None = None
) -> list[dict[str, Any]]:
    """Return the template's events with `{{RUN_START_TIME}}` = `start` and end times minutes after it."""
    path = template or default_template()
    try:
        text = path.read_text()
    except FileNotFoundError:
        raise ConfigError(
            f"the OpenLineage template {path} does not exist",
            hint="clone the repository with ../shared beside it, or pass the template's path",
        ) from None
    # default: today's midnight (UTC), so loading the sample again the same day adds nothing
    begin = (start or datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)).astimezone(UTC)

    def fill(match: re.Match[str]) -> str:
        minutes = int(match.group(2)) if match.group(2) else 0
        return (begin + timedelta(minutes=minutes)).isoformat().replace("+00:00", "Z")

    return json.loads(_PLACEHOLDER.sub(fill, text))
