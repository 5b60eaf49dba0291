"""Turning jsonschema's errors into SchemaIssues: what is wrong and where, in words a user can act on."""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from vapiops.errors import did_you_mean
from vapiops.kinds import is_secret_path
from vapiops.paths import Path
from vapiops.vapispec.walk import REF_PREFIX, _json_type

if TYPE_CHECKING:
    from jsonschema.exceptions import ValidationError as JsonSchemaError  # type: ignore[import-untyped]


@dataclass(frozen=True)
class SchemaIssue:
    """One way a request body breaks its DTO: where (a Path inside the body) and what is wrong."""

    path: Path
    message: str
    unknown_property: str | None = None  # set when the issue is a property the schema does not list
    typo: bool = False  # an unknown property close in spelling to a known one (the message says which)
    warning: bool = False  # open-world: not an error, the API will judge it


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
            SchemaIssue(path + (key,), f"property {key} should not exist{hint}", key, typo=bool(hint))
            for key in value
            if key not in known
            for hint in [_did_you_mean(key, known)]
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
        return (
            f"{shown} is not one of the allowed values{_did_you_mean(value, expected)}: {_choices(expected)}"
        )
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
        return f"{shown} is greater than the maximum {expected}" + (
            " (exclusive)" if "exclusive" in keyword else ""
        )
    if keyword in ("minimum", "exclusiveMinimum"):
        return f"{shown} is less than the minimum {expected}" + (
            " (exclusive)" if "exclusive" in keyword else ""
        )
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
        # The branch the value came closest to tells the user most: the fewest problems other than
        # unknown properties (which may be fields newer than the spec), then the fewest problems.
        best = min(
            fits, key=lambda b: (sum(e.validator != "additionalProperties" for e in fits[b]), len(fits[b]), b)
        )
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
