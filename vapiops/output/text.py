"""The Terraform-like text rendering of a plan document, for a terminal."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from vapiops.output.values import (
    ACTION_COLOR,
    BOLD,
    COMMENT,
    SYMBOL,
    YELLOW,
    compact,
    declared_lines,
    display_fields,
    field_lines,
    painter,
)

NO_CHANGES = "No changes."
NO_CHANGES_DETAIL = "Your Vapi configuration matches the manifests."
NO_DRIFT_DETAIL = "The live objects match what was last applied."


def drift_counts(plan: dict[str, Any]) -> str:
    """'N changed, M deleted outside vapiops': the drift summary every format ends with."""
    deleted = sum(1 for c in plan["drift"] if c["action"] == "delete")
    return f"{len(plan['drift']) - deleted} changed, {deleted} deleted outside vapiops"


def refactor_lines(plan: dict[str, Any]) -> list[str]:
    """One line per `moved:`/`import:` entry the plan records in state (plan files of older versions have none)."""
    lines = [f"{m['from']} has moved to {m['to']} (id {m['id']})" for m in plan.get("moved", [])]
    lines += [
        f"{i['address']} will be imported: the live object found by {i['by']} (id {i['id']})"
        for i in plan.get("imported", [])
    ]
    return lines


def plan_counts(plan: dict[str, Any]) -> str:
    """'N to add, N to change, N to destroy[, N moved][, N imported]'."""
    s = plan["summary"]
    text = f"{s['add']} to add, {s['change']} to change, {s['destroy']} to destroy"
    for key, word in (("moved", "moved"), ("imported", "imported")):
        if plan.get(key):
            text += f", {len(plan[key])} {word}"
    return text


def no_changes_line(plan: dict[str, Any]) -> str:
    return f"{NO_CHANGES} {NO_DRIFT_DETAIL if plan['refresh_only'] else NO_CHANGES_DETAIL}"


def header_comment(change: dict[str, Any], drift: bool = False) -> str:
    """What happens (or, for drift, what happened) to a resource, with the reason."""
    if drift:  # a report of what already happened: the reason ("changed outside vapiops") says it
        return f"{change['address']} {change['reason'] or 'has drifted'}"
    text = f"{change['address']} {COMMENT[change['action']]}"
    return f"{text}: {change['reason']}" if change["reason"] else text


def render_text(plan: dict[str, Any], *, color: bool = False) -> str:
    """Terraform-like plan for a terminal; ANSI colour only when `color` is true.

    Drift (what changed on the server since the last apply) comes first and is worded as
    something that happened; the changes follow as what vapiops will do. The last line is never
    coloured, so scripts can match `Plan: …` / `Drift: …` / `No changes.` either way.
    """
    paint = painter(color)
    env = compact(plan["environment"])
    out: list[str] = []
    sections = (
        ("drift", f"Objects have changed outside vapiops in environment {env} since the last apply:"),
        ("changes", f"vapiops will perform the following actions in environment {env}:"),
    )
    refactors = refactor_lines(plan)
    if refactors:
        out += [f"vapiops will record these refactors in the state of environment {env} (no API call):", ""]
        out += [f"  # {line}" for line in refactors] + [""]
    for key, intro in sections:
        if plan[key]:
            out += [intro, ""]
            for change in plan[key]:
                out += _text_change(change, paint, drift=key == "drift")
                out.append("")
    if plan.get("lookups"):
        # Data, not changes: what each `lookup:` document found (Terraform's data sources).
        out += ["Looked up (never written):"]
        out += [f"  {item['address']} = {item['id']}" for item in plan["lookups"]]
        out.append("")
    for warning in plan["warnings"]:
        out += [f"{paint('Warning:', BOLD + ';' + YELLOW)} {warning}", ""]
    if plan["changes"] or refactors:
        out.append(f"Plan: {plan_counts(plan)}.")
    elif plan["drift"]:
        out.append(f"Drift: {drift_counts(plan)}.")
    else:
        out.append(no_changes_line(plan))
    return "\n".join(out) + "\n"


def _text_change(change: dict[str, Any], paint: Callable[[str, str], str], drift: bool = False) -> list[str]:
    action = change["action"]
    # Pad before painting: escape codes would count towards the width.
    symbol = " " * (3 - len(SYMBOL[action])) + paint(SYMBOL[action], ACTION_COLOR[action])
    ident = f" (id {change['id']})" if change["id"] else ""
    lines = [f"  # {header_comment(change, drift)}", f"{symbol} {change['address']}{ident}"]
    if action in ("create", "delete"):
        return lines + declared_lines(change, head="      ", block="          ")
    for field in display_fields(change):
        lines += field_lines(field, paint, indent="      ")
    return lines
