"""Filling in the defaults the spec states (for the sandbox, which answers like the server would)."""

from __future__ import annotations

import copy
import re
from typing import Any

from vapiops import paths
from vapiops.kinds import Kind
from vapiops.paths import Path
from vapiops.vapispec.loading import spec
from vapiops.vapispec.shapes import _dto, _items, _shape
from vapiops.vapispec.validators import check, compile_validator
from vapiops.vapispec.walk import _target

# Defaults the spec states only in prose: every LLM model schema says of `temperature` "Default is
# 0.5." but has no `default`. apply_defaults fills them (for the sandbox, so plans meet a nested value
# the server chose) inside LLM model objects only: schemas with both `messages` and `temperature`.
EXTRA_MODEL_DEFAULTS: dict[str, Any] = {"temperature": 0.5}

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
