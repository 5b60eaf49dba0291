"""Repairing the spec: the structural repairs, and REPAIRS, the order every repair runs in.

The raw spec (vapiops/data/openapi.json.gz, see SOURCE.md there) is what Vapi publishes; a plain JSON
Schema validator run over it rejects bodies the real API accepts. `repair()` fixes each known defect
with one small named function (REPAIRS) that finds its sites by scanning, so a refreshed spec is
repaired the same way (the one list of names, KNOWN_TYPE_ERRORS, holds defects no scan can see).
Each repair takes the spec, fixes it in place and returns how many sites it changed; those to
regex patterns are in pattern_repairs.
"""

from __future__ import annotations

import json
from collections.abc import Callable

from vapiops.vapispec.pattern_repairs import (
    repair_js_regex_literals,
    repair_placeholder_patterns,
    repair_uncompilable_patterns,
    repair_unicode_classes,
)
from vapiops.vapispec.walk import (
    _JSON_TYPE,
    _SUB_LISTS,
    _body_schemas,
    _component_nodes,
    _components,
    _target,
)
from vapiops.vapispec.wiring_repairs import (
    repair_credential_paths,
    repair_enum_beside_oneof,
    repair_missing_union_members,
    repair_pronunciation_dictionary_paths,
)

# Marks a discriminated union made by repair_oneof (value: the discriminating property). Plain JSON
# Schema ignores it; our validator uses it to go straight to the one case whose `if` can hold.
UNION_MARK = "x-vapiops-discriminator"

# Schemas that describe a user's own JSON Schema (structured-output `schema`, function `parameters`):
# any JSON Schema keyword is legitimate there, so they stay open although they list `properties`.
OPEN_OBJECTS = frozenset({"JsonSchema", "OpenAIFunctionParameters"})


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
        if (
            node.get("type") == "array"
            and isinstance(values, list)
            and not any(isinstance(v, list) for v in values)
        ):
            items = node.get("items")
            if isinstance(items, dict) and "enum" not in items and "$ref" not in items:
                items["enum"] = values
            del node["enum"]
            count += 1
    return count


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
        sub = (_components(doc).get(name, {}).get("properties") or {}).get(prop)
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
    repair_credential_paths,  # first: the paths it adds are repaired like the published ones
    repair_pronunciation_dictionary_paths,  # likewise
    repair_js_regex_literals,
    repair_unicode_classes,
    repair_placeholder_patterns,
    repair_uncompilable_patterns,
    repair_duplicate_enums,
    repair_empty_enums,
    repair_enum_beside_oneof,  # before repair_enum_types and repair_oneof, which read the enum
    repair_array_enums,
    repair_enum_types,
    repair_known_type_errors,
    repair_nullable,
    repair_missing_union_members,  # before repair_oneof turns the unions into if/then cases
    repair_closed_objects,  # before repair_oneof: the union wrappers it makes must stay open
    repair_discriminator_mappings,
    repair_oneof,
    repair_openapi_keywords,
)


def repair(doc: dict) -> dict:
    """Apply every repair in order, in place; the sites each changed are kept in `x-vapiops-repairs`."""
    doc["x-vapiops-repairs"] = {fix.__name__: fix(doc) for fix in REPAIRS}
    return doc
