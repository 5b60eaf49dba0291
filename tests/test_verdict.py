"""The compiled verdict (vapispec/verdict.py) says "valid" exactly when jsonschema does: on bodies
generated from every request DTO of every kind, on a table of Draft 7 keywords, and through check()."""

from __future__ import annotations

import copy
import json
import math
import random
from collections.abc import Iterator
from typing import Any

import pytest
from jsonschema import Draft7Validator  # type: ignore[import-untyped]

from vapiops.kinds import KINDS, Kind
from vapiops.vapispec import validators
from vapiops.vapispec.loading import schemas
from vapiops.vapispec.repairs import UNION_MARK
from vapiops.vapispec.verdict import Compiler
from vapiops.vapispec.walk import REF_PREFIX

# ---------------------------------------------------------------------------------------------
# 1. Differential: random bodies for every request DTO, verdict == jsonschema on each.

# Per kind and verb about this many bodies built from the schema (a quarter clean, the rest with
# planted errors), and as many again with one random change each; at least MIN_PER_DTO per DTO.
PER_KIND = 400
MIN_PER_DTO = 10
DEPTH = 4  # below this depth only required properties are filled in
HARD_DEPTH = 12  # a required chain this deep gives up (an empty object)

# Values that are wrong somewhere: bool where a number goes, 1.0 where an integer goes (valid!),
# NaN and infinities (YAML's .nan/.inf), empty containers, a code point outside the BMP.
ODD_VALUES: tuple[Any, ...] = (
    True,
    False,
    0,
    1,
    1.0,
    1.5,
    -1,
    math.nan,
    math.inf,
    "",
    "x",
    "😀",
    None,
    [],
    {},
)
UNKNOWN = "zzNotInTheSpec"


def _request_dtos(kind: Kind, update: bool) -> list[str]:
    """The DTOs a body of this kind is checked against: its Create/Update DTO, or for a
    discriminated kind every DTO its discriminator can choose."""
    if kind.discriminator is None:
        return [kind.update_dto if update else kind.create_dto]
    return sorted(set(validators._mapping(kind.path, kind.discriminator, update).values()))


