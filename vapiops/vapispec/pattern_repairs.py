"""Repairs to the spec's regex `pattern`s, so that Python's `re` checks what the API checks.

Each takes the spec, fixes it in place and returns how many sites it changed (see repairs.REPAIRS).
"""

from __future__ import annotations

import re

from vapiops.vapispec.walk import _component_nodes

_JS_REGEX_LITERAL = re.compile(r"/(.+)/([a-z]*)", re.DOTALL)


def repair_js_regex_literals(doc: dict) -> int:
    """`pattern: "/^[a-z]+$/u"` is a JavaScript regex literal: JSON Schema wants the bare source.

    The `u` flag is what JSON Schema regexes mean anyway; other flags cannot be written in a JSON
    Schema pattern, so such a pattern is dropped rather than enforced wrongly.
    """
    count = 0
    for node in _component_nodes(doc):
        match = (
            _JS_REGEX_LITERAL.fullmatch(node.get("pattern") or "")
            if isinstance(node.get("pattern"), str)
            else None
        )
        if match:
            if set(match.group(2)) <= {"u"}:
                node["pattern"] = match.group(1)
            else:
                del node["pattern"]
            count += 1
    return count


# Unicode property classes Python's `re` lacks, as (outside a class, inside a class) replacements.
_LETTER = r"[^\W\d_]"  # a word character that is neither a digit nor "_": a letter
_UNICODE_CLASSES = {"L": _LETTER, "Letter": _LETTER, "Nd": r"\d", "N": r"\d"}
_PROPERTY_ESCAPE = re.compile(r"\\p\{(\w+)\}")


def _translate_unicode(pattern: str) -> str | None:
    """Rewrite \\p{..} escapes for Python's `re`; None when that cannot be done faithfully."""
    out, i = [], 0
    while i < len(pattern):
        ch = pattern[i]
        if ch == "\\":
            match = _PROPERTY_ESCAPE.match(pattern, i)
            if match:
                if match.group(1) not in _UNICODE_CLASSES:
                    return None
                out.append(_UNICODE_CLASSES[match.group(1)])
                i = match.end()
            else:
                out.append(pattern[i : i + 2])
                i += 2
        elif ch == "[":
            end, items, props = i + 1, [], []
            if pattern.startswith("^", end):
                negated = True
                end += 1
            else:
                negated = False
            while end < len(pattern) and pattern[end] != "]":
                match = _PROPERTY_ESCAPE.match(pattern, end)
                if match:
                    props.append(match.group(1))
                    end = match.end()
                else:
                    step = 2 if pattern[end] == "\\" else 1
                    items.append(pattern[end : end + step])
                    end += step
            if not props:
                out.append(pattern[i : end + 1])
            elif negated or any(p not in _UNICODE_CLASSES for p in props):
                return None
            else:
                # A class cannot contain the complement trick, so [\p{L}\d] becomes (?:letter|[\d]).
                alternatives = [_UNICODE_CLASSES[p] for p in dict.fromkeys(props)]
                if items:
                    alternatives.append("[" + "".join(items) + "]")
                out.append("(?:" + "|".join(alternatives) + ")")
            i = end + 1
        else:
            out.append(ch)
            i += 1
    return "".join(out)


def repair_unicode_classes(doc: dict) -> int:
    """Patterns using `\\p{L}` (Python `re` has no Unicode properties): translate, or drop if impossible."""
    count = 0
    for node in _component_nodes(doc):
        pattern = node.get("pattern")
        if not isinstance(pattern, str) or "\\p{" not in pattern:
            continue
        translated = _translate_unicode(pattern)
        if translated is None:
            del node["pattern"]  # better no check than one that rejects what the API accepts
        else:
            node["pattern"] = translated
        count += 1
    return count


_PLACEHOLDER = re.compile(r"[A-Z][A-Z0-9]*(?:_[A-Z0-9]+)+")


def repair_placeholder_patterns(doc: dict) -> int:
    """A pattern that is a constant's name (`ORG_ROLE_OR_CUSTOM_ROLE_PATTERN`) was never substituted."""
    count = 0
    for node in _component_nodes(doc):
        if isinstance(node.get("pattern"), str) and _PLACEHOLDER.fullmatch(node["pattern"]):
            del node["pattern"]
            count += 1
    return count


def repair_uncompilable_patterns(doc: dict) -> int:
    """Any pattern Python's `re` still cannot compile is dropped (validation would crash on it)."""
    count = 0
    for node in _component_nodes(doc):
        if isinstance(node.get("pattern"), str):
            try:
                re.compile(node["pattern"])
            except re.error:
                del node["pattern"]
                count += 1
    return count
