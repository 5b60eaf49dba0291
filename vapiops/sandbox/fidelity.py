"""Real-API behaviours the sandbox adds on request: secrets masked in responses, version pins.

Both come from the registry (`kinds.is_secret_path`, `Kind.pinned_by`); nothing here names a kind.
"""

from __future__ import annotations

from typing import Any

from vapiops import paths
from vapiops.kinds import KINDS, Kind, is_secret_path

MASK = "****"


def masked(value: Any, at: paths.Path = ()) -> Any:
    """A copy of value with every string at a known secret field shown as the real API shows it."""
    if at and is_secret_path(at) and isinstance(value, str):
        return MASK
    if isinstance(value, dict):
        return {k: masked(v, at + (k,)) for k, v in value.items()}
    if isinstance(value, list):
        return [masked(v, at + (i,)) for i, v in enumerate(value)]
    return value


def pins(kind: Kind, obj_id: str, objects_of: Any) -> tuple[str, list[str]] | None:
    """(error code, ids of the objects pinning it) when something pins obj_id, else None.

    objects_of(kind name) -> the org's stored objects of that kind.
    """
    for pin in kind.pinned_by:
        holders = [
            str(o.get("id"))
            for o in objects_of(KINDS[pin.by].name)
            if any(value == obj_id for _, value in paths.find(o, pin.pattern))
        ]
        if holders:
            return pin.error, holders
    return None
