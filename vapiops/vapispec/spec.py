"""Vapi's OpenAPI spec inside vapiops: the vendored copy, repaired, and request-body validation against it.

The raw spec (vapiops/data/openapi.json.gz, see SOURCE.md there) is what Vapi publishes; a plain JSON
Schema validator run over it rejects bodies the real API accepts. `repair()` fixes each known defect
with one small named function (REPAIRS) that finds its sites by scanning, so a refreshed spec is
repaired the same way (the one list of names, KNOWN_TYPE_ERRORS, holds defects no scan can see).
Validators are compiled once per DTO and cached. Public API: SchemaIssue, spec, dto_name,
discriminator_values, check, accepts, filter_to_update, apply_defaults.
"""

from __future__ import annotations

import copy
import functools
import gzip
import json
import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from importlib import resources
from typing import Any

from jsonschema import Draft7Validator, validators  # type: ignore[import-untyped]
from jsonschema.exceptions import ValidationError as JsonSchemaError  # type: ignore[import-untyped]

from vapiops import paths
from vapiops.errors import did_you_mean
from vapiops.kinds import Kind, is_secret_path
from vapiops.paths import Path

REF_PREFIX = "#/components/schemas/"
# Marks a discriminated union made by repair_oneof (value: the discriminating property). Plain JSON
# Schema ignores it; our validator uses it to go straight to the one case whose `if` can hold.
UNION_MARK = "x-vapiops-discriminator"

# Schemas that describe a user's own JSON Schema (structured-output `schema`, function `parameters`):
# any JSON Schema keyword is legitimate there, so they stay open although they list `properties`.
OPEN_OBJECTS = frozenset({"JsonSchema", "OpenAIFunctionParameters"})

# Defaults the spec states only in prose: every LLM model schema says of `temperature` "Default is
# 0.5." but has no `default`. apply_defaults fills them (for the sandbox, so plans meet a nested value
# the server chose) inside LLM model objects only: schemas with both `messages` and `temperature`.
EXTRA_MODEL_DEFAULTS: dict[str, Any] = {"temperature": 0.5}


@dataclass(frozen=True)
class SchemaIssue:
    """One way a request body breaks its DTO: where (a Path inside the body) and what is wrong."""

    path: Path
    message: str
    unknown_property: str | None = None


# ---------------------------------------------------------------------------------------------
# Loading

def raw_spec() -> dict:
    """The vendored spec exactly as Vapi publishes it (a fresh copy on every call)."""
    data = resources.files("vapiops").joinpath("data/openapi.json.gz").read_bytes()
    return json.loads(gzip.decompress(data))


@functools.cache
def spec() -> dict:
    """The repaired spec, loaded once. Shared: callers must not modify it."""
    return repair(raw_spec())


def schemas(doc: dict | None = None) -> dict[str, dict]:
    """The component schemas by name (of the repaired spec unless another document is given)."""
    return (spec() if doc is None else doc)["components"]["schemas"]


# ---------------------------------------------------------------------------------------------
# Walking schemas

_SUB_LISTS = ("allOf", "anyOf", "oneOf")
_SUB_ONE = ("items", "not", "if", "then", "else", "additionalProperties", "contains", "propertyNames")
_SUB_MAPS = ("properties", "patternProperties", "$defs", "definitions")


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
        for key in _SUB_LISTS:
            if isinstance(node.get(key), list):
                stack.extend(reversed(node[key]))
        for key in _SUB_ONE:
            if isinstance(node.get(key), dict):
                stack.append(node[key])
        for key in _SUB_MAPS:
            if isinstance(node.get(key), dict):
                stack.extend(reversed(list(node[key].values())))


def _component_nodes(doc: dict, skip: frozenset[str] = frozenset()) -> Iterator[dict]:
    for name, schema in schemas(doc).items():
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
        schema = schemas(doc)[schema["$ref"].removeprefix(REF_PREFIX)]
    return schema


# ---------------------------------------------------------------------------------------------
# Repairs: each takes the spec, fixes it in place and returns how many sites it changed.

_JS_REGEX_LITERAL = re.compile(r"/(.+)/([a-z]*)", re.DOTALL)


