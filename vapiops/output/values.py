"""How values look in a rendered plan: one-line values, line diffs, created objects as fields, colour.

Shared by the text and markdown renderers and by `vapiops diff`, so every output reads alike. In a
plan document a null `before`/`after` means the field is absent on that side.
"""

from __future__ import annotations

import difflib
import json
import re
import textwrap
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from vapiops.model import SENSITIVE

INLINE_MAX = 100  # longest value shown on one line; longer ones lose their middle to "…"
SHORT_CONTAINER = 60  # an object/array this short stays inline; a longer one gets a pretty line diff
FLATTEN_DEPTH = 4  # how deep a created object is spelled out as dotted paths before it is shown as JSON
DIFF_CONTEXT = 2  # unchanged lines kept around each change in a line diff
CLIP_CONTEXT = 20  # characters kept either side of the change in a long one-line string without spaces
WRAP_WIDTH = 80  # a long one-line string is shown wrapped at words to about this width

COMMENT = {
    "create": "will be created",
    "update": "will be updated in place",
    "delete": "will be destroyed",
    "replace": "must be replaced",
}
SYMBOL = {"create": "+", "update": "~", "delete": "-", "replace": "-/+"}

GREEN, YELLOW, RED, MAGENTA, CYAN, BOLD = "32", "33", "31", "35", "36", "1"
ACTION_COLOR = {"create": GREEN, "update": YELLOW, "delete": RED, "replace": MAGENTA}
_SIMPLE_KEY = re.compile(r"^[^.\[\]\s\"]+$")
# Prompts are user text: a raw ESC could drive the reader's terminal, so control characters are shown escaped.
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")


@dataclass
class Inline:
    """A change small enough for one line; None means absent on that side."""

    before: str | None
    after: str | None


@dataclass
class Lines:
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


def compact(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False)


def show(value: Any) -> str:
    """One value on one line: compact JSON (strings quoted), except the sensitive marker.

    A string is shown whole, however long: a reviewer must see the whole greeting, never one cut
    in the middle. Other long values (only reached for short containers and scalars) are clipped.
    """
    if value == SENSITIVE:
        return SENSITIVE
    if isinstance(value, str):
        return _printable(compact(value))
    return _clip(_printable(compact(value)))


def _word_lines(text: str, width: int = WRAP_WIDTH) -> list[str]:
    """A long one-line text wrapped at spaces into lines of about `width` (words never split)."""
    return [
        _printable(line)
        for line in textwrap.wrap(text, width, break_long_words=False, break_on_hyphens=False)
    ]


def _word_diff(before: str, after: str) -> list[str]:
    """Both long one-line texts whole, wrapped at words, the changed lines marked -/+."""
    a, b = _word_lines(before), _word_lines(after)
    lines = list(difflib.unified_diff(a, b, lineterm="", n=max(len(a), len(b))))
    return lines[2:]


def _is_multiline(value: Any) -> bool:
    # A lone trailing newline (common in include()d files) does not make a string multi-line.
    return isinstance(value, str) and "\n" in value.rstrip("\n")


def _text_lines(value: Any) -> list[str]:
    if value is None:
        return []
    if isinstance(value, str):
        return [_printable(line) for line in value.splitlines()]
    return [compact(value)]


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


