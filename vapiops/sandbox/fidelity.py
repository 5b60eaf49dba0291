"""Real-API behaviours beyond the published spec: secrets masked in responses, version pins, server rules.

All come from the registry (`kinds.is_secret_path`, `Kind.pinned_by`, `Kind.server_rules`); nothing
here names a kind.
"""

from __future__ import annotations

from typing import Any

from vapiops import paths
from vapiops.capabilities import ServerRule
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


def rule_problems(kind: Kind, body: Any) -> list[str]:
    """The 400 messages for every server rule of kind that body breaks, worded as class-validator words
    a bound ("silenceTimeoutSeconds must not be less than 10")."""
    return [problem for rule in kind.server_rules for problem in _broken(rule, body)]


def _broken(rule: ServerRule, body: Any) -> list[str]:
    if rule.check == "minimum":
        return [
            f"{paths.format_path(at)} must not be less than {rule.bound:g}"
            for at, value in paths.find(body, rule.pattern)
            if _number(value) and value < rule.bound
        ]
    pattern = paths.parse_path(rule.pattern)
    problems = []
    for at, group in paths.find(body, rule.scope):
        if not isinstance(group, dict) or pattern[0] not in group:
            continue  # not sent: nothing to judge
        total = sum(value for _, value in paths.find(group, pattern) if _number(value))
        if abs(total - rule.bound) > 1e-9:
            where = paths.format_path((*at, pattern[0]))
            problems.append(
                f"{where}: the points of all conditions must sum to {rule.bound:g} (they sum to {total:g})"
            )
    return problems


def _number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)
