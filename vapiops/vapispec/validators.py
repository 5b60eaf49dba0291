"""Checking request bodies against their DTOs, with validators compiled once per DTO and cached."""

from __future__ import annotations

import functools
from collections.abc import Iterable, Iterator
from typing import TYPE_CHECKING, Any

from vapiops.kinds import Kind
from vapiops.paths import Path
from vapiops.vapispec.loading import schemas, spec
from vapiops.vapispec.messages import SchemaIssue, _did_you_mean, _issues, _show
from vapiops.vapispec.repairs import UNION_MARK
from vapiops.vapispec.verdict import Compiler, Verdict
from vapiops.vapispec.walk import REF_PREFIX, _json_type

if TYPE_CHECKING:
    from jsonschema import Draft7Validator  # type: ignore[import-untyped]
    from jsonschema.exceptions import ValidationError as JsonSchemaError  # type: ignore[import-untyped]


def _all_of(validator: Any, parts: list, instance: Any, schema: dict) -> Iterator[JsonSchemaError]:
    """allOf, with a shortcut for our discriminated unions: of their `if prop == value then branch`
    cases only the one naming the object's value can apply, so the others' `if`s are not evaluated
    (the same verdict as plain JSON Schema, at less than half the cost: most of a body is unions)."""
    prop = schema.get(UNION_MARK)
    if prop is None or not isinstance(instance, dict):
        yield from _validator_class().PLAIN_ALL_OF(validator, parts, instance, schema)
        return
    value = instance.get(prop, _NO_VALUE)
    for index, case in enumerate(parts):
        if case["if"]["properties"][prop]["const"] == value:
            yield from validator.descend(instance, case["then"], schema_path=index)


_NO_VALUE = object()


@functools.cache
def _validator_class() -> Any:
    """Draft 7 with our allOf. Imported on first use: a body the compiled verdict accepts never
    needs jsonschema, so a valid project is validated without loading it."""
    from jsonschema import Draft7Validator, validators

    cls = validators.extend(Draft7Validator, {"allOf": _all_of})
    cls.PLAIN_ALL_OF = Draft7Validator.VALIDATORS["allOf"]
    return cls


def compile_validator(doc: dict, schema: dict | str) -> Draft7Validator:
    """A validator for a component (by name) or any schema whose $refs point into doc's components."""
    root = {"$ref": REF_PREFIX + schema} if isinstance(schema, str) else {"allOf": [schema]}
    return _validator_class()({**root, "components": {"schemas": schemas(doc)}})


def _known(name: str) -> str:
    if name not in schemas():
        raise KeyError(f"no schema {name!r} in Vapi's spec")
    return name


@functools.cache
def _validator(name: str) -> Draft7Validator:
    return compile_validator(spec(), _known(name))


@functools.cache
def _compiler() -> Compiler:
    doc = spec()
    return Compiler(schemas(doc), lambda node: compile_validator(doc, node).is_valid)


@functools.cache
def _verdict(name: str) -> Verdict:
    """The fast yes/no for a DTO (vapispec.verdict); jsonschema explains a no."""
    return _compiler().schema({"$ref": REF_PREFIX + _known(name)})


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


UNKNOWN_WARNING = "is not in Vapi's published spec; the API will be the judge (sent as written)"


def check(
    kind: Kind,
    body: dict,
    *,
    update: bool = False,
    allow_extra: Iterable[str] = (),
    open_world: bool = False,
) -> list[SchemaIssue]:
    """Every way `body` breaks the Create (or Update) DTO, sorted by path; [] when it is valid.

    The DTOs include the catalogue of fields known beyond the spec (vapispec.catalogue).
    allow_extra: dotted paths of properties accepted although neither lists them, at any depth
    (`messagePlan`, `model.serviceTier`; list positions are left out or written `[]`).
    open_world: how a manifest is checked. The spec is a floor, not a ceiling: an unknown property
    is a warning (issue.warning) unless it is close in spelling to a known one (an error with its
    did-you-mean). Without it (the sandbox, standing in for the real API's whitelist) every
    unknown property is an error. For a discriminated kind (tool) the body must carry its
    discriminator, in a PATCH body too: it chooses the DTO.
    """
    if not isinstance(body, dict):
        return [SchemaIssue((), f"expected an object, got {_json_type(body)}")]
    name = dto_name(kind, body, update=update)
    if name is None:
        return [_discriminator_issue(kind, body, update)]
    if _verdict(name)(body):
        return []
    allowed = frozenset(field_path(text) for text in allow_extra)
    kept: list[SchemaIssue] = []
    for error in _validator(name).iter_errors(body):
        for issue in _issues(error):
            if issue.unknown_property is not None:
                if field_path(issue.path) in allowed:
                    continue
                if open_world and not issue.typo:
                    issue = SchemaIssue(
                        issue.path, f"property {issue.unknown_property} {UNKNOWN_WARNING}", warning=True
                    )
            kept.append(issue)
    return sorted(dict.fromkeys(kept), key=lambda i: (_path_key(i.path), i.message))


def field_path(path: Path | str) -> tuple[str, ...]:
    """A field's path without list positions, from a Path or dotted text: ('model', 'serviceTier')
    for `model.serviceTier`, `members[].x` and ('members', 0, 'x') alike."""
    if isinstance(path, str):
        return tuple(part.split("[")[0] for part in path.split(".") if part.split("[")[0])
    return tuple(step for step in path if isinstance(step, str))


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