def repair_js_regex_literals(doc: dict) -> int:
    """`pattern: "/^[a-z]+$/u"` is a JavaScript regex literal: JSON Schema wants the bare source.

    The `u` flag is what JSON Schema regexes mean anyway; other flags cannot be written in a JSON
    Schema pattern, so such a pattern is dropped rather than enforced wrongly.
    """
    count = 0
    for node in _component_nodes(doc):
        match = _JS_REGEX_LITERAL.fullmatch(node.get("pattern") or "") if isinstance(node.get("pattern"), str) else None
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
                out.append(pattern[i:i + 2])
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
                    items.append(pattern[end:end + step])
                    end += step
            if not props:
                out.append(pattern[i:end + 1])
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


def repair_duplicate_enums(doc: dict) -> int:
    """Enum values listed twice (Deepgram voices, ended reasons): keep each once."""
    count = 0
    for node in _component_nodes(doc):
        values = node.get("enum")
        if isinstance(values, list):
            unique = list({json.dumps(v, sort_keys=True): v for v in values}.values())
            if len(unique) != len(values):
                node["enum"] = unique
                count += 1
    return count


def repair_empty_enums(doc: dict) -> int:
    """`enum: []` (a list of presets Vapi left empty) accepts nothing: drop it, keep the type."""
    count = 0
    for node in _component_nodes(doc):
        if node.get("enum") == []:
            del node["enum"]
            count += 1
    return count


def repair_array_enums(doc: dict) -> int:
    """An enum written on an array (`serverMessages`) constrains the array, not its items: move it."""
    count = 0
    for node in _component_nodes(doc):
        values = node.get("enum")
        if node.get("type") == "array" and isinstance(values, list) and not any(
            isinstance(v, list) for v in values
        ):
            items = node.get("items")
            if isinstance(items, dict) and "enum" not in items and "$ref" not in items:
                items["enum"] = values
            del node["enum"]
            count += 1
    return count


_JSON_TYPE = {str: "string", bool: "boolean", int: "number", float: "number", dict: "object", list: "array"}


def _json_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    return _JSON_TYPE.get(type(value), type(value).__name__)


def repair_enum_types(doc: dict) -> int:
    """`type: object` with string enum values (TransferPlan.sipVerb): the values say what the type is."""
    count = 0
    for node in _component_nodes(doc):
        values, declared = node.get("enum"), node.get("type")
        if not isinstance(values, list) or not values or not isinstance(declared, str):
            continue
        found = {_JSON_TYPE.get(type(v), "null") for v in values if v is not None}
        if declared == "integer" and found == {"number"}:
            continue
        if found and declared not in found:
            node["type"] = sorted(found)[0] if len(found) == 1 else sorted(found)
            count += 1
    return count


# Property types the generator got wrong where nothing in the schema itself shows it (found by
# reviewing every property typed as a bare `object`): "Schema.property" -> the real JSON type.
KNOWN_TYPE_ERRORS = {
    # "the language (ISO 639-1) that is enforced", required: a code such as "en", not an object.
    "NeuphonicVoice.language": "string",
    "FallbackNeuphonicVoice.language": "string",
}


def repair_known_type_errors(doc: dict) -> int:
    """Properties declared `type: object` that hold a string (KNOWN_TYPE_ERRORS)."""
    count = 0
    for where, json_type in KNOWN_TYPE_ERRORS.items():
        name, prop = where.split(".")
        sub = (schemas(doc).get(name, {}).get("properties") or {}).get(prop)
        if isinstance(sub, dict) and sub.get("type") != json_type:
            sub["type"] = json_type
            count += 1
    return count


def repair_nullable(doc: dict) -> int:
    """OAS 3.0 `nullable: true` means null is accepted too; JSON Schema says so with the type."""
    count = 0
    for node in _component_nodes(doc):
        if not node.pop("nullable", False):
            continue
        count += 1
        declared = node.get("type")
        if isinstance(declared, str):
            node["type"] = [declared, "null"]
            if isinstance(node.get("enum"), list) and None not in node["enum"]:
                node["enum"].append(None)
        elif declared is None:
            rest = {k: node.pop(k) for k in list(node) if k not in ("description", "title", "default")}
            node["anyOf"] = [rest, {"type": "null"}]
    return count


