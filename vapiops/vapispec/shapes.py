"""Which properties a schema allows for a given object: accepts, read-only fields, and the PATCH body filter."""

from __future__ import annotations

import copy
import functools
from typing import Any

from vapiops.kinds import Kind, get_kind
from vapiops.paths import Path
from vapiops.vapispec.loading import spec
from vapiops.vapispec.validators import discriminator_values, dto_name
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
    name = dto_name(kind, body, update=update)
    if name is None:
        return False
    if _declared_outright(name, prop):
        return True
    if prop not in _possible(name):  # in no alternative at all
        return False
    return prop in _shape([{"$ref": REF_PREFIX + name}], body)[0]


@functools.cache
def _declared_outright(name: str, prop: str) -> bool:
    """Whether DTO `name` has top-level `prop` whatever the body holds: in its own properties or a
    plain allOf part's, not only in a union case or an anyOf alternative. Answered once per DTO,
    it spares accepts() a walk of the DTO per body (a walk that can only add properties)."""

    def declared(schema: dict, seen: frozenset[int]) -> bool:
        schema = _target(spec(), schema)
        kind = schema.get("type")
        if id(schema) in seen or (
            kind is not None and "object" not in (kind if isinstance(kind, list) else [kind])
        ):
            return False
        if prop in (schema.get("properties") or {}):
            return True
        return any(
            declared(part, seen | {id(schema)}) for part in schema.get("allOf") or [] if "if" not in part
        )

    return declared({"$ref": REF_PREFIX + name}, frozenset())


def _dto_names(kind: Kind, *, update: bool) -> list[str]:
    """Every Create (or Update) DTO of the kind: one, or one per discriminator value."""
    if kind.discriminator is None:
        return [kind.update_dto if update else kind.create_dto]
    names = (dto_name(kind, {kind.discriminator: v}, update=update) for v in discriminator_values(kind))
    return sorted({n for n in names if n})


def _top_properties(schema_list: list[dict]) -> set[str]:
    props, _ = _shape(schema_list, None)  # None names no union case: every alternative counts
    return set(props)


@functools.cache
def _possible(name: str) -> frozenset[str]:
    """Every top-level property DTO `name` may have, in any of its alternatives."""
    return frozenset(_top_properties([{"$ref": REF_PREFIX + name}]))


def read_only_fields(kind: Kind) -> frozenset[str]:
    """Top-level keys the API owns: the properties of the kind's response schema (GET /x/{id}) that
    no Create or Update DTO of the kind has, plus the registry's named table (`Kind.read_only`) for
    what the spec does not show (`isServerUrlSecretSet`, `isDeleted`)."""
    return _derived_read_only(kind.name) | kind.read_only


@functools.cache
def _derived_read_only(name: str) -> frozenset[str]:
    kind = get_kind(name)
    item = spec()["paths"].get(kind.path + "/{id}", {})
    response = (((item.get("get") or {}).get("responses") or {}).get("200") or {}).get("content") or {}
    schema = (response.get("application/json") or {}).get("schema")
    responded = _top_properties([schema]) if isinstance(schema, dict) else set()
    if isinstance(schema, dict) and schema.get("oneOf"):
        responded |= _top_properties(schema["oneOf"])
    requested: set[str] = set()
    for update in (False, True):
        requested |= _top_properties([{"$ref": REF_PREFIX + n} for n in _dto_names(kind, update=update)])
    return frozenset(responded - requested)


def filter_to_update(kind: Kind, body: dict) -> dict:
    """A copy of body fit to PATCH: what the live API returned passes through (docs/plan.md).

    Taken out are only what surely must not be sent: the read-only fields (`read_only_fields`), a
    top-level key the Create DTO has and the Update DTO lacks (a tool's `type`: it cannot be
    PATCHed), and, inside nested objects, a key the spec gives to another alternative of the same
    union but not to the one this object is (a tool message whose `type` changed keeps the old
    type's `blocking`: sent back, that is a 400). A key the spec knows nowhere (`model.serviceTier`)
    is the API's own and is kept: Vapi replaces nested objects wholesale, so dropping it deletes it.
    (So `allow_fields` needs no say here: everything not read-only passes through anyway.)
    """
    read_only = read_only_fields(kind)
    dto = _dto(kind, body, update=True)
    if dto is None:
        return {k: copy.deepcopy(v) for k, v in body.items() if k not in read_only}
    update_props, _ = _shape([dto], body)
    create_only = _top_properties([{"$ref": REF_PREFIX + n} for n in _dto_names(kind, update=False)])
    out: dict[str, Any] = {}
    for key, value in body.items():
        if key in read_only or (key in create_only and key not in update_props):
            continue
        out[key] = _filter(value, update_props[key]) if key in update_props else copy.deepcopy(value)
    return out


def unknown_paths(kind: Kind, body: dict) -> list[Path]:
    """Paths in body whose key Vapi's published spec does not know there (not in the DTO's shape
    nor in any alternative of it): what a PATCH passes through unchecked. Sorted, outermost only."""
    dto = _dto(kind, body, update=True)
    if dto is None:
        return []
    found: list[Path] = []
    _unknown(body, [dto], (), found)
    return found


def _unknown(value: Any, schema_list: list[dict], at: Path, found: list[Path]) -> None:
    if isinstance(value, dict):
        props, closed = _shape(schema_list, value)
        every, _ = _shape(schema_list, None)
        for key, item in value.items():
            if key in props:
                _unknown(item, props[key], at + (key,), found)
            elif closed and key not in every:
                found.append(at + (key,))
    elif isinstance(value, list):
        items = _items(schema_list)
        if items:
            for i, item in enumerate(value):
                _unknown(item, items, at + (i,), found)


def _filter(value: Any, schema_list: list[dict]) -> Any:
    if isinstance(value, dict):
        props, closed = _shape(schema_list, value)
        if not closed:
            return {k: _filter(v, props[k]) if k in props else copy.deepcopy(v) for k, v in value.items()}
        every, _ = _shape(schema_list, None)
        return {
            key: _filter(item, props[key]) if key in props else copy.deepcopy(item)
            for key, item in value.items()
            if key in props or key not in every  # another alternative's key is left behind
        }
    if isinstance(value, list):
        items = _items(schema_list)
        return [_filter(item, items) for item in value] if items else copy.deepcopy(value)
    return value
