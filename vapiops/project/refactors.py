"""vapiops.yaml's declarative refactors, `moved:` and `import:`: read and checked, each entry located."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from vapiops.errors import Location, ManifestError, did_you_mean
from vapiops.kinds import KINDS
from vapiops.model import Address
from vapiops.project.yamlload import describe_value


@dataclass(frozen=True)
class MovedBlock:
    """`{from: KIND/OLD, to: KIND/NEW}`: a rename kept in state, never a delete and a create."""

    source: str
    destination: str
    where: Location


@dataclass(frozen=True)
class ImportBlock:
    """`{to: KIND/NAME, name: LIVE NAME}` or `{to: KIND/NAME, id: ID | {env: ID}}`: adopt a live object."""

    to: str
    where: Location
    live_name: str | None = None
    ids: dict[str, str] = field(default_factory=dict)  # environment -> ID ("*" for every environment)

    def id_for(self, env: str) -> str | None:
        return self.ids.get(env, self.ids.get("*"))


Fail = Callable[[tuple, str], ManifestError]


def _address(value: Any, path: tuple, what: str, fail: Fail) -> str:
    if not isinstance(value, str):
        raise fail(path, f"{what} must be an address KIND/NAME, not {describe_value(value)}")
    try:
        kind, _ = Address.parse(value)
    except ValueError:
        raise fail(path, f"{what} {value!r} is not an address: write KIND/NAME") from None
    if kind not in KINDS:
        raise fail(path, f"{what} {value!r}: unknown kind {kind!r}{did_you_mean(kind, KINDS)}")
    return value


def _entries(value: Any, key: str, fail: Fail) -> list[dict[str, Any]]:
    if value is None:
        return []
    if not isinstance(value, list):
        raise fail((key,), f"`{key}` must be a list of entries, not {describe_value(value)}")
    for i, entry in enumerate(value):
        if not isinstance(entry, dict):
            raise fail((key, i), f"`{key}[{i}]` must be a mapping, not {describe_value(entry)}")
    return value


def _keys(entry: dict[str, Any], allowed: tuple[str, ...], path: tuple, fail: Fail) -> None:
    for k in entry:
        if k not in allowed:
            raise fail(
                path + (k,), f"unknown key {k!r}{did_you_mean(k, allowed)} (allowed: {', '.join(allowed)})"
            )


def read_moved(value: Any, fail: Fail, at: Callable[..., Location]) -> tuple[MovedBlock, ...]:
    out: list[MovedBlock] = []
    for i, entry in enumerate(_entries(value, "moved", fail)):
        path = ("moved", i)
        _keys(entry, ("from", "to"), path, fail)
        source = _address(entry.get("from"), path + ("from",), f"`moved[{i}].from`", fail)
        destination = _address(entry.get("to"), path + ("to",), f"`moved[{i}].to`", fail)
        if source.split("/")[0] != destination.split("/")[0]:
            raise fail(
                path,
                f"`moved[{i}]`: {source} and {destination} are of different kinds; a move keeps the kind",
            )
        if source == destination or any(m.source == source for m in out):
            raise fail(path, f"`moved[{i}]`: {source} is moved twice or onto itself")
        out.append(MovedBlock(source, destination, at(*path)))
    return tuple(out)


def read_imports(
    value: Any, fail: Fail, at: Callable[..., Location], envs: list[str]
) -> tuple[ImportBlock, ...]:
    out: list[ImportBlock] = []
    for i, entry in enumerate(_entries(value, "import", fail)):
        path = ("import", i)
        _keys(entry, ("to", "name", "id"), path, fail)
        to = _address(entry.get("to"), path + ("to",), f"`import[{i}].to`", fail)
        if ("name" in entry) == ("id" in entry):
            raise fail(path, f"`import[{i}]` needs exactly one of `name` (the live object's name) or `id`")
        if any(b.to == to for b in out):
            raise fail(path, f"`import[{i}]`: {to} is imported twice")
        if "name" in entry:
            name = entry["name"]
            if not isinstance(name, str) or not name:
                raise fail(
                    path + ("name",),
                    f"`import[{i}].name` must be a non-empty string, not {describe_value(name)}",
                )
            out.append(ImportBlock(to, at(*path), live_name=name))
            continue
        raw = entry["id"]
        ids = {"*": raw} if isinstance(raw, str) else raw
        if not isinstance(ids, dict) or not ids:
            raise fail(path + ("id",), f"`import[{i}].id` must be an ID or a mapping environment -> ID")
        for env, obj_id in ids.items():
            if env != "*" and env not in envs:
                raise fail(
                    path + ("id", env),
                    f"`import[{i}].id`: unknown environment {env!r}{did_you_mean(env, envs)}",
                )
            if not isinstance(obj_id, str) or not obj_id:
                raise fail(
                    path + ("id", env), f"`import[{i}].id.{env}` must be an ID, not {describe_value(obj_id)}"
                )
        out.append(ImportBlock(to, at(*path), ids=dict(ids)))
    return tuple(out)
