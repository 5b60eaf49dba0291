"""Reading schema documents: walking their schema nodes, following `$ref`s, naming JSON types."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any

REF_PREFIX = "#/components/schemas/"

_SUB_LISTS = ("allOf", "anyOf", "oneOf")
_SUB_ONE = ("items", "not", "if", "then", "else", "additionalProperties", "contains", "propertyNames")
_SUB_MAPS = ("properties", "patternProperties", "$defs", "definitions")
_SUB_KEYS = frozenset(_SUB_LISTS + _SUB_ONE + _SUB_MAPS)


def walk(schema: Any) -> Iterator[dict]:
    """Every schema object inside `schema`, itself first; $refs are not followed.

    Only keywords that hold schemas are entered, so a property *named* "pattern" or "enum" is never
    mistaken for the keyword. Children are collected after the caller has seen (and maybe changed)
    a schema, so a repair that rewrites a node has its new children walked too.
    """
    stack = [schema]
    while stack:
        node = stack.pop()
        if not isinstance(node, dict):
            continue
        yield node
        if _SUB_KEYS.isdisjoint(node):  # most nodes are leaves: one C-speed test, not fifteen lookups
            continue
        for key in _SUB_LISTS:
            if isinstance(node.get(key), list):
                stack.extend(reversed(node[key]))
        for key in _SUB_ONE:
            if isinstance(node.get(key), dict):
                stack.append(node[key])
        for key in _SUB_MAPS:
            if isinstance(node.get(key), dict):
                stack.extend(reversed(list(node[key].values())))


def reached(doc: dict, roots: Iterable[dict]) -> list[str]:
    """The names of every component schema `roots` reach through $refs, sorted."""
    seen: set[str] = set()
    stack = list(roots)
    while stack:
        for node in walk(stack.pop()):
            ref = node.get("$ref")
            if isinstance(ref, str) and ref.startswith(REF_PREFIX):
                name = ref.removeprefix(REF_PREFIX)
                if name not in seen:
                    seen.add(name)
                    stack.append(_components(doc)[name])
    return sorted(seen)


def _components(doc: dict) -> dict[str, dict]:
    """The component schemas of doc by name."""
    return doc["components"]["schemas"]


def _component_nodes(doc: dict, skip: frozenset[str] = frozenset()) -> Iterator[dict]:
    for name, schema in _components(doc).items():
        if name not in skip:
            yield from walk(schema)


def _body_schemas(doc: dict) -> Iterator[dict]:
    """The request and response body schemas written inline under `paths` (tool bodies are)."""
    for item in doc.get("paths", {}).values():
        for op in item.values():
            if not isinstance(op, dict):
                continue
            bodies = [op.get("requestBody") or {}] + list((op.get("responses") or {}).values())
            for body in bodies:
                for media in (body.get("content") or {}).values():
                    if isinstance(media.get("schema"), dict):
                        yield from walk(media["schema"])


def _target(doc: dict, schema: dict) -> dict:
    """Follow `$ref`s to the component they name."""
    while "$ref" in schema:
        schema = _components(doc)[schema["$ref"].removeprefix(REF_PREFIX)]
    return schema


_JSON_TYPE = {str: "string", bool: "boolean", int: "number", float: "number", dict: "object", list: "array"}


def _json_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    return _JSON_TYPE.get(type(value), type(value).__name__)