def repair_closed_objects(doc: dict) -> int:
    """Vapi's NestJS whitelist answers 400 "property X should not exist" to unknown properties.

    So every object schema that lists `properties` and says nothing of others refuses them,
    except OPEN_OBJECTS (user-written JSON Schema).
    """
    count = 0
    for node in _component_nodes(doc, skip=OPEN_OBJECTS):
        if (
            isinstance(node.get("properties"), dict)
            and "additionalProperties" not in node
            and not any(key in node for key in _SUB_LISTS)
        ):
            node["additionalProperties"] = False
            count += 1
    return count


def _branch_values(doc: dict, branch: dict, prop: str) -> list | None:
    """The values a union branch declares for its discriminating property, or None."""
    target = _target(doc, branch)
    sub = (target.get("properties") or {}).get(prop)
    if not isinstance(sub, dict):
        return None
    if "const" in sub:
        return [sub["const"]]
    values = sub.get("enum")
    return [v for v in values if v is not None] if isinstance(values, list) and values else None


def repair_discriminator_mappings(doc: dict) -> int:
    """Rebuild each discriminator mapping from its branches' own enums.

    The published maps miss entries (POST /tool has CreateCodeToolDTO but no `code`); the branch
    enums are what the API dispatches on. An old entry survives only if it names one of the branches.
    """
    count = 0
    nodes = list(_component_nodes(doc)) + list(_body_schemas(doc))
    for node in nodes:
        disc, branches = node.get("discriminator"), node.get("oneOf") or node.get("anyOf")
        if not isinstance(disc, dict) or not isinstance(branches, list):
            continue
        prop, old = disc.get("propertyName"), disc.get("mapping") or {}
        if not isinstance(prop, str):
            continue
        refs = [b["$ref"] for b in branches if "$ref" in b]
        mapping: dict[str, str] = {}
        for branch in branches:
            for value in (_branch_values(doc, branch, prop) or []) if "$ref" in branch else []:
                mapping.setdefault(str(value), branch["$ref"])
        for value, ref in old.items():
            if ref in refs and value not in mapping:
                mapping[value] = ref
        if mapping != old:
            disc["mapping"] = mapping
            count += 1
    return count


def _discriminator(doc: dict, branches: list[dict], explicit: dict | None) -> str | None:
    """The property that names each branch: the declared discriminator, else one every branch
    requires with a fixed value (an enum or const), preferring the one with most distinct values."""
    targets = [_target(doc, b) for b in branches]
    if not all(t.get("type") == "object" or "properties" in t for t in targets):
        return None
    if explicit and explicit.get("propertyName"):
        return explicit["propertyName"]
    common = set.intersection(*(set(t.get("properties") or {}) for t in targets))
    best, best_distinct = None, 0
    for prop in sorted(common):
        if not all(prop in (t.get("required") or []) for t in targets):
            continue
        values = [_branch_values(doc, b, prop) for b in branches]
        if any(v is None for v in values):
            continue
        distinct = len({json.dumps(x) for v in values for x in v})  # type: ignore[union-attr]
        if distinct > best_distinct:
            best, best_distinct = prop, distinct
    return best if best_distinct > 1 else None


def _discriminated_union(doc: dict, branches: list[dict], explicit: dict | None) -> dict | None:
    """The branches as "if prop == value then that branch": valid exactly when anyOf would be, but an
    error names the one branch the body chose (and an unknown value is one clear enum error)."""
    prop = _discriminator(doc, branches, explicit)
    if prop is None:
        return None
    mapping = (explicit or {}).get("mapping") or {}
    by_value: dict[str, list[dict]] = {}
    for branch in branches:
        values = _branch_values(doc, branch, prop)
        if values is None and "$ref" in branch:
            values = [v for v, ref in mapping.items() if ref == branch["$ref"]] or None
        if values is None:
            return None
        for value in values:
            by_value.setdefault(json.dumps(value), []).append(branch)
    cases = []
    for key, group in by_value.items():
        then = group[0] if len(group) == 1 else {"anyOf": group}
        # `required` in the `if`: without it a body lacking the property would match every case.
        condition = {"properties": {prop: {"const": json.loads(key)}}, "required": [prop]}
        cases.append({"if": condition, "then": then})
    return {
        "type": "object",
        "required": [prop],
        "properties": {prop: {"enum": [json.loads(k) for k in by_value]}},
        "allOf": cases,
        UNION_MARK: prop,
    }


