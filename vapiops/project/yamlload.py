"""YAML with a line for every value: plain JSON-like values out, every error located, bombs refused."""

from __future__ import annotations

import math
import re
from pathlib import Path
from typing import Any

import yaml

from vapiops.errors import Location, ManifestError

# An anchor/alias "billion laughs" document is tiny on disk and huge once expanded; manifests come
# from pull requests, so cap how many extra nodes alias re-use may produce in one document.
MAX_ALIAS_EXPANSION = 10_000
MAX_DEPTH = 200  # far deeper than any real body (a JSON schema nests a few dozen levels at most)

# libyaml is much faster and gives the same nodes and marks; fall back to pure Python without it.
_Loader: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
_scalars = yaml.constructor.SafeConstructor()


def _finite(number: float) -> float:
    if not math.isfinite(number):  # JSON has no .nan or .inf: the API could never receive them
        raise ValueError(number)
    return number


_TAG = "tag:yaml.org,2002:"
_SCALAR_TAGS = {
    _TAG + "str": lambda node: node.value,
    _TAG + "null": lambda node: None,
    _TAG + "bool": _scalars.construct_yaml_bool,
    _TAG + "int": _scalars.construct_yaml_int,
    _TAG + "float": lambda node: _finite(_scalars.construct_yaml_float(node)),
    # JSON has no dates: an unquoted 2024-01-01 stays the text the user wrote.
    _TAG + "timestamp": lambda node: node.value,
    # YAML 1.1 gives a bare `=` the "value" tag; scorecard comparators are written `comparator: =`.
    _TAG + "value": lambda node: node.value,
}


def describe_value(value: object) -> str:
    """'a mapping', 'a list', 'a string', ... for messages that say what was found instead."""
    if value is None:
        return "nothing (null)"
    named = {
        dict: "a mapping",
        list: "a list",
        str: "a string",
        bool: "a boolean",
        int: "a number",
        float: "a number",
    }
    return named.get(type(value), f"a {type(value).__name__}")


# ----------------------------------------------------------------------------------------------
# YAML with line numbers


class _Builder:
    """Turns one composed YAML document into plain values, recording the line of every path."""

    def __init__(self, filename: str, *, record_lines: bool = True, aliases: bool = True):
        self.filename = filename
        self.lines: dict[tuple, int] = {}
        self.record_lines = record_lines  # else only the document's own line (see parsecache.Lines)
        # Without an alias in the text (no `*`), no node can be visited twice: the expansion count
        # and the cycle check below have nothing to find, and are skipped.
        self.aliases = aliases
        self.visits = 0
        self.distinct: set[int] = set()
        self.active: set[int] = set()  # nodes being built right now: an alias to one is a cycle

    def fail(self, node: yaml.Node, message: str) -> ManifestError:
        return ManifestError(message, where=Location(self.filename, node.start_mark.line + 1))

    def build(self, node: yaml.Node, path: tuple) -> Any:
        if self.aliases:
            self.visits += 1
            self.distinct.add(id(node))
            if self.visits - len(self.distinct) > MAX_ALIAS_EXPANSION:
                raise self.fail(
                    node,
                    f"YAML aliases expand to more than {MAX_ALIAS_EXPANSION} extra nodes; refusing to load",
                )
        if self.record_lines or not path:
            self.lines.setdefault(path, node.start_mark.line + 1)
        if isinstance(node, yaml.ScalarNode):
            make = _SCALAR_TAGS.get(node.tag)
            if make is None:
                raise self.fail(
                    node, f"unsupported YAML tag {node.tag!r} (only plain JSON values are allowed)"
                )
            try:
                return make(node)
            except ValueError as exc:
                raise self.fail(node, f"invalid {node.tag.removeprefix(_TAG)} value {node.value!r}") from exc
        if len(path) + 1 > MAX_DEPTH:  # only aliases get here: _check_depth saw the written nesting
            raise self.fail(node, f"YAML nested more than {MAX_DEPTH} levels deep (through aliases)")
        if not self.aliases:
            return self.build_collection(node, path)
        if id(node) in self.active:
            raise self.fail(node, "recursive YAML alias (a value that contains itself)")
        self.active.add(id(node))
        try:
            return self.build_collection(node, path)
        finally:
            self.active.discard(id(node))

    def build_collection(self, node: yaml.Node, path: tuple) -> Any:
        if isinstance(node, yaml.SequenceNode):
            if node.tag != _TAG + "seq":
                raise self.fail(node, f"unsupported YAML tag {node.tag!r} on a list")
            return [self.build(item, path + (i,)) for i, item in enumerate(node.value)]
        if isinstance(node, yaml.MappingNode):
            if node.tag != _TAG + "map":
                raise self.fail(node, f"unsupported YAML tag {node.tag!r} on a mapping")
            return self.build_mapping(node, path)
        raise self.fail(node, f"unsupported YAML node {type(node).__name__}")

    def build_mapping(self, node: yaml.MappingNode, path: tuple) -> dict[str, Any]:
        merged: dict[str, Any] = {}
        explicit: dict[str, Any] = {}
        seen: dict[str, int] = {}
        for key_node, value_node in node.value:
            if isinstance(key_node, yaml.ScalarNode) and key_node.tag == _TAG + "merge":
                # `<<: *base` (or a list of them): earlier sources win, explicit keys win over all.
                sources = value_node.value if isinstance(value_node, yaml.SequenceNode) else [value_node]
                for source in sources:
                    if not isinstance(source, yaml.MappingNode):
                        raise self.fail(source, "a `<<` merge key needs a mapping (or a list of mappings)")
                    for k, v in self.build(source, path).items():
                        merged.setdefault(k, v)
                continue
            if not isinstance(key_node, yaml.ScalarNode):
                raise self.fail(key_node, "mapping keys must be plain strings")
            # Keys are JSON object keys: always the text as written (so `on:` or `200:` stay strings).
            key = key_node.value
            line = key_node.start_mark.line + 1
            if key in seen:
                raise self.fail(key_node, f"duplicate key {key!r} (first at line {seen[key]}); keep only one")
            seen[key] = line
            if self.record_lines:
                self.lines[path + (key,)] = line  # the key's line, not its value's, locates the field
            explicit[key] = self.build(value_node, path + (key,))
        merged.update(explicit)
        return merged


