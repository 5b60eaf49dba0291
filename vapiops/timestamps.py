"""Timestamps as Vapi writes them (ISO 8601 UTC, milliseconds, 'Z'), and how far clocks may disagree."""

from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone
from typing import Any

# Looking for an object a POST may have created compares our clock (taken before sending) with
# Vapi's (createdAt). Small on purpose: an object created before our POST (less this much, for the
# server's clock lagging ours) is somebody's look-alike, and a wider window would let it be adopted.
CLOCK_SKEW = timedelta(seconds=5)

_FRACTION = re.compile(r"\.(\d+)")


def now_iso() -> str:
    """Now, e.g. 2026-05-01T12:00:00.123Z."""
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def parse_time(value: Any) -> datetime | None:
    """An ISO 8601 timestamp as an aware datetime (naive means UTC); None when it is not one."""
    if not isinstance(value, str):
        return None
    text = value.strip()
    if text[-1:] in ("Z", "z"):
        text = text[:-1] + "+00:00"
    # Python 3.10's fromisoformat takes only 3 or 6 fraction digits.
    text = _FRACTION.sub(lambda m: "." + m.group(1)[:6].ljust(6, "0"), text, count=1)
    try:
        when = datetime.fromisoformat(text)
    except ValueError:
        return None
    return when if when.tzinfo else when.replace(tzinfo=timezone.utc)