def repair_oneof(doc: dict) -> int:
    """`oneOf` fails when a value fits two branches (voiceId "burt": a preset *and* a string), so
    every oneOf becomes a discriminated union where its branches name themselves, else an anyOf."""
    count = 0
    for node in _component_nodes(doc):
        branches = node.pop("oneOf", None)
        if not isinstance(branches, list):
            continue
        count += 1
        explicit = node.pop("discriminator", None)
        all_of = node.get("allOf") or []
        if len(branches) == 1 and any(part.get("$ref") == branches[0].get("$ref") for part in all_of):
            continue  # `{oneOf: [X], allOf: [X]}`: the allOf alone says it
        union = _discriminated_union(doc, branches, explicit) or {"anyOf": branches}
        if any(key in node for key in union):
            node.setdefault("allOf", []).append(union)
        else:
            node.update(union)
    return count


_OPENAPI_ONLY = ("example", "xml", "externalDocs", "discriminator", "nullable")


def repair_openapi_keywords(doc: dict) -> int:
    """OpenAPI-only keywords (`example`, `xml`, ...) mean nothing to JSON Schema: remove them."""
    count = 0
    for node in _component_nodes(doc):
        for key in _OPENAPI_ONLY:
            if key in node:
                del node[key]
                count += 1
    return count


REPAIRS: tuple[Callable[[dict], int], ...] = (
    repair_js_regex_literals,
    repair_unicode_classes,
    repair_placeholder_patterns,
    repair_uncompilable_patterns,
    repair_duplicate_enums,
    repair_empty_enums,
    repair_array_enums,
    repair_enum_types,
    repair_known_type_errors,
    repair_nullable,
    repair_closed_objects,  # before repair_oneof: the union wrappers it makes must stay open
    repair_discriminator_mappings,
    repair_oneof,
    repair_openapi_keywords,
)


def repair(doc: dict) -> dict:
    """Apply every repair in order, in place; the sites each changed are kept in `x-vapiops-repairs`."""
    doc["x-vapiops-repairs"] = {fix.__name__: fix(doc) for fix in REPAIRS}
    return doc


# ---------------------------------------------------------------------------------------------
# Validators

_PLAIN_ALL_OF = Draft7Validator.VALIDATORS["allOf"]


def _all_of(validator: Any, parts: list, instance: Any, schema: dict) -> Iterator[JsonSchemaError]:
    """allOf, with a shortcut for our discriminated unions: of their `if prop == value then branch`
    cases only the one naming the object's value can apply, so the others' `if`s are not evaluated
    (the same verdict as plain JSON Schema, at less than half the cost: most of a body is unions)."""
    prop = schema.get(UNION_MARK)
    if prop is None or not isinstance(instance, dict):
        yield from _PLAIN_ALL_OF(validator, parts, instance, schema)
        return
    value = instance.get(prop, _NO_VALUE)
    for index, case in enumerate(parts):
        if case["if"]["properties"][prop]["const"] == value:
            yield from validator.descend(instance, case["then"], schema_path=index)


_NO_VALUE = object()
Validator = validators.extend(Draft7Validator, {"allOf": _all_of})


def compile_validator(doc: dict, schema: dict | str) -> Draft7Validator:
    """A validator for a component (by name) or any schema whose $refs point into doc's components."""
    root = {"$ref": REF_PREFIX + schema} if isinstance(schema, str) else {"allOf": [schema]}
    return Validator({**root, "components": {"schemas": schemas(doc)}})


@functools.cache
def _validator(name: str) -> Draft7Validator:
    if name not in schemas():
        raise KeyError(f"no schema {name!r} in Vapi's spec")
    return compile_validator(spec(), name)


@functools.cache
def _mapping(path: str, prop: str, update: bool) -> dict[str, str]:
    """Discriminator value -> DTO name, from the (repaired) body schema of POST /x or PATCH /x/{id}."""
    item = spec()["paths"][path + "/{id}" if update else path]
    body = item["patch" if update else "post"]["requestBody"]["content"]["application/json"]["schema"]
    disc = body.get("discriminator") or {}
    if disc.get("propertyName") != prop:
        return {}
    return {value: ref.removeprefix(REF_PREFIX) for value, ref in disc.get("mapping", {}).items()}


