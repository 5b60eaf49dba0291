"""Render a plan document (Plan.to_dict()) as Terraform-like text, a pull-request markdown comment, or JSON.

All three start from the same dict, so they can never disagree. Renderers are pure: they return a
string and never print. In the dict, a null `before`/`after` means the field is absent on that side
(to_dict turns ABSENT into null; a declared null compares equal to an absent field, so nothing is lost).
"""

from __future__ import annotations

import difflib
import html
import json
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from vapiops.model import SENSITIVE

INLINE_MAX = 100  # longest value shown on one line; longer ones lose their middle to "…"
SHORT_CONTAINER = 60  # an object/array this short stays inline; a longer one gets a pretty line diff
FLATTEN_DEPTH = 4  # how deep a created object is spelled out as dotted paths before it is shown as JSON
DIFF_CONTEXT = 2  # unchanged lines kept around each change in a line diff
CLIP_CONTEXT = 20  # characters kept either side of the change in a long one-line string
TABLE_SHARE = 1 / 3  # most of a markdown comment a summary table that must be cut may take

NO_CHANGES = "No changes."
NO_CHANGES_DETAIL = "Your Vapi configuration matches the manifests."
_MORE_NOTE = (
    "_{n} more resources not shown (plan too large for one comment); "
    "run `vapiops plan` locally for the full plan._\n"
)
_COMMENT = {
    "create": "will be created",
    "update": "will be updated in place",
    "delete": "will be destroyed",
    "replace": "must be replaced",
}
_SYMBOL = {"create": "+", "update": "~", "delete": "-", "replace": "-/+"}

_GREEN, _YELLOW, _RED, _MAGENTA, _CYAN, _BOLD = "32", "33", "31", "35", "36", "1"
_ACTION_COLOR = {"create": _GREEN, "update": _YELLOW, "delete": _RED, "replace": _MAGENTA}
_SIMPLE_KEY = re.compile(r"^[^.\[\]\s\"]+$")
# Prompts are user text: a raw ESC could drive the reader's terminal, so control characters are shown escaped.
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")


def render_json(plan: dict[str, Any]) -> str:
    """The plan document itself (schemas/plan.schema.json): one JSON object and a newline."""
    return json.dumps(plan, indent=2, sort_keys=False) + "\n"


# ---------------------------------------------------------------------------------------------
# Values: shared by text and markdown


@dataclass
class _Inline:
    """A change small enough for one line; None means absent on that side."""

    before: str | None
    after: str | None


@dataclass
class _Lines:
    """A change shown as a unified line diff: "@@ …", " context", "-removed", "+added"."""

    lines: list[str]


def _printable(text: str) -> str:
    return _CONTROL.sub(lambda m: f"\\x{ord(m.group()):02x}", text)


def _clip(text: str, width: int = INLINE_MAX) -> str:
    """Cut the middle out of a long text so both ends stay visible."""
    if len(text) <= width:
        return text
    tail = (width - 1) // 2
    head = width - 1 - tail
    return text[:head] + "…" + text[-tail:]


def _compact(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False)


def _show(value: Any) -> str:
    """One value on one line: compact JSON (strings quoted), except the sensitive marker."""
    if value == SENSITIVE:
        return SENSITIVE
    return _clip(_printable(_compact(value)))


def _is_multiline(value: Any) -> bool:
    # A lone trailing newline (common in include()d files) does not make a string multi-line.
    return isinstance(value, str) and "\n" in value.rstrip("\n")


def _text_lines(value: Any) -> list[str]:
    if value is None:
        return []
    if isinstance(value, str):
        return [_printable(line) for line in value.splitlines()]
    return [_compact(value)]


def _pretty_lines(value: Any) -> list[str]:
    if value is None:
        return []
    return _printable(json.dumps(value, indent=2, sort_keys=True, ensure_ascii=False)).splitlines()


def _line_diff(before: list[str], after: list[str]) -> list[str]:
    lines = list(difflib.unified_diff(before, after, lineterm="", n=DIFF_CONTEXT))
    return lines[2:]  # drop the ---/+++ file headers: the field path is the header


def _around_difference(before: str, after: str) -> tuple[str, str]:
    """Trim the common start and end of two long strings so the part that changed stays visible."""
    limit = min(len(before), len(after))
    start = 0
    while start < limit and before[start] == after[start]:
        start += 1
    end = 0
    while end < limit - start and before[-1 - end] == after[-1 - end]:
        end += 1
    cut_start = max(0, start - CLIP_CONTEXT)
    cut_end = max(0, end - CLIP_CONTEXT)

    def trim(text: str) -> str:
        middle = text[cut_start : len(text) - cut_end]
        return ("…" if cut_start else "") + middle + ("…" if cut_end else "")

    return trim(before), trim(after)