# A document marker: `---` or `...` at column 0, then a blank or the end of the line (YAML 1.1, 9.1.3).
_DOCUMENT_MARKER = re.compile(r"^(?:---|\.\.\.)(?=[ \t\r\n]|$)", re.M)
# What may come before a line's first block collection: indentation and compact `- `, `? `, `: `.
_LEAD = re.compile(r"^[ \t?:-]*", re.M)


def _depth_bound(document: str) -> int:
    """An upper bound on how deep one document's text can nest, from a few C-speed scans.

    On one chain, every flow collection starts at its own `[` or `{`; a block collection nested in
    another starts further right (a block list under a mapping key may share its column: hence the
    factor 2), at a column inside its line's lead of indentation and compact markers.
    """
    lead = max(map(len, _LEAD.findall(document)), default=0)
    return document.count("[") + document.count("{") + 2 * (lead + 1)


def _check_depth(text: str, filename: str) -> None:
    """Refuse absurd nesting before composing: libyaml's composer recurses on the C stack and crashes.

    The exact check walks every parse event (as long as composing itself), so it runs only for a
    document whose cheap bound (_depth_bound) exceeds the limit: real manifests never reach it.
    """
    if all(_depth_bound(document) <= MAX_DEPTH for document in _DOCUMENT_MARKER.split(text)):
        return
    depth = 0
    for event in yaml.parse(text, Loader=_Loader):
        if isinstance(event, (yaml.SequenceStartEvent, yaml.MappingStartEvent)):
            depth += 1
            if depth > MAX_DEPTH:
                line = event.start_mark.line + 1 if event.start_mark else 0
                raise ManifestError(
                    f"YAML nested more than {MAX_DEPTH} levels deep", where=Location(filename, line)
                )
        elif isinstance(event, (yaml.SequenceEndEvent, yaml.MappingEndEvent)):
            depth -= 1


def load_yaml_with_lines(
    text: str, filename: str, *, record_lines: bool = True
) -> list[tuple[Any, dict[tuple, int]]]:
    """Parse every document of a YAML text into (plain value, {path: line}); errors are located.

    Only JSON-compatible values come out (str, int, float, bool, None, list, dict with str keys).
    Empty documents are left out. Without `record_lines` the map holds only the document's own
    line (`()`): the same values and errors, for a caller that finds lines again when asked.
    Raises ManifestError with Location(filename, line) at the first problem.
    """
    out: list[tuple[Any, dict[tuple, int]]] = []
    aliases = "*" in text  # an alias is written `*name`; without one no node is reached twice
    try:
        _check_depth(text, filename)
        for root in yaml.compose_all(text, Loader=_Loader):
            builder = _Builder(filename, record_lines=record_lines, aliases=aliases)
            value = builder.build(root, ())
            if value is not None:  # an empty document (`---` alone, or only comments) holds nothing
                out.append((value, builder.lines))
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark else 0
        raise ManifestError(
            f"invalid YAML: {_yaml_problem(exc, text)}", where=Location(filename, line)
        ) from exc
    except yaml.reader.ReaderError as exc:
        line = text.count("\n", 0, exc.position) + 1
        raise ManifestError(
            f"invalid YAML: {exc.reason} (character {exc.character!r})", where=Location(filename, line)
        ) from exc
    except yaml.YAMLError as exc:
        raise ManifestError(f"invalid YAML: {exc}", where=Location(filename)) from exc
    except RecursionError as exc:
        raise ManifestError("invalid YAML: nested too deeply", where=Location(filename)) from exc
    return out


def _yaml_problem(exc: yaml.MarkedYAMLError, text: str) -> str:
    """What the YAML parser found, in words a user can act on."""
    mark = exc.problem_mark
    lines = text.splitlines()
    if mark is not None and mark.line < len(lines):
        line = lines[mark.line]
        indent = line[: len(line) - len(line.lstrip())]
        if "\t" in indent or line[mark.column : mark.column + 1] == "\t":
            # libyaml only says "found character that cannot start any token".
            return (
                "a tab character where YAML expects spaces (YAML indents with spaces only: replace the tab)"
            )
    context = exc.context or ""
    if context and exc.context_mark is not None and mark is not None and exc.context_mark.line != mark.line:
        # An unclosed bracket or quote is reported where the file ends: say where it was opened.
        context += f" (started at line {exc.context_mark.line + 1})"
    return ", ".join(part for part in (context, exc.problem) if part)


def read_text(path: Path) -> str:
    """A manifest's text: UTF-8 (a BOM is dropped); ManifestError when it is not."""
    try:
        return path.read_bytes().decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise ManifestError(f"not UTF-8 text (byte {exc.start})") from exc