def dto_name(kind: Kind, body: dict, *, update: bool = False) -> str | None:
    """The schema name of the Create (or Update) DTO this body is checked against; for a
    discriminated kind the one its discriminator value selects, None if that is missing/unknown."""
    if kind.discriminator is None:
        return kind.update_dto if update else kind.create_dto
    value = body.get(kind.discriminator) if isinstance(body, dict) else None
    if not isinstance(value, str):
        return None
    return _mapping(kind.path, kind.discriminator, update).get(value)


def discriminator_values(kind: Kind, *, update: bool = False) -> list[str]:
    """Every value the discriminator may take (every tool `type`), sorted; [] for other kinds."""
    if kind.discriminator is None:
        return []
    return sorted(_mapping(kind.path, kind.discriminator, update))


def check(
    kind: Kind, body: dict, *, update: bool = False, allow_extra: Iterable[str] = ()
) -> list[SchemaIssue]:
    """Every way `body` breaks the Create (or Update) DTO, sorted by path; [] when it is valid.

    allow_extra: top-level property names accepted although the spec omits them. For a discriminated
    kind (tool) the body must carry its discriminator, in a PATCH body too: it chooses the DTO.
    """
    if not isinstance(body, dict):
        return [SchemaIssue((), f"expected an object, got {_json_type(body)}")]
    name = dto_name(kind, body, update=update)
    if name is None:
        return [_discriminator_issue(kind, body, update)]
    extra = frozenset(allow_extra)
    issues: list[SchemaIssue] = []
    for error in _validator(name).iter_errors(body):
        issues.extend(_issues(error))
    kept = [i for i in issues if not (len(i.path) == 1 and i.unknown_property in extra)]
    return sorted(dict.fromkeys(kept), key=lambda i: (_path_key(i.path), i.message))


def _path_key(path: Path) -> tuple:
    return tuple((0, step, "") if isinstance(step, int) else (1, 0, step) for step in path)


def _discriminator_issue(kind: Kind, body: dict, update: bool) -> SchemaIssue:
    prop = kind.discriminator or ""
    valid = discriminator_values(kind, update=update)
    value = body.get(prop)
    if value is None:
        return SchemaIssue((), f"missing required property '{prop}' (one of: {', '.join(valid)})")
    return SchemaIssue(
        (prop,),
        f"unknown {kind.name} {prop} {_show(value, (prop,))}{_did_you_mean(value, valid)}; "
        f"expected one of: {', '.join(valid)}",
    )


# ---------------------------------------------------------------------------------------------
# Error messages

def _did_you_mean(word: Any, choices: Iterable[Any]) -> str:
    return did_you_mean(word, choices, cutoff=0.75)  # a DTO has many properties: suggest only close ones


def _show(value: Any, path: Path) -> str:
    """A value for a message: never a secret, never a whole prompt."""
    if is_secret_path(path):
        return "(sensitive)"
    if isinstance(value, str):
        return repr(value if len(value) <= 60 else value[:57] + "...")
    if isinstance(value, (dict, list)):
        return f"an {_json_type(value)}" if isinstance(value, dict) else "an array"
    return json.dumps(value)


def _choices(values: list[Any], limit: int = 25) -> str:
    shown = ", ".join(json.dumps(v) if not isinstance(v, str) else repr(v) for v in values[:limit])
    more = f", ... ({len(values) - limit} more)" if len(values) > limit else ""
    return shown + more


def _type_names(expected: str | list[str]) -> str:
    names = [expected] if isinstance(expected, str) else list(expected)
    return " or ".join("an object" if n == "object" else "an array" if n == "array" else n for n in names)


def _issues(error: JsonSchemaError) -> list[SchemaIssue]:
    """One jsonschema error as the issues a user should read."""
    path: Path = tuple(error.absolute_path)
    keyword, expected, value = error.validator, error.validator_value, error.instance
    if keyword == "additionalProperties" and expected is False and isinstance(value, dict):
        known = list(error.schema.get("properties") or {})
        return [
            SchemaIssue(path + (key,), f"property {key} should not exist{_did_you_mean(key, known)}", key)
            for key in value
            if key not in known
        ]
    if keyword in ("anyOf", "oneOf"):
        return _any_of_issues(error)
    return [SchemaIssue(path, _message(error, path))]