def _field_change(field: dict[str, Any]) -> _Inline | _Lines:
    """How one update/replace field is shown: inline `before -> after`, or a line diff."""
    before, after = field["before"], field["after"]
    if field.get("sensitive"):
        # Never trust the values of a sensitive field: show only whether each side exists.
        return _Inline(None if before is None else SENSITIVE, None if after is None else SENSITIVE)
    if isinstance(before, (dict, list)) or isinstance(after, (dict, list)):
        if all(v is None or len(_compact(v)) <= SHORT_CONTAINER for v in (before, after)):
            return _Inline(None if before is None else _show(before), None if after is None else _show(after))
        lines = _line_diff(_pretty_lines(before), _pretty_lines(after))
        if lines:
            return _Lines(lines)
    elif _is_multiline(before) or _is_multiline(after):
        lines = _line_diff(_text_lines(before), _text_lines(after))
        if lines:  # empty when only line endings differ: fall through to the inline form
            return _Lines(lines)
    if isinstance(before, str) and isinstance(after, str) and max(len(before), len(after)) > INLINE_MAX:
        before, after = _around_difference(before, after)
    return _Inline(None if before is None else _show(before), None if after is None else _show(after))


def _child_path(path: str, key: str | int) -> str:
    if isinstance(key, int):
        return f"{path}[{key}]"
    if _SIMPLE_KEY.match(key):
        return f"{path}.{key}"
    return f"{path}[{_compact(key)}]"


def _declared(path: str, value: Any, depth: int = 0) -> Iterator[tuple[str, str | list[str]]]:
    """A created (or destroyed) value as (dotted path, one-line value or block of lines)."""
    if depth < FLATTEN_DEPTH and isinstance(value, dict) and value:
        for key, child in value.items():
            yield from _declared(_child_path(path, key), child, depth + 1)
    elif (
        depth < FLATTEN_DEPTH and isinstance(value, list) and any(isinstance(v, (dict, list)) for v in value)
    ):
        for index, child in enumerate(value):
            yield from _declared(_child_path(path, index), child, depth + 1)
    elif _is_multiline(value):
        yield path, _text_lines(value)
    else:
        yield path, _show(value)


def _declared_fields(change: dict[str, Any]) -> Iterator[tuple[str, str | list[str]]]:
    """The fields of a create (their new values) or a delete (their old values)."""
    side = "before" if change["action"] == "delete" else "after"
    for field in change["fields"]:
        if field.get("sensitive"):
            yield field["path"], SENSITIVE
        elif field[side] is not None:
            yield from _declared(field["path"], field[side])


def _declared_lines(change: dict[str, Any], *, head: str, block: str) -> list[str]:
    """A created or deleted resource's fields, one `path: value` line each; multi-line text as a block."""
    lines: list[str] = []
    for path, shown in _declared_fields(change):
        if isinstance(shown, list):
            lines.append(f"{head}{path}: |")
            lines += [f"{block}{line}" for line in shown]
        else:
            lines.append(f"{head}{path}: {shown}")
    return lines


def _header_comment(change: dict[str, Any], drift: bool = False) -> str:
    if drift:  # a report of what already happened: the reason ("changed outside vapiops") says it
        return f"{change['address']} {change['reason'] or 'has drifted'}"
    text = f"{change['address']} {_COMMENT[change['action']]}"
    return f"{text}: {change['reason']}" if change["reason"] else text


# ---------------------------------------------------------------------------------------------
# Text


def render_text(plan: dict[str, Any], *, color: bool = False, drift: bool = False) -> str:
    """Terraform-like plan for a terminal; ANSI colour only when `color` is true.

    The last line is never coloured, so scripts can match `Plan: …` / `No changes.` either way.
    `drift` renders a `plan --refresh-only` report: what changed on the server since the last
    apply, worded as something that happened rather than something vapiops will do.
    """

    paint = painter(color)
    out: list[str] = []
    if plan["changes"]:
        intro = (f"Objects have changed outside vapiops in environment {_compact(plan['environment'])} "
                 "since the last apply:") if drift else \
            f"vapiops will perform the following actions in environment {_compact(plan['environment'])}:"
        out += [intro, ""]
        for change in plan["changes"]:
            out += _text_change(change, paint, drift)
            out.append("")
    for warning in plan["warnings"]:
        out += [f"{paint('Warning:', _BOLD + ';' + _YELLOW)} {warning}", ""]
    if plan["changes"] and drift:
        s = plan["summary"]
        out.append(f"Drift: {s['change']} changed, {s['destroy']} deleted outside vapiops.")
    elif plan["changes"]:
        s = plan["summary"]
        out.append(f"Plan: {s['add']} to add, {s['change']} to change, {s['destroy']} to destroy.")
    elif drift:
        out.append(f"{NO_CHANGES} The live objects match what was last applied.")
    else:
        out.append(f"{NO_CHANGES} {NO_CHANGES_DETAIL}")
    return "\n".join(out) + "\n"


def _text_change(change: dict[str, Any], paint: Callable[[str, str], str], drift: bool = False) -> list[str]:
    action = change["action"]
    # Pad before painting: escape codes would count towards the width.
    symbol = " " * (3 - len(_SYMBOL[action])) + paint(_SYMBOL[action], _ACTION_COLOR[action])
    ident = f" (id {change['id']})" if change["id"] else ""
    lines = [f"  # {_header_comment(change, drift)}", f"{symbol} {change['address']}{ident}"]
    if action in ("create", "delete"):
        return lines + _declared_lines(change, head="      ", block="          ")
    for field in change["fields"]:
        lines += field_lines(field, paint, indent="      ")
    return lines


