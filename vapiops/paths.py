"""Paths into JSON-like values: parse, format, match against patterns, get, set and delete.

A concrete path is a tuple of dict keys (str) and list indexes (int): ("model", "messages", 0).
It is shown dotted with list indexes, e.g. `model.messages[0].content`.
A pattern is written the same way with wildcards: `[]` any index, `*` any key, `**` any depth
(zero or more steps), e.g. `hooks[].do[].toolId`, `**.server.headers.*`.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

Path = tuple[str | int, ...]
ANY_INDEX = "[]"
ANY_KEY = "*"
ANY_DEPTH = "**"

_TOKEN = re.compile(r"\[(\d*)\]|([^.\[\]]+)")


def format_path(path: Path) -> str:
    """("model", "messages", 0, "content") -> "model.messages[0].content"."""
    out = ""
    for step in path:
        if isinstance(step, int):
            out += f"[{step}]"
        else:
            out += f".{step}" if out else str(step)
    return out


# A well-formed path or pattern: a key, then any run of `.key`, `[n]` and `[]` (a key holds no '.', '[' or ']').
_WELL_FORMED = re.compile(r"[^.\[\]]+(?:\.[^.\[\]]+|\[\d*\])*")


def path_syntax_error(text: str) -> str | None:
    """Why `text` is not a well-formed path or pattern (None when it is).

    parse_path skips what it cannot read, so `a..b` or `a[[0]` would quietly mean another path:
    input from a manifest is checked here first.
    """
    if not text.strip():
        return "is empty"
    if _WELL_FORMED.fullmatch(text):
        return None
    if ".." in text or text.startswith(".") or text.endswith("."):
        return "has an empty step (two dots, or a dot at either end)"
    if text.startswith("["):
        return "starts with an index; a path starts with a field name"
    return "has a bracket that is not an index `[n]` or `[]`"


@functools.lru_cache(maxsize=4096)
def parse_path(text: str) -> Path:
    """Parse a dotted path or pattern; `[3]` becomes 3, `[]` stays the wildcard token "[]"."""
    steps: list[str | int] = []
    for index, key in _TOKEN.findall(text):
        if key:
            steps.append(key)
        elif index == "":
            steps.append(ANY_INDEX)
        else:
            steps.append(int(index))
    return tuple(steps)


def matches(pattern: Path | str, path: Path) -> bool:
    """True when the concrete path is matched entirely by the pattern."""
    pat = parse_path(pattern) if isinstance(pattern, str) else pattern
    return _match(pat, path)


def _match(pat: Path, path: Path) -> bool:
    if not pat:
        return not path
    head, rest = pat[0], pat[1:]
    if head == ANY_DEPTH:
        return any(_match(rest, path[i:]) for i in range(len(path) + 1))
    if not path:
        return False
    step = path[0]
    if head == ANY_INDEX:
        ok = isinstance(step, int)
    elif head == ANY_KEY:
        ok = isinstance(step, str)
    else:
        ok = head == step
    return ok and _match(rest, path[1:])


def find(value: Any, pattern: Path | str, _at: Path = ()) -> Iterator[tuple[Path, Any]]:
    """Yield (concrete path, value) for every place in `value` that the pattern matches."""
    pat = parse_path(pattern) if isinstance(pattern, str) else pattern
    if not pat:
        yield _at, value
        return
    head, rest = pat[0], pat[1:]
    if head == ANY_DEPTH:
        yield from _find_deep(value, rest, _at)
        return
    if head == ANY_INDEX:
        if isinstance(value, list):
            for i, child in enumerate(value):
                yield from find(child, rest, _at + (i,))
    elif head == ANY_KEY:
        if isinstance(value, dict):
            for key, child in value.items():
                yield from find(child, rest, _at + (key,))
    elif isinstance(head, int):
        if isinstance(value, list) and 0 <= head < len(value):
            yield from find(value[head], rest, _at + (head,))
    elif isinstance(value, dict) and head in value:
        yield from find(value[head], rest, _at + (head,))


def _find_deep(value: Any, rest: Path, at: Path) -> Iterator[tuple[Path, Any]]:
    """find() of `**.<rest>`: every node in document order (pre-order) where `rest` matches.

    Iterative, and a node where rest's first step cannot match is skipped without a call: the
    registry's `**` reference patterns run over every spec and live object in a plan, and the
    recursive form made planning 1,000 resources twelve times slower.
    """
    first = rest[0] if rest else None
    stack: list[tuple[Path, Any]] = [(at, value)]
    while stack:
        here, node = stack.pop()
        if _may_start(first, node):
            yield from find(node, rest, here)
        children = [
            (here + (step,), child)
            for step, child in _children(node)
            if first is None or isinstance(child, (dict, list))  # only `**` alone matches a scalar
        ]
        stack.extend(reversed(children))


def _may_start(first: str | int | None, node: Any) -> bool:
    if first is None or first == ANY_DEPTH:
        return True
    if first == ANY_INDEX or isinstance(first, int):
        return isinstance(node, list)
    if first == ANY_KEY:
        return isinstance(node, dict)
    return isinstance(node, dict) and first in node


def find_many(value: Any, patterns: Sequence[Path | str]) -> list[list[tuple[Path, Any]]]:
    """find() of each pattern (results in the patterns' order), with one walk for all `**.<key>…` ones.

    The registry's reference patterns start with `**`; walking a value once for all of them,
    instead of once per pattern, keeps planning 1,000 resources at its former speed.
    """
    parsed, by_key = _walk_plan(tuple(patterns))
    out: list[list[tuple[Path, Any]]] = [[] for _ in parsed]
    for i, pat in enumerate(parsed):
        if i not in by_key.indexes:
            out[i] = list(find(value, pat))
    if not by_key.rests:
        return out
    rests = by_key.rests
    stack: list[tuple[Path, Any]] = [((), value)] if isinstance(value, (dict, list)) else []
    while stack:
        here, node = stack.pop()
        children: list[tuple[Path, Any]] = []
        # One pass over a node's items finds both its matches and its children: this runs over every
        # object and list of every spec and live object a plan reads.
        if isinstance(node, dict):
            for k, v in node.items():
                if k in rests:
                    for i, rest in rests[k]:
                        # The registry's two common shapes without find()'s call per step and element.
                        if len(rest) == 1:  # `**.key`: the value itself
                            out[i].append((here + (k,), v))
                        elif len(rest) == 2 and rest[1] == ANY_INDEX:  # `**.key[]`: each element
                            if isinstance(v, list):
                                at = here + (k,)
                                out[i].extend((at + (n,), e) for n, e in enumerate(v))
                        else:
                            out[i].extend(find(node, rest, here))
                if isinstance(v, (dict, list)):
                    children.append((here + (k,), v))
        else:
            for n, v in enumerate(node):
                if isinstance(v, (dict, list)):
                    children.append((here + (n,), v))
        if children:
            children.reverse()  # popped in document order
            stack.extend(children)
    return out


@dataclass(frozen=True)
class _ByKey:
    rests: dict[str | int, list[tuple[int, Path]]]  # `**.<key>…` patterns by key: (index, the rest)
    indexes: frozenset[int]  # the patterns found by the one walk


@functools.lru_cache(maxsize=256)
def _walk_plan(patterns: tuple[Path | str, ...]) -> tuple[tuple[Path, ...], _ByKey]:
    """The patterns parsed and grouped for find_many, once per pattern set (the registry has a few)."""
    parsed = tuple(parse_path(p) if isinstance(p, str) else p for p in patterns)
    rests: dict[str | int, list[tuple[int, Path]]] = {}
    for i, pat in enumerate(parsed):
        first = pat[1] if len(pat) > 1 and pat[0] == ANY_DEPTH else None
        if isinstance(first, str) and first not in (ANY_INDEX, ANY_KEY, ANY_DEPTH):
            rests.setdefault(first, []).append((i, pat[1:]))
    return parsed, _ByKey(rests, frozenset(i for group in rests.values() for i, _ in group))


def _children(value: Any) -> Iterator[tuple[str | int, Any]]:
    if isinstance(value, dict):
        yield from value.items()
    elif isinstance(value, list):
        yield from enumerate(value)


def copy_json(value: Any) -> Any:
    """A deep copy of a JSON-like value (much faster than copy.deepcopy)."""
    if isinstance(value, dict):
        return {k: copy_json(v) for k, v in value.items()}
    if isinstance(value, list):
        return [copy_json(v) for v in value]
    return value


def with_values(value: Any, changes: Sequence[tuple[Path, Any]]) -> Any:
    """value with each (path, new) of `changes` set, copying only the containers on those paths.

    Every other subtree is shared with value, which is never mutated: a caller that changes the
    result in place must copy it first. Each path must exist in value (as find() reports paths).
    Much cheaper than copy_json + set_ when a few leaves of a large object change (the reference
    IDs of a live object translated to names).
    """
    if not changes:
        return value
    root = _shallow(value)
    fresh = {id(root)}  # containers copied here (alive in the result, so their ids stay unique)
    for path, new in changes:
        node = root
        for step in path[:-1]:
            child = node[step]
            if id(child) not in fresh:
                child = _shallow(child)
                fresh.add(id(child))
                node[step] = child
            node = child
        node[path[-1]] = new
    return root


def _shallow(value: Any) -> Any:
    return dict(value) if isinstance(value, dict) else list(value)


_MISSING = object()


def get(value: Any, path: Path, default: Any = None) -> Any:
    for step in path:
        if isinstance(step, int):
            if not isinstance(value, list) or not 0 <= step < len(value):
                return default
            value = value[step]
        else:
            if not isinstance(value, dict) or step not in value:
                return default
            value = value[step]
    return value


def has(value: Any, path: Path) -> bool:
    return get(value, path, _MISSING) is not _MISSING


def set_(value: Any, path: Path, new: Any) -> None:
    """Set `new` at path, creating intermediate dicts; list indexes must exist."""
    for step in path[:-1]:
        if isinstance(step, int):
            value = value[step]
        else:
            value = value.setdefault(step, {})
    value[path[-1]] = new


def delete(value: Any, path: Path) -> None:
    """Remove the key or list element at path if it is there."""
    parent = get(value, path[:-1])
    last = path[-1]
    if isinstance(last, int) and isinstance(parent, list) and 0 <= last < len(parent):
        del parent[last]
    elif isinstance(parent, dict):
        parent.pop(last, None)
