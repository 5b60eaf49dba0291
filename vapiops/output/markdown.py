"""The markdown rendering of a plan document: one pull-request comment, under GitHub's size limit."""

from __future__ import annotations

import html
import re
from typing import Any

from vapiops.output.text import NO_CHANGES, drift_counts, no_changes_line, plan_counts, refactor_lines
from vapiops.output.values import SYMBOL, Lines, declared_lines, display_fields, field_view

TABLE_SHARE = 1 / 3  # most of a markdown comment a summary table that must be cut may take
_MORE_NOTE = (
    "_{n} more resources not shown (plan too large for one comment); "
    "run `vapiops plan` locally for the full plan._\n"
)


def render_markdown(plan: dict[str, Any], *, limit: int = 65_000) -> str:
    """A pull-request comment: summary table, then one collapsible diff per resource, in `limit` characters.

    When everything does not fit, the whole table is kept if it leaves room for at least the first
    section; a table that must be cut anyway is cut to TABLE_SHARE of the limit (with a "… N more" row),
    so that sections still fill the rest. As many whole sections as fit follow in order, and a note says
    how many were left out. Cuts happen only between blocks, so every fence and <details> stays balanced.
    """
    title = "drift report" if plan["refresh_only"] else "plan"
    head = f"### vapiops {title} — {_code_span(plan['environment'])}\n\n"
    warnings = _markdown_warnings(plan["warnings"], limit // 4)
    # Drift first (what happened outside vapiops), then what apply will do.
    entries = [(c, True) for c in plan["drift"]] + [(c, False) for c in plan["changes"]]
    refactors = "".join(f"- {_code_span(line)}\n" for line in refactor_lines(plan))
    if refactors:  # moves and imports: recorded in state, no API call
        refactors = "Recorded in state, no API call:\n\n" + refactors + "\n"
    if not entries and refactors:
        return head + f"**Plan:** {plan_counts(plan)}.\n\n" + refactors + warnings
    if not entries:
        return (
            head
            + f"**{no_changes_line(plan).replace(NO_CHANGES, NO_CHANGES + '**', 1)}\n"
            + ("\n" + warnings.rstrip("\n") + "\n" if warnings else "")
        )
    lines = []
    if plan["drift"]:
        lines.append(f"**Drift:** {drift_counts(plan)}.")
    if plan["changes"] or refactors:
        s = plan["summary"]
        summary = f"**Plan:** {plan_counts(plan)}."
        if s["replace"]:
            summary = summary[:-1] + f" ({s['replace']} replaced)."
        lines.append(summary)
    head += "\n".join(lines) + "\n\n" + refactors + warnings

    table_head = "| Action | Resource | Fields changed |\n|---|---|---|\n"
    rows = [_table_row(change, drift) for change, drift in entries]
    sections = [_section(change, drift) for change, drift in entries]
    whole = head + table_head + "".join(rows) + "\n" + "".join(sections)
    if len(whole) <= limit:
        return whole

    # What the table and the sections share: everything but the heading, the table's header, the blank
    # line after the table and the longest note.
    budget = limit - len(head) - len(table_head) - 1 - len(_MORE_NOTE.format(n=len(entries)))
    if sum(len(row) for row in rows) + len(sections[0]) <= budget:
        kept_rows = rows  # a complete list of what changes is worth more to a reviewer than more sections
    else:
        # A 2,000-row table alone is longer than a comment: left uncapped it would crowd out every section.
        table_budget = min(budget, int(limit * TABLE_SHARE) - len(table_head)) - len(_more_row(len(rows)))
        kept_rows = []
        for row in rows:
            if len(row) > table_budget:
                break
            kept_rows.append(row)
            table_budget -= len(row)
    table = table_head + "".join(kept_rows)
    if len(kept_rows) < len(rows):
        table += _more_row(len(rows) - len(kept_rows))
    budget -= len(table) - len(table_head)
    kept_sections: list[str] = []
    for section in sections:
        if len(section) > budget:
            break  # keep order: the table lists every resource, sections show a prefix of it
        kept_sections.append(section)
        budget -= len(section)
    out = head + table + "\n" + "".join(kept_sections)
    if len(kept_sections) < len(sections):
        out += _MORE_NOTE.format(n=len(sections) - len(kept_sections))
    return out


def _code_span(text: str) -> str:
    """Inline code that survives backticks inside the text."""
    longest = max((len(run) for run in re.findall(r"`+", text)), default=0)
    ticks = "`" * (longest + 1)
    pad = " " if longest else ""
    return f"{ticks}{pad}{text}{pad}{ticks}"


def _html_code(text: str) -> str:
    # `|` would end a table cell even inside <code>.
    return "<code>" + html.escape(text).replace("|", "&#124;") + "</code>"


def _markdown_warnings(warnings: list[str], budget: int) -> str:
    out = ""
    for shown, warning in enumerate(warnings):
        # Warnings are plain text: escape what could open HTML and swallow the rest of the comment.
        text = html.escape(warning, quote=False).replace("\n", "\n> ")
        block = f"> **Warning:** {text}\n\n"  # the blank line keeps each warning its own quote
        if len(out) + len(block) > budget:
            return (
                out + f"> _…and {len(warnings) - shown} more warnings; run `vapiops plan` to see them._\n\n"
            )
        out += block
    return out


def _table_row(change: dict[str, Any], drift: bool) -> str:
    action = change["action"]
    label = f"{action}d outside" if drift else action  # updated / deleted outside vapiops
    paths = [field["path"] for field in change["fields"]] if action != "delete" else []
    shown = ", ".join(_html_code(p) for p in paths[:3])
    if len(paths) > 3:
        shown += f" and {len(paths) - 3} more"
    return f"| {SYMBOL[action]} {label} | {_html_code(change['address'])} | {shown or '—'} |\n"


def _more_row(n: int) -> str:
    return f"| … | _{n} more resources_ | |\n"


def _section(change: dict[str, Any], drift: bool) -> str:
    action = change["action"]
    if drift:
        label = change["reason"] or "drifted"
    else:
        label = f"{action}: {change['reason']}" if change["reason"] else action
    body = "\n".join(_diff_body(change))
    longest = max((len(run) for run in re.findall(r"`+", body)), default=0)
    fence = "`" * max(3, longest + 1)  # longer than any backtick run inside, so the fence cannot close early
    return (
        f"<details><summary>{SYMBOL[action]} {_html_code(change['address'])} ({html.escape(label)})</summary>\n\n"
        f"{fence}diff\n{body}\n{fence}\n\n</details>\n\n"
    )


def _diff_body(change: dict[str, Any]) -> list[str]:
    action = change["action"]
    if action in ("create", "delete"):
        mark = "+" if action == "create" else "-"
        lines = declared_lines(change, head=mark, block=f"{mark}  ")
        if not lines and action == "delete":
            lines.append(f"-{change['address']}" + (f" (id {change['id']})" if change["id"] else ""))
        return lines or [f" {change['reason'] or 'no field details'}"]
    lines = []
    for field in display_fields(change):
        lines.append(f"@@ {field['path']} @@")
        view = field_view(field)
        if isinstance(view, Lines):
            lines += view.lines
        else:
            lines += [f"-{view.before}"] if view.before is not None else []
            lines += [f"+{view.after}"] if view.after is not None else []
    return lines or [f" {change['reason'] or 'no field details'}"]
