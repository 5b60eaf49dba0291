"""The JSON rendering of a plan document: the document itself (schemas/plan.schema.json)."""

from __future__ import annotations

import json
from typing import Any


def render_json(plan: dict[str, Any]) -> str:
    """One JSON object and a newline: all that `plan --format json` prints on stdout."""
    return json.dumps(plan, indent=2, sort_keys=False) + "\n"