def field_view(field: dict[str, Any]) -> Inline | Lines:
    """How one update/replace field is shown: inline `before -> after`, or a line diff."""
    before, after = field["before"], field["after"]
    if field.get("sensitive"):
        # Never trust the values of a sensitive field: show only whether each side exists.
        return Inline(None if before is None else SENSITIVE, None if after is None else SENSITIVE)
    if isinstance(before, (dict, list)) or isinstance(after, (dict, list)):
        if all(v is None or len(compact(v)) <= SHORT_CONTAINER for v in (before, after)):
            return Inline(None if before is None else show(before), None if after is None else show(after))
        lines = _line_diff(_pretty_lines(before), _pretty_lines(after))
        if lines:
            return Lines(lines)
    elif _is_multiline(before) or _is_multiline(after):
        lines = _line_diff(_text_lines(before), _text_lines(after))
        if lines:  # empty when only line endings differ: fall through to the inline form
            return Lines(lines)
    if isinstance(before, str) and isinstance(after, str) and max(len(before), len(after)) > INLINE_MAX:
        lines = _word_diff(before, after)
        if lines and " " in before + after:
            return Lines(lines)
        before, after = _around_difference(before, after)  # one long word (a token, a URL): its ends
    return Inline(None if before is None else show(before), None if after is None else show(after))


def _child_path(path: str, key: str | int) -> str:
    if isinstance(key, int):
        return f"{path}[{key}]"
    if _SIMPLE_KEY.match(key):
        return f"{path}.{key}"
    return f"{path}[{compact(key)}]"


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
        yield path, show(value)


def _declared_fields(change: dict[str, Any]) -> Iterator[tuple[str, str | list[str]]]:
    """The fields of a create (their new values) or a delete (their old values)."""
    side = "before" if change["action"] == "delete" else "after"
    for field in change["fields"]:
        if field.get("sensitive"):
            yield field["path"], SENSITIVE
        elif field[side] is not None:
            yield from _declared(field["path"], field[side])


def declared_lines(change: dict[str, Any], *, head: str, block: str) -> list[str]:
    """A created or deleted resource's fields, one `path: value` line each; multi-line text as a block."""
    lines: list[str] = []
    for path, shown in _declared_fields(change):
        if isinstance(shown, list):
            lines.append(f"{head}{path}: |")
            lines += [f"{block}{line}" for line in shown]
        else:
            lines.append(f"{head}{path}: {shown}")
    return lines


Paint = Callable[[str, str], str]  # (text, ANSI SGR code) -> text, coloured or not


def painter(color: bool) -> Paint:
    def paint(text: str, code: str) -> str:
        return f"\x1b[{code}m{text}\x1b[0m" if color else text

    return paint


REPOINT_PREFIX = "repoint to "  # the reason of an update that only moves references (model.Reason.REPOINT)


def display_fields(change: dict[str, Any]) -> list[dict[str, Any]]:
    """The fields as a reader should see them: a repoint shows the name on both sides.

    In the plan document a repoint goes from the old object's ID to the name (which then means
    the new object); shown as is, a reader sees a UUID turn into a name. Shown: the name with the
    old ID, then the name with "new id".
    """
    if not str(change.get("reason") or "").startswith(REPOINT_PREFIX):
        return list(change["fields"])
    out = []
    for field in change["fields"]:
        before, after = field["before"], field["after"]
        if isinstance(before, str) and isinstance(after, str) and before != after:
            field = {**field, "before": f"{after} (old id {before})", "after": f"{after} (new id)"}
        out.append(field)
    return out


def field_lines(field: dict[str, Any], paint: Paint, *, indent: str) -> list[str]:
    """One changed field as text: `path: before -> after`, or the path with a line diff under it.

    `field` has path, before, after and optionally sensitive (as in a plan's fields); `vapiops diff`
    renders its fields with this too, so both read alike.
    """
    view = field_view(field)
    if isinstance(view, Inline):
        before = "(absent)" if view.before is None else view.before
        after = "(absent)" if view.after is None else view.after
        return [f"{indent}{field['path']}: {before} -> {after}"]
    return [f"{indent}{field['path']}:"] + [
        f"{indent}  {_paint_diff_line(line, paint)}" for line in view.lines
    ]


def _paint_diff_line(line: str, paint: Callable[[str, str], str]) -> str:
    if line.startswith("@@"):
        return paint(line, CYAN)
    if line.startswith("+"):
        return paint(line, GREEN)
    if line.startswith("-"):
        return paint(line, RED)
    return line