def _message(error: JsonSchemaError, path: Path) -> str:
    keyword, expected, value = error.validator, error.validator_value, error.instance
    shown = _show(value, path)
    if keyword == "required":
        # jsonschema reports each missing property as its own error, naming it only in the text.
        match = re.fullmatch(r"(.+) is a required property", error.message)
        return f"missing required property {match.group(1) if match else error.message}"
    if keyword == "type":
        return f"expected {_type_names(expected)}, got {_json_type(value)}"
    if keyword == "enum":
        return f"{shown} is not one of the allowed values{_did_you_mean(value, expected)}: {_choices(expected)}"
    if keyword == "const":
        return f"expected {expected!r}, got {shown}"
    if keyword in ("maxLength", "minLength"):
        if keyword == "minLength" and expected == 1:
            return "must not be empty"
        bound = "at most" if keyword == "maxLength" else "at least"
        return f"is {len(value)} characters long; {bound} {expected} allowed"
    if keyword in ("maxItems", "minItems"):
        bound = "at most" if keyword == "maxItems" else "at least"
        return f"has {len(value)} items; {bound} {expected} allowed"
    if keyword in ("maximum", "exclusiveMaximum"):
        return f"{shown} is greater than the maximum {expected}" + (" (exclusive)" if "exclusive" in keyword else "")
    if keyword in ("minimum", "exclusiveMinimum"):
        return f"{shown} is less than the minimum {expected}" + (" (exclusive)" if "exclusive" in keyword else "")
    if keyword == "pattern":
        return f"{shown} does not match the pattern {expected}"
    if keyword == "uniqueItems":
        return "has duplicate items"
    if is_secret_path(path):
        return f"invalid value ({keyword})"
    return error.message


def _misfit(errors: list[JsonSchemaError]) -> bool:
    """A branch whose failure shows it is not what the user meant: the wrong type or fixed value
    right at the value, or a wrong single-valued (discriminating) property directly inside it."""
    for error in errors:
        depth = len(error.relative_path)
        if depth == 0 and error.validator in ("type", "enum", "const"):
            return True
        if depth == 1 and (
            error.validator == "const" or (error.validator == "enum" and len(error.validator_value) == 1)
        ):
            return True
    return False


def _any_of_issues(error: JsonSchemaError) -> list[SchemaIssue]:
    path: Path = tuple(error.absolute_path)
    by_branch: dict[int, list[JsonSchemaError]] = {}
    for sub in error.context or []:
        by_branch.setdefault(sub.relative_schema_path[0], []).append(sub)
    fits = {b: errs for b, errs in by_branch.items() if not _misfit(errs)}
    if fits:
        # The branch the value came closest to, i.e. with the fewest problems, tells the user most.
        best = min(fits, key=lambda b: (len(fits[b]), b))
        return [issue for sub in fits[best] for issue in _issues(sub)]
    forms = [_describe(branch) for branch in error.validator_value]
    return [SchemaIssue(path, f"expected {'; or '.join(forms)}; got {_show(error.instance, path)}")]


def _describe(branch: dict) -> str:
    if "$ref" in branch:
        return branch.get("title") or branch["$ref"].removeprefix(REF_PREFIX)
    if "enum" in branch:
        return "one of " + _choices(branch["enum"], limit=8)
    if "const" in branch:
        return repr(branch["const"])
    if "type" in branch:
        return _type_names(branch["type"])
    return branch.get("title", "a value of another form")


# ---------------------------------------------------------------------------------------------
# Shapes: which properties a schema allows for a given object

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


# ---------------------------------------------------------------------------------------------
# Defaults (for the sandbox)

_NO_DEFAULT = object()
_DEFAULT_TAG = re.compile(r"@default\s+(\S.*)")
_NUMBER = re.compile(r"-?\d+(?:\.\d+)?")


