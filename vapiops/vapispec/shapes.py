"""Which properties a schema allows for a given object: accepts, and filter_to_update for PATCH bodies."""

from __future__ import annotations

import copy
from collections.abc import Iterable
from typing import Any

from vapiops.kinds import Kind
from vapiops.vapispec.loading import spec
from vapiops.vapispec.validators import dto_name
from vapiops.vapispec.walk import REF_PREFIX, _target


def _shape(schema_list: list[dict], value: Any) -> tuple[dict[str, list[dict]], bool]:
    """The properties these schemas (alternatives: any may hold) allow for this object value, each
    with its subschemas, and whether all of them refuse other properties. ({}, False): anything goes."""
    props: dict[str, list[dict]] = {}
    closed: bool | None = None
    for schema in schema_list:
        shape = _one_shape(schema, value, frozenset())
        if shape is None:
            continue  # this alternative cannot be an object at all
        _merge(props, shape[0])
        closed = shape[1] if closed is None else closed and shape[1]
    return props, bool(closed)


def _one_shape(schema: dict, value: Any, seen: frozenset[int]) -> tuple[dict[str, list[dict]], bool] | None:
    schema = _target(spec(), schema)
    declared = schema.get("type")
    if declared is not None and "object" not in (declared if isinstance(declared, list) else [declared]):
        return None
    if id(schema) in seen:
        return {}, False
    seen = seen | {id(schema)}
    props: dict[str, list[dict]] = {k: [v] for k, v in (schema.get("properties") or {}).items()}
    closed = schema.get("additionalProperties") is False
    parts = schema.get("allOf") or []
    cases = [part for part in parts if "if" in part]
    for part in parts:
        shape = None if "if" in part else _one_shape(part, value, seen)
        if shape is not None:
            _merge(props, shape[0])
            closed = closed or shape[1]
    alternatives = []
    if cases:
        # A union: the case the value names; if it names none, any case could be meant.
        alternatives = [c["then"] for c in cases if _if_holds(c["if"], value)] or [c["then"] for c in cases]
    for group in (alternatives, schema.get("anyOf") or []):
        if group:
            more, more_closed = _shape(group, value)
            _merge(props, more)
            closed = closed or more_closed
    return props, closed


def _merge(into: dict[str, list[dict]], more: dict[str, list[dict]]) -> None:
    for key, subs in more.items():
        into.setdefault(key, []).extend(subs)


def _if_holds(condition: dict, value: Any) -> bool:
    if not isinstance(value, dict):
        return False
    return all(
        key in value and value[key] == sub.get("const")
        for key, sub in (condition.get("properties") or {}).items()
    )


def _items(schema_list: list[dict]) -> list[dict]:
    """The item schemas of whichever of these schemas describe arrays."""
    found: list[dict] = []
    for schema in schema_list:
        schema = _target(spec(), schema)
        if isinstance(schema.get("items"), dict):
            found.append(schema["items"])
        for key in ("allOf", "anyOf"):
            found.extend(_items(schema.get(key) or []))
    return found


def _dto(kind: Kind, body: dict, update: bool) -> dict | None:
    name = dto_name(kind, body, update=update)
    return {"$ref": REF_PREFIX + name} if name else None


def accepts(kind: Kind, body: dict, prop: str, *, update: bool = False) -> bool:
    """Does the DTO this body is checked against have the top-level property `prop`?"""
    dto = _dto(kind, body, update)
    return dto is not None and prop in _shape([dto], body)[0]


def filter_to_update(kind: Kind, body: dict, allow_extra: Iterable[str] = ()) -> dict:
    """A copy of body keeping only what the Update DTO accepts, at the top and, where the schema
    says which properties an object may have, inside nested objects (for alternatives: a key any
    alternative accepts). So a PATCH that sends a live value back carries no response-only fields.
    allow_extra: top-level keys kept although the spec omits them."""
    dto = _dto(kind, body, update=True)
    if dto is None:
        return copy.deepcopy(body)
    out = _filter(body, [dto])
    for key in allow_extra:
        if key in body:
            out[key] = copy.deepcopy(body[key])
    return {key: out[key] for key in body if key in out}


def _filter(value: Any, schema_list: list[dict]) -> Any:
    if isinstance(value, dict):
        props, closed = _shape(schema_list, value)
        return {
            key: _filter(item, props[key]) if key in props else copy.deepcopy(item)
            for key, item in value.items()
            if key in props or not closed
        }
    if isinstance(value, list):
        items = _items(schema_list)
        return [_filter(item, items) for item in value] if items else copy.deepcopy(value)
    return value