class _Generator:
    """Instances of a schema, mostly fitting it; `dirt` is the chance that a node is made wrong."""

    def __init__(self, rng: random.Random, components: dict[str, Any], dirt: float) -> None:
        self.rng = rng
        self.components = components
        self.dirt = dirt

    def dirty(self) -> bool:
        return self.rng.random() < self.dirt

    def value(self, schema: Any, depth: int = 0) -> Any:
        if not isinstance(schema, dict) or depth > HARD_DEPTH:
            return self.anything(depth)
        if "$ref" in schema:  # Draft 7: siblings of a $ref do not count
            return self.value(self.components[schema["$ref"].removeprefix(REF_PREFIX)], depth)
        if self.dirty():
            fixed = schema.get("enum") or ([schema["const"]] if "const" in schema else [])
            if fixed and self.rng.random() < 0.5:
                return _twin(self.rng, self.rng.choice(fixed))
            return self.rng.choice(ODD_VALUES)
        if UNION_MARK in schema:
            return self.union(schema, depth)
        if "const" in schema:
            return schema["const"]
        if "enum" in schema:
            return self.rng.choice(schema["enum"])
        branches = schema.get("anyOf") or schema.get("oneOf")
        if branches:
            return self.merge(self.value(self.rng.choice(branches), depth), self.typed(schema, depth))
        result = self.typed(schema, depth)
        for part in schema.get("allOf") or ():
            result = self.merge(result, self.value(part, depth))
        return result

    def merge(self, one: Any, two: Any) -> Any:
        if isinstance(one, dict) and isinstance(two, dict):
            return {**one, **two}
        return two if one is None else one

    def union(self, schema: dict, depth: int) -> Any:
        prop = schema[UNION_MARK]
        case = self.rng.choice(schema["allOf"])
        body = self.value(case["then"], depth)
        if isinstance(body, dict):
            body[prop] = case["if"]["properties"][prop]["const"]
            if self.dirty():
                body[prop] = self.rng.choice([UNKNOWN, None, 1])
        return body

    def typed(self, schema: dict, depth: int) -> Any:
        types = schema.get("type")
        if types is None:
            if "properties" in schema or "required" in schema:
                types = "object"
            elif schema.get("anyOf") or schema.get("oneOf") or schema.get("allOf"):
                return None  # the branches or parts give the value
            else:
                return self.anything(depth)
        name = self.rng.choice(types) if isinstance(types, list) else types
        make = {
            "object": self.object,
            "array": self.array,
            "string": self.string,
            "number": self.number,
            "integer": self.number,
        }.get(name)
        if make is not None:
            return make(schema, depth)
        return {"boolean": self.rng.random() < 0.5, "null": None}[name]

    def object(self, schema: dict, depth: int) -> dict:
        props = schema.get("properties") or {}
        required = [key for key in schema.get("required") or () if key in props or depth < HARD_DEPTH]
        if required and self.dirty():
            required.remove(self.rng.choice(required))
        optional = [key for key in props if key not in required]
        chosen = (
            self.rng.sample(optional, self.rng.randint(0, min(len(optional), 4 - depth)))
            if depth < DEPTH
            else []
        )
        out = {key: self.value(props.get(key, True), depth + 1) for key in [*required, *chosen]}
        extra = schema.get("additionalProperties", True)
        if isinstance(extra, dict) and self.rng.random() < 0.5:
            out["extra"] = self.value(extra, depth + 1)
        if self.dirty():
            out[UNKNOWN] = 1
        return out

    def array(self, schema: dict, depth: int) -> list:
        low, high = schema.get("minItems", 0), schema.get("maxItems", 3)
        # Deep down only as many items as needed: a chain of required arrays would otherwise grow
        # a body of millions of nodes (3 items a level).
        count = self.rng.randint(low, max(low, min(high, 3))) if depth < DEPTH else low
        if self.dirty():
            count = self.rng.choice([max(low - 1, 0), high + 1])
        items = schema.get("items", True)
        if isinstance(items, list):
            return [self.value(items[i] if i < len(items) else True, depth + 1) for i in range(count)]
        return [self.value(items, depth + 1) for _ in range(count)]

    def string(self, schema: dict, depth: int) -> str:
        low, high = schema.get("minLength", 0), schema.get("maxLength")
        if high is not None and high > 60_000:
            high = None  # a limit of 100,000,000 (the spec has one) is not worth a 100 MB string
        lengths = [low, low + 3] + ([high] if high is not None else [])
        if self.dirty():
            lengths = [low - 1] if low else []
            lengths += [high + 1] if high is not None else []
            lengths = lengths or [low]
        length = max(self.rng.choice(lengths), 0)
        # Mostly letters (they fit the spec's language-code pattern); é and 😀 are one code point
        # each. A random word repeated: a string at a maxLength of 50,000 costs nothing to make.
        word = "".join(self.rng.choice("abcdefgé😀1-:") for _ in range(7))
        return (word * (length // 7 + 1))[:length]

    def number(self, schema: dict, depth: int) -> Any:
        low = schema.get("minimum", schema.get("exclusiveMinimum"))
        high = schema.get("maximum", schema.get("exclusiveMaximum"))
        values: list[Any] = [0, 3, 3.0, -2] if low is None and high is None else []
        values += [low, low + 1, float(low)] if low is not None else []
        values += [high, high - 1, float(high)] if high is not None else []
        if schema.get("type") == "number":
            values += [(low or 0) + 0.5]
        if self.dirty():
            values = [True, 1.5, math.nan, -math.inf, "1"]
            values += [low - 1] if low is not None else []
            values += [high + 1] if high is not None else []
        return self.rng.choice(values)

    def anything(self, depth: int) -> Any:
        if depth < DEPTH and self.rng.random() < 0.2:
            return {"k": self.anything(depth + 1)} if self.rng.random() < 0.5 else [self.anything(depth + 1)]
        return self.rng.choice(ODD_VALUES)


def _twin(rng: random.Random, value: Any) -> Any:
    """A value JSON Schema tells apart from `value` although Python may not (True for 1, 0 for
    False), or one it does not (1.0 for 1), or a near miss ("Burt" for "burt")."""
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, (int, float)):
        return rng.choice([bool(value), float(value), [value]])
    if isinstance(value, str):
        return rng.choice([value.upper(), value + " ", [value]])
    return rng.choice(ODD_VALUES)


def _spots(value: Any, path: tuple = ()) -> Iterator[tuple]:
    """Every path inside an instance (the root included)."""
    yield path
    if isinstance(value, dict):
        for key, item in value.items():
            yield from _spots(item, (*path, key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from _spots(item, (*path, index))


def _mutate(rng: random.Random, instance: Any) -> Any:
    """The instance with one random change: a value replaced, a key dropped or added, a list grown."""
    out = copy.deepcopy(instance)
    path = rng.choice(list(_spots(out)))
    if not path:
        return rng.choice(ODD_VALUES)
    parent = out
    for step in path[:-1]:
        parent = parent[step]
    last, current = path[-1], parent[path[-1]]
    choice = rng.randrange(5)
    if choice == 0 and isinstance(parent, dict):
        del parent[last]
    elif choice == 1 and isinstance(current, dict):
        current[UNKNOWN] = rng.choice(ODD_VALUES)
    elif choice == 2 and isinstance(current, list):
        current.append(copy.deepcopy(current[0]) if current else rng.choice(ODD_VALUES))
    elif choice == 3 and isinstance(current, (int, float)) and not isinstance(current, bool):
        parent[last] = rng.choice([float(current), current + 1, current - 1, bool(current), math.nan])
    elif choice == 4 and isinstance(current, str):
        parent[last] = rng.choice([current + "x", current[:-1], current.upper(), UNKNOWN])
    else:
        parent[last] = rng.choice(ODD_VALUES)
    return out


def _show(instance: Any) -> str:
    return json.dumps(instance, default=repr, ensure_ascii=False)[:3000]


@pytest.mark.parametrize("update", [False, True], ids=["create", "update"])
@pytest.mark.parametrize("kind", list(KINDS))
def test_verdict_agrees_with_jsonschema_on_every_request_dto(kind: str, update: bool) -> None:
    components = schemas()
    valid = invalid = 0
    dtos = _request_dtos(KINDS[kind], update)
    count = max(MIN_PER_DTO, PER_KIND // len(dtos))
    for name in dtos:
        verdict, validator = validators._verdict(name), validators._validator(name)
        rng = random.Random(f"{name}/{update}")
        generated = [
            _Generator(rng, components, dirt=(0.0, 0.0, 0.03, 0.15)[i % 4]).value({"$ref": REF_PREFIX + name})
            for i in range(count)
        ]
        # One change to a valid body: the verdict then stands or falls on that one rule.
        bases = [each for each in generated if validator.is_valid(each)] or generated
        mutated = [_mutate(rng, rng.choice(bases)) for _ in range(count)]
        for instance in [*generated, *mutated]:
            expected = validator.is_valid(instance)
            assert verdict(instance) == expected, (
                f"{name}: verdict != jsonschema ({expected}) on {_show(instance)}"
            )
            valid += expected
            invalid += not expected
    # Not vacuous: both answers are common (a generator that only made junk would pass otherwise).
    total = valid + invalid
    assert valid >= 0.2 * total and invalid >= 0.2 * total, (valid, invalid)


# ---------------------------------------------------------------------------------------------
# 2. Draft 7 keyword by keyword: hand-written schemas, the verdict each instance should get; every
#    row is also put to plain jsonschema Draft 7, so the table cannot expect the wrong thing.


def _ref(name: str) -> dict:
    return {"$ref": REF_PREFIX + name}


COMPONENTS: dict[str, Any] = {
    "Text": {"type": "string"},
    # Recursive: a tree of trees, and two schemas referring to each other.
    "Tree": {
        "type": "object",
        "properties": {"value": {"type": "integer"}, "children": {"type": "array", "items": _ref("Tree")}},
        "additionalProperties": False,
    },
    "Ping": {"type": "object", "properties": {"pong": _ref("Pong")}, "required": ["pong"]},
    "Pong": {"anyOf": [{"type": "null"}, _ref("Ping")]},
    # A discriminated union as repairs.repair_oneof writes it (compiled with its shortcut).
    "Shape": {
        "type": "object",
        "required": ["kind"],
        "properties": {"kind": {"enum": ["circle", "square"]}},
        "allOf": [
            {"if": {"properties": {"kind": {"const": k}}, "required": ["kind"]}, "then": {"required": [f]}}
            for k, f in (("circle", "radius"), ("square", "side"))
        ],
        UNION_MARK: "kind",
    },
}

NAN = math.nan
KEYWORD_TABLE: list[tuple[str, Any, Any, bool]] = [
    # (what, schema, instance, valid?)
    ("$ref hides its siblings", {"$ref": REF_PREFIX + "Text", "maxLength": 1}, "long", True),
    (
        "$ref hides its siblings: the ref still counts",
        {"$ref": REF_PREFIX + "Text", "type": "integer"},
        3,
        False,
    ),
    ("true schema", True, {"a": [None]}, True),
    ("false schema", False, None, False),
    ("type list", {"type": ["string", "null"]}, None, True),
    ("type list rejects others", {"type": ["string", "null"]}, 0, False),
    ("empty type list", {"type": []}, 0, False),
    ("integer accepts 3", {"type": "integer"}, 3, True),
    ("integer accepts 3.0", {"type": "integer"}, 3.0, True),
    ("integer rejects 3.5", {"type": "integer"}, 3.5, False),
    ("integer rejects True", {"type": "integer"}, True, False),
    ("integer rejects NaN", {"type": "integer"}, NAN, False),
    ("integer rejects infinity", {"type": "integer"}, math.inf, False),
    ("number rejects True", {"type": "number"}, True, False),
    ("number accepts 1.5", {"type": "number"}, 1.5, True),
    ("boolean rejects 1", {"type": "boolean"}, 1, False),
    ("object rejects a list", {"type": "object"}, [], False),
    ("array rejects an object", {"type": "array"}, {}, False),
    ("enum: True is not 1", {"enum": [1]}, True, False),
    ("enum: 1.0 is 1", {"enum": [1, "a"]}, 1.0, True),
    ("enum: 0 is not False", {"enum": [False]}, 0, False),
    ("enum: [True] is not [1]", {"enum": [[1]]}, [True], False),
    ("enum: [1.0] is [1]", {"enum": [[1]]}, [1.0], True),
    ("enum: nested objects compare deeply", {"enum": [{"a": {"b": 1}}]}, {"a": {"b": 1}}, True),
    ("enum: nested True is not 1", {"enum": [{"a": {"b": 1}}]}, {"a": {"b": True}}, False),
    ("enum: an extra key differs", {"enum": [{"a": 1}]}, {"a": 1, "b": 1}, False),
    ("enum of strings", {"enum": ["a", "b"]}, "b", True),
    ("enum of strings rejects others", {"enum": ["a", "b"]}, "c", False),
    ("enum of strings rejects a non-string", {"enum": ["1"]}, 1, False),
    ("enum: NaN is not NaN", {"enum": [NAN]}, float("nan"), False),
    ("const: True is not 1", {"const": 1}, True, False),
    ("const: 0 is not False", {"const": False}, 0, False),
    ("const: None", {"const": None}, None, True),
    ("const: nested", {"const": {"a": [1, "x"]}}, {"a": [1.0, "x"]}, True),
    ("const: nested bool", {"const": {"a": [1, "x"]}}, {"a": [True, "x"]}, False),
    ("properties", {"properties": {"a": {"type": "string"}}}, {"a": 1}, False),
    ("properties: other keys free", {"properties": {"a": {"type": "string"}}}, {"b": 1}, True),
    ("properties ignore a non-object", {"properties": {"a": {"type": "string"}}}, [1], True),
    ("property schema false", {"properties": {"a": False}}, {"a": 1}, False),
    ("additionalProperties false", {"properties": {"a": {}}, "additionalProperties": False}, {"a": 1}, True),
    (
        "additionalProperties false rejects",
        {"properties": {"a": {}}, "additionalProperties": False},
        {"b": 1},
        False,
    ),
    ("additionalProperties false, non-object", {"additionalProperties": False}, "x", True),
    (
        "additionalProperties schema",
        {"properties": {"a": {}}, "additionalProperties": {"type": "integer"}},
        {"a": "x", "b": 2},
        True,
    ),
    (
        "additionalProperties schema rejects",
        {"properties": {"a": {}}, "additionalProperties": {"type": "integer"}},
        {"b": "x"},
        False,
    ),
    ("required", {"required": ["a"]}, {}, False),
    ("required: null is present", {"required": ["a"]}, {"a": None}, True),
    ("required ignores a non-object", {"required": ["a"]}, [], True),
    ("items schema", {"items": {"type": "integer"}}, [1, 2.0], True),
    ("items schema rejects", {"items": {"type": "integer"}}, [1, "x"], False),
    ("items ignores a non-array", {"items": {"type": "integer"}}, "x", True),
    ("items list", {"items": [{"type": "string"}, {"type": "integer"}]}, ["a", 1, None], True),
    ("items list rejects", {"items": [{"type": "string"}, {"type": "integer"}]}, [1], False),
    ("items list, short array", {"items": [{"type": "string"}, {"type": "integer"}]}, ["a"], True),
    ("items false, empty", {"items": False}, [], True),
    ("items false", {"items": False}, [1], False),
    ("minItems", {"minItems": 1, "maxItems": 2}, [], False),
    ("maxItems", {"minItems": 1, "maxItems": 2}, [1, 2, 3], False),
    ("min/maxItems hold", {"minItems": 1, "maxItems": 2}, [1, 2], True),
    ("maxLength counts code points", {"maxLength": 2}, "😀😀", True),
    ("maxLength", {"maxLength": 2}, "😀😀😀", False),
    ("minLength counts code points", {"minLength": 2}, "é", False),
    ("minLength ignores a non-string", {"minLength": 2}, 1, True),
    ("minimum holds at the bound", {"minimum": 1, "maximum": 3}, 1, True),
    ("maximum holds at the bound", {"minimum": 1, "maximum": 3}, 3.0, True),
    ("minimum", {"minimum": 1, "maximum": 3}, 0.99, False),
    ("maximum", {"minimum": 1, "maximum": 3}, 3.01, False),
    ("bounds ignore a bool", {"minimum": 5}, True, True),
    ("bounds ignore a string", {"minimum": 5}, "1", True),
    ("exclusiveMinimum at the bound", {"exclusiveMinimum": 1}, 1, False),
    ("exclusiveMinimum", {"exclusiveMinimum": 1}, 1.01, True),
    ("exclusiveMaximum at the bound", {"exclusiveMaximum": 3}, 3, False),
    ("exclusiveMaximum", {"exclusiveMaximum": 3}, 2, True),
    ("NaN passes minimum (jsonschema compares with <)", {"minimum": 0}, NAN, True),
    ("NaN passes maximum", {"maximum": 0}, NAN, True),
    ("NaN passes exclusiveMinimum", {"exclusiveMinimum": 0}, NAN, True),
    ("NaN passes exclusiveMaximum", {"exclusiveMaximum": 0}, NAN, True),
    ("infinity breaks maximum", {"maximum": 10}, math.inf, False),
    ("pattern searches", {"pattern": "b"}, "abc", True),
    ("pattern anchored", {"pattern": "^b"}, "abc", False),
    ("pattern ignores a non-string", {"pattern": "^b"}, 1, True),
    ("allOf", {"allOf": [{"type": "integer"}, {"minimum": 2}]}, 3, True),
    ("allOf rejects", {"allOf": [{"type": "integer"}, {"minimum": 2}]}, 1, False),
    ("anyOf", {"anyOf": [{"type": "string"}, {"type": "integer"}]}, "a", True),
    ("anyOf rejects", {"anyOf": [{"type": "string"}, {"type": "integer"}]}, 1.5, False),
    ("oneOf: two fit", {"oneOf": [{"type": "integer"}, {"minimum": 0}]}, 5, False),
    ("oneOf: one fits", {"oneOf": [{"type": "integer"}, {"minimum": 0}]}, 0.5, True),
    ("oneOf: none fits", {"oneOf": [{"type": "integer"}, {"type": "string"}]}, None, False),
    ("not", {"not": {"type": "string"}}, "a", False),
    ("not holds", {"not": {"type": "string"}}, 1, True),
    (
        "if/then",
        {"if": {"type": "string"}, "then": {"minLength": 2}, "else": {"type": "integer"}},
        "a",
        False,
    ),
    (
        "if/then holds",
        {"if": {"type": "string"}, "then": {"minLength": 2}, "else": {"type": "integer"}},
        "ab",
        True,
    ),
    (
        "if/else",
        {"if": {"type": "string"}, "then": {"minLength": 2}, "else": {"type": "integer"}},
        1.5,
        False,
    ),
    (
        "if/else holds",
        {"if": {"type": "string"}, "then": {"minLength": 2}, "else": {"type": "integer"}},
        1,
        True,
    ),
    ("if without then or else", {"if": False}, 1, True),
    ("then without if is ignored", {"then": False}, 1, True),
    ("else without if is ignored", {"else": False}, 1, True),
    ("format is not asserted", {"format": "email"}, "not an email", True),
    ("format date-time is not asserted", {"type": "string", "format": "date-time"}, "yesterday", True),
    (
        "annotations mean nothing",
        {"title": "t", "description": "d", "default": 3, "examples": [1]},
        "x",
        True,
    ),
    # Keywords the compiler leaves to jsonschema (delegated): jsonschema's own verdict.
    ("uniqueItems (delegated)", {"uniqueItems": True}, [1, 1.0], False),
    ("uniqueItems: 1 and True differ", {"uniqueItems": True}, [1, True], True),
    ("patternProperties (delegated)", {"patternProperties": {"^x": {"type": "integer"}}}, {"xa": "s"}, False),
    (
        "patternProperties exempt from additionalProperties",
        {"patternProperties": {"^x": {}}, "additionalProperties": False},
        {"xa": 1},
        True,
    ),
    ("propertyNames (delegated)", {"propertyNames": {"maxLength": 2}}, {"abc": 1}, False),
    ("propertyNames holds", {"propertyNames": {"maxLength": 2}}, {"ab": 1}, True),
    ("dependencies (delegated)", {"dependencies": {"a": ["b"]}}, {"a": 1}, False),
    ("contains (delegated)", {"contains": {"type": "string"}}, [1, "a"], True),
    ("multipleOf (delegated)", {"multipleOf": 0.5}, 1.25, False),
    ("minProperties (delegated)", {"minProperties": 1}, {}, False),
    ("additionalItems (delegated)", {"items": [{}], "additionalItems": False}, [1, 2], False),
    (
        "a delegated node inside a compiled one",
        {"properties": {"a": {"uniqueItems": True}}},
        {"a": [[1], [1]]},
        False,
    ),
    (
        "a delegated node's $ref",
        {"properties": {"a": {"maxProperties": 1, "$ref": REF_PREFIX + "Text"}}},
        {"a": "x"},
        True,
    ),
    # Recursion through $ref terminates (compiled on first use) and judges every level.
    ("recursive $ref", _ref("Tree"), {"children": [{"children": [{"value": 1}]}, {}]}, True),
    ("recursive $ref, deep error", _ref("Tree"), {"children": [{"children": [{"value": "x"}]}]}, False),
    ("recursive $ref, deep unknown key", _ref("Tree"), {"children": [{"children": [{"other": 1}]}]}, False),
    ("mutual $ref", _ref("Ping"), {"pong": {"pong": {"pong": None}}}, True),
    ("mutual $ref, deep error", _ref("Ping"), {"pong": {"pong": {"pong": 1}}}, False),
    # Our discriminated unions: only the case the value names applies.
    ("union: the named case", _ref("Shape"), {"kind": "circle", "radius": 1}, True),
    ("union: the named case fails", _ref("Shape"), {"kind": "circle", "side": 1}, False),
    ("union: an unknown value", _ref("Shape"), {"kind": "hexagon"}, False),
    ("union: no value", _ref("Shape"), {"radius": 1}, False),
    ("union: not an object", _ref("Shape"), "circle", False),
    (
        "union without a type: a non-object meets plain allOf (every case holds vacuously)",
        {k: v for k, v in COMPONENTS["Shape"].items() if k != "type"},
        "circle",
        True,
    ),
]


def _compiled(schema: Any) -> Any:
    doc = {"components": {"schemas": COMPONENTS}}
    return Compiler(COMPONENTS, lambda node: validators.compile_validator(doc, node).is_valid).schema(schema)


@pytest.mark.parametrize(
    ("what", "schema", "instance", "expected"), KEYWORD_TABLE, ids=[row[0] for row in KEYWORD_TABLE]
)
def test_keyword_verdicts(what: str, schema: Any, instance: Any, expected: bool) -> None:
    plain = Draft7Validator({"allOf": [schema], "components": {"schemas": COMPONENTS}})
    assert plain.is_valid(instance) == expected, "the table disagrees with jsonschema"
    assert _compiled(schema)(instance) == expected


def test_delegated_keywords_are_every_draft7_keyword_not_compiled() -> None:
    """A keyword added to jsonschema's Draft 7 and not compiled is delegated, never ignored."""
    from vapiops.vapispec import verdict

    assert verdict.DRAFT7_KEYWORDS == set(Draft7Validator.VALIDATORS)
    assert verdict._DELEGATED | verdict._COMPILED >= set(Draft7Validator.VALIDATORS)
    assert {"uniqueItems", "patternProperties", "propertyNames", "dependencies"} <= verdict._DELEGATED


# ---------------------------------------------------------------------------------------------
# 3. check(): a valid body never reaches jsonschema; any other body gets the issues it always got.

VALID_BODIES = [
    ("assistant", {"firstMessage": "Hello.", "voice": {"provider": "11labs", "voiceId": "burt"}}, False),
    ("assistant", {"name": "x", "maxDurationSeconds": 600.0}, True),
    ("tool", {"type": "function", "function": {"name": "lookup"}}, False),
    (
        "credential",
        {"provider": "11labs", "apiKey": "sk-sample-not-a-real-key-0001", "name": "Voice key"},
        False,
    ),
    ("squad", {"members": [{"assistantId": "front-desk"}]}, False),
]

INVALID_BODIES = [
    # (kind, body, update, allow_extra, open_world)
    (
        "assistant",
        {"firstMessage": 3, "nmae": "x", "voice": {"provider": "11labs", "voiceId": 5}},
        False,
        (),
        False,
    ),
    ("assistant", {"firstMessage": 3, "nmae": "x", "unknownThing": 1}, False, (), True),
    ("assistant", {"firstMessage": "x", "unknownThing": 1}, False, ("unknownThing",), False),
    ("assistant", {"maxDurationSeconds": True, "voice": {"provider": "nobody"}}, True, (), False),
    ("tool", {"type": "function", "function": {"name": 3}, "async": "no"}, True, (), False),
    ("credential", {"provider": "11labs"}, False, (), False),
    ("squad", {"members": [{"assistantId": 1, "extra": True}]}, False, (), True),
]


def _refuse(name: str) -> Any:
    raise AssertionError(f"jsonschema was asked about a valid body ({name})")


@pytest.mark.parametrize(("kind", "body", "update"), VALID_BODIES)
def test_a_valid_body_never_reaches_jsonschema(kind: str, body: dict, update: bool, monkeypatch) -> None:
    monkeypatch.setattr(validators, "_validator", _refuse)
    assert validators.check(KINDS[kind], body, update=update) == []


@pytest.mark.parametrize(("kind", "body", "update", "allow_extra", "open_world"), INVALID_BODIES)
def test_any_other_body_gets_the_issues_jsonschema_finds(
    kind, body, update, allow_extra, open_world, monkeypatch
):
    got = validators.check(KINDS[kind], body, update=update, allow_extra=allow_extra, open_world=open_world)
    name = validators.dto_name(KINDS[kind], body, update=update)
    assert name is not None and not validators._verdict(name)(body)
    # What check() said before the verdict existed: the same call with no shortcut.
    monkeypatch.setattr(validators, "_verdict", lambda name: lambda body: False)
    assert got == validators.check(
        KINDS[kind], body, update=update, allow_extra=allow_extra, open_world=open_world
    )
    if not allow_extra and not open_world:  # then every issue is jsonschema's, as it words it
        errors = validators._validator(name).iter_errors(body)
        assert set(got) == {issue for error in errors for issue in validators._issues(error)}
        assert got