Paint = Callable[[str, str], str]  # (text, ANSI SGR code) -> text, coloured or not


def painter(color: bool) -> Paint:
    def paint(text: str, code: str) -> str:
        return f"\x1b[{code}m{text}\x1b[0m" if color else text

    return paint


def field_lines(field: dict[str, Any], paint: Paint, *, indent: str) -> list[str]:
    """One changed field as text: `path: before -> after`, or the path with a line diff under it.

    `field` has path, before, after and optionally sensitive (as in a plan's fields); `vapiops diff`
    renders its fields with this too, so both read alike.
    """
    view = _field_change(field)
    if isinstance(view, _Inline):
        before = "(absent)" if view.before is None else view.before
        after = "(absent)" if view.after is None else view.after
        return [f"{indent}{field['path']}: {before} -> {after}"]
    return [f"{indent}{field['path']}:"] + [f"{indent}  {_paint_diff_line(line, paint)}" for line in view.lines]


def _paint_diff_line(line: str, paint: Callable[[str, str], str]) -> str:
    if line.startswith("@@"):
        return paint(line, _CYAN)
    if line.startswith("+"):
        return paint(line, _GREEN)
    if line.startswith("-"):
        return paint(line, _RED)
    return line


# ---------------------------------------------------------------------------------------------
# Markdown


def render_markdown(plan: dict[str, Any], *, limit: int = 65_000) -> str:
    """A pull-request comment: summary table, then one collapsible diff per resource, in `limit` characters.

    When everything does not fit, the whole table is kept if it leaves room for at least the first
    section; a table that must be cut anyway is cut to TABLE_SHARE of the limit (with a "… N more" row),
    so that sections still fill the rest. As many whole sections as fit follow in order, and a note says
    how many were left out. Cuts happen only between blocks, so every fence and <details> stays balanced.
    """
    head = f"### vapiops plan — {_code_span(plan['environment'])}\n\n"
    warnings = _markdown_warnings(plan["warnings"], limit // 4)
    changes = plan["changes"]
    if not changes:
        return (
            head
            + f"**{NO_CHANGES}** {NO_CHANGES_DETAIL}\n"
            + ("\n" + warnings.rstrip("\n") + "\n" if warnings else "")
        )
    s = plan["summary"]
    summary = f"**Plan:** {s['add']} to add, {s['change']} to change, {s['destroy']} to destroy."
    if s["replace"]:
        summary = summary[:-1] + f" ({s['replace']} replaced)."
    head += summary + "\n\n" + warnings

    table_head = "| Action | Resource | Fields changed |\n|---|---|---|\n"
    rows = [_table_row(change) for change in changes]
    sections = [_section(change) for change in changes]
    whole = head + table_head + "".join(rows) + "\n" + "".join(sections)
    if len(whole) <= limit:
        return whole

    # What the table and the sections share: everything but the heading, the table's header, the blank
    # line after the table and the longest note.
    budget = limit - len(head) - len(table_head) - 1 - len(_MORE_NOTE.format(n=len(changes)))
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


def _table_row(change: dict[str, Any]) -> str:
    action = change["action"]
    paths = [field["path"] for field in change["fields"]] if action != "delete" else []
    shown = ", ".join(_html_code(p) for p in paths[:3])
    if len(paths) > 3:
        shown += f" and {len(paths) - 3} more"
    return f"| {_SYMBOL[action]} {action} | {_html_code(change['address'])} | {shown or '—'} |\n"


def _more_row(n: int) -> str:
    return f"| … | _{n} more resources_ | |\n"


def _section(change: dict[str, Any]) -> str:
    action = change["action"]
    label = f"{action}: {change['reason']}" if change["reason"] else action
    body = "\n".join(_diff_body(change))
    longest = max((len(run) for run in re.findall(r"`+", body)), default=0)
    fence = "`" * max(3, longest + 1)  # longer than any backtick run inside, so the fence cannot close early
    return (
        f"<details><summary>{_SYMBOL[action]} {_html_code(change['address'])} ({html.escape(label)})</summary>\n\n"
        f"{fence}diff\n{body}\n{fence}\n\n</details>\n\n"
    )


def _diff_body(change: dict[str, Any]) -> list[str]:
    action = change["action"]
    if action in ("create", "delete"):
        mark = "+" if action == "create" else "-"
        lines = _declared_lines(change, head=mark, block=f"{mark}  ")
        if not lines and action == "delete":
            lines.append(f"-{change['address']}" + (f" (id {change['id']})" if change["id"] else ""))
        return lines or [f" {change['reason'] or 'no field details'}"]
    lines = []
    for field in change["fields"]:
        lines.append(f"@@ {field['path']} @@")
        view = _field_change(field)
        if isinstance(view, _Lines):
            lines += view.lines
        else:
            lines += [f"-{view.before}"] if view.before is not None else []
            lines += [f"+{view.after}"] if view.after is not None else []
    return lines or [f" {change['reason'] or 'no field details'}"]