def described_default(text: str, enum: list | None = None) -> Any:
    """The primitive value after "@default" in a description, or _NO_DEFAULT.

    Handles '…', "…" and `…` strings, true/false, numbers ("600 (10 minutes)" is 600) and a bare
    word only when it is one of the enum values ("@default fixed"); "[]", "undefined", "UUID",
    prose are no default.
    """
    match = _DEFAULT_TAG.search(text or "")
    if not match:
        return _NO_DEFAULT
    rest = match.group(1).strip()
    if rest[0] in "'\"`":
        end = rest.find(rest[0], 1)
        return rest[1:end] if end > 0 else _NO_DEFAULT
    word = rest.split()[0].rstrip(".,;")
    if word in ("true", "false"):
        return word == "true"
    if _NUMBER.fullmatch(word):
        return float(word) if "." in word else int(word)
    if enum and word in enum:
        return word
    return _NO_DEFAULT


def _default_for(schema: dict) -> Any:
    if "default" in schema:
        return schema["default"]
    return described_default(schema.get("description", ""), _target(spec(), schema).get("enum"))


def apply_defaults(kind: Kind, body: dict) -> dict:
    """A copy of body with schema defaults filled in where absent: top-level properties, and inside
    nested objects that are present. Every filled value is one the schema accepts, and the result
    still passes check(kind, ..., update=False) whenever body did."""
    out = copy.deepcopy(body)
    dto = _dto(kind, body, update=False)
    if dto is None:
        return out
    added: list[Path] = []
    _fill(out, [dto], (), added)
    # Safety net for constraints between fields that no per-property check sees. An issue the
    # body did not have before is blamed on every default added in an object that contains the
    # issue (the same object or one above it): a default taken from the wrong branch of a union
    # (a transfer destination's `transferMode` on a handoff destination) makes the union pick
    # that branch, and the issue then shows on a sibling (`assistantId should not exist`).
    before = {(i.path, i.message) for i in check(kind, body)}
    for _ in range(len(added)):
        new_issues = [i.path for i in check(kind, out) if (i.path, i.message) not in before]
        bad = [p for at in new_issues for p in added if at[: len(p)] == p or at[: len(p) - 1] == p[:-1]]
        if not bad:
            break
        for p in dict.fromkeys(bad):
            paths.delete(out, p)  # tolerant: p may sit inside a default already taken out
            added.remove(p)
    return out


def _fill(value: dict, schema_list: list[dict], at: Path, added: list[Path]) -> None:
    props, _ = _shape(schema_list, value)
    is_model = "messages" in props and "temperature" in props
    for key, subs in props.items():
        if key in value:
            continue
        candidate = _default_for(subs[0]) if len(subs) == 1 else _NO_DEFAULT
        if candidate is _NO_DEFAULT and is_model and key in EXTRA_MODEL_DEFAULTS:
            candidate = EXTRA_MODEL_DEFAULTS[key]
        if candidate is not _NO_DEFAULT and compile_validator(spec(), subs[0]).is_valid(candidate):
            value[key] = copy.deepcopy(candidate)
            added.append(at + (key,))
    for key, item in value.items():
        if key not in props:
            continue
        if isinstance(item, dict):
            _fill(item, props[key], at + (key,), added)
        elif isinstance(item, list):
            items = _items(props[key])
            for index, element in enumerate(item):
                if isinstance(element, dict) and items:
                    _fill(element, items, at + (key, index), added)


# ---------------------------------------------------------------------------------------------
# Self-contained schemas (for editors)

def bundle(roots: Iterable[str]) -> dict[str, dict]:
    """Deep copies of the named component schemas and every schema they reach, with `$ref`s
    rewritten to `#/$defs/<name>`: the `$defs` of a self-contained JSON Schema."""
    found: dict[str, dict] = {}
    todo = list(roots)
    while todo:
        name = todo.pop()
        if name in found:
            continue
        found[name] = copy.deepcopy(schemas()[name])
        for node in walk(found[name]):
            # A node shared by two places (a union case) is met twice: rewrite it once.
            if node.get("$ref", "").startswith(REF_PREFIX):
                target = node["$ref"].removeprefix(REF_PREFIX)
                node["$ref"] = "#/$defs/" + target
                todo.append(target)
    return dict(sorted(found.items()))
