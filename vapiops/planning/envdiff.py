"""Compare two environments' live configuration by address (`vapiops diff`): plain values in, a report out.

Pure: the CLI lists each environment's live objects and loads its state; this module does the rest.
Each managed object is taken into "name space" with its own environment's state (reference IDs of
managed resources become manifest names; unmanaged IDs stay), read-only fields are dropped, and the
two sides are compared symmetrically over every field (not only declared ones, unlike a plan):

- objects compare key by key over the union of their keys; a null equals an absent field, and an
  empty list or object equals an absent one (servers drop either);
- arrays of reference IDs compare as sets; other arrays by length, then position by position;
- numbers by value (1 == 1.0) but a bool is not a number;
- secret fields (known secret keys, and every path state recorded as a secret() value) are compared
  by presence only: their values are never read, compared or shown. Per-environment secrets differ by
  design, and a value Vapi masks would differ anyway; a secret present on one side only is reported,
  as `(sensitive)`.

In a report, side "a" is the first environment and "b" the second; `None` means absent.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from vapiops import paths
from vapiops.kinds import KINDS, Kind, get_kind
from vapiops.model import ABSENT, SENSITIVE
from vapiops.paths import Path, format_path, parse_path
from vapiops.planning.diff import path_key, scalar_equal
from vapiops.planning.graph import owners, to_names
from vapiops.planning.secrets import Redactor, is_secret, secret_values, sensitive_paths
from vapiops.state import State

FORMAT_VERSION = "1.0"

Status = Literal["only_in_a", "only_in_b", "differ"]


# -- name space -------------------------------------------------------------------------------


@dataclass
class ManagedObject:
    """One managed live object as `diff` compares it."""

    address: str
    kind: str
    name: str
    id: str
    value: dict[str, Any]  # read-only fields out, references by name
    secrets: frozenset[Path] = frozenset()  # paths state recorded as secret() values


def managed_objects(
    state: State, live: Mapping[str, list[dict[str, Any]]]
) -> tuple[dict[str, ManagedObject], list[str]]:
    """The live objects state manages, by address, in name space; and the state addresses whose object
    is gone (or whose kind was not listed: absent either way)."""
    owner = owners(state.resources, live)
    by_id = {kind: {str(o.get("id")): o for o in objs if isinstance(o, dict)} for kind, objs in live.items()}
    found: dict[str, ManagedObject] = {}
    missing: list[str] = []
    for addr in sorted(state.resources):
        entry = state.resources[addr]
        if entry.kind not in KINDS:
            missing.append(addr)
            continue
        kind = get_kind(entry.kind)
        obj = by_id.get(kind.name, {}).get(entry.id)
        if obj is None:
            missing.append(addr)
            continue
        value = {k: v for k, v in obj.items() if k not in kind.read_only}
        found[addr] = ManagedObject(
            address=addr,
            kind=kind.name,
            name=entry.name,
            id=entry.id,
            value=to_names(kind, value, owner)[0],
            secrets=frozenset(parse_path(p) for p in (entry.secrets or {})),
        )
    return found, missing


# -- comparison -------------------------------------------------------------------------------


@dataclass
class FieldDiff:
    path: str  # dotted with list indexes: model.messages[0].content
    a: Any  # ABSENT when the field is absent in environment a
    b: Any
    sensitive: bool = False

    def to_dict(self) -> dict[str, Any]:
        return {
            "path": self.path,
            "a": None if self.a is ABSENT else self.a,
            "b": None if self.b is ABSENT else self.b,
            **({"sensitive": True} if self.sensitive else {}),
        }


@dataclass
class ResourceDiff:
    address: str
    kind: str
    name: str
    status: Status
    id_a: str | None
    id_b: str | None
    fields: list[FieldDiff] = field(default_factory=list)

    def to_dict(self, env_a: str, env_b: str) -> dict[str, Any]:
        return {
            "address": self.address,
            "kind": self.kind,
            "name": self.name,
            "status": self.status,
            "ids": {env_a: self.id_a, env_b: self.id_b},
            "fields": [f.to_dict() for f in self.fields],
        }


@dataclass
class EnvDiff:
    env_a: str
    env_b: str
    resources: list[ResourceDiff] = field(default_factory=list)  # only what differs, by address
    same: int = 0  # addresses present on both sides with no difference

    @property
    def summary(self) -> dict[str, int]:
        count = {"only_in_a": 0, "only_in_b": 0, "differ": 0}
        for r in self.resources:
            count[r.status] += 1
        return {**count, "same": self.same}

    @property
    def is_empty(self) -> bool:
        return not self.resources

    def to_dict(self) -> dict[str, Any]:
        """The JSON document of `vapiops diff --format json`; the text renderer starts here too."""
        return {
            "format_version": FORMAT_VERSION,
            "env_a": self.env_a,
            "env_b": self.env_b,
            "summary": self.summary,
            "resources": [r.to_dict(self.env_a, self.env_b) for r in self.resources],
        }


def _missing(value: Any) -> bool:
    return value is ABSENT or value is None


def _empty(value: Any) -> bool:
    return _missing(value) or value == [] or value == {}


def _canonical(value: Any) -> str:
    return json.dumps(value, sort_keys=True)


class _Walk:
    """One symmetric comparison of two objects of one kind; collects FieldDiffs."""

    def __init__(self, kind: Kind, secrets: Iterable[Path], secret_texts: Iterable[str]):
        self.set_patterns = tuple(parse_path(p) for p in kind.set_fields)
        self.secrets = frozenset(secrets)
        self.redact = Redactor(self.secrets, (), secret_texts)
        self.out: list[tuple[Path, FieldDiff]] = []

    def emit(self, path: Path, a: Any, b: Any) -> None:
        a, b = self.redact(a, path), self.redact(b, path)
        self.out.append((path, FieldDiff(format_path(path), a, b, sensitive=SENSITIVE in (a, b))))

    def secret_at(self, path: Path) -> bool:
        return bool(path) and (path in self.secrets or is_secret(path))

    def compare(self, a: Any, b: Any, path: Path) -> None:
        if self.secret_at(path):
            if _missing(a) != _missing(b):
                self.out.append(
                    (
                        path,
                        FieldDiff(
                            format_path(path),
                            ABSENT if _missing(a) else SENSITIVE,
                            ABSENT if _missing(b) else SENSITIVE,
                            sensitive=True,
                        ),
                    )
                )
            return
        if _empty(a) and _empty(b):
            return
        if isinstance(a, dict) and isinstance(b, dict):
            for key in [*a, *(k for k in b if k not in a)]:
                self.compare(a.get(key, ABSENT), b.get(key, ABSENT), path + (key,))
        elif isinstance(a, list) and isinstance(b, list):
            if any(paths.matches(p, path) for p in self.set_patterns):
                if sorted(map(_canonical, a)) != sorted(map(_canonical, b)):
                    self.emit(path, a, b)
            elif len(a) != len(b):
                self.emit(path, a, b)
            else:
                for i, (x, y) in enumerate(zip(a, b, strict=True)):
                    self.compare(x, y, path + (i,))
        elif isinstance(a, (dict, list)) or isinstance(b, (dict, list)) or not scalar_equal(a, b):
            self.emit(path, a, b)


def compare_objects(
    kind: Kind, a: dict[str, Any], b: dict[str, Any], secrets: Iterable[Path] = ()
) -> list[FieldDiff]:
    """Every difference between two objects of one kind (both in name space), sorted by path.

    secrets: extra secret paths (besides the known secret fields), e.g. from either side's state.
    """
    secrets = frozenset(secrets)
    # Secret texts are scrubbed wherever they appear (a secret also used inside another string).
    texts: set[str] = set()
    for value in (a, b):
        texts |= secret_values(value, sensitive_paths(value, secrets))
    walk = _Walk(kind, secrets, texts)
    walk.compare(a, b, ())
    return [fd for _, fd in sorted(walk.out, key=lambda pf: path_key(pf[0]))]


def compare_envs(
    env_a: str, a: Mapping[str, ManagedObject], env_b: str, b: Mapping[str, ManagedObject]
) -> EnvDiff:
    """The addresses only in a, only in b, and present in both with different fields."""
    report = EnvDiff(env_a, env_b)
    for addr in sorted(set(a) | set(b)):
        left, right = a.get(addr), b.get(addr)
        some = left or right
        assert some is not None
        if left is None or right is None:
            status: Status = "only_in_b" if left is None else "only_in_a"
            report.resources.append(
                ResourceDiff(
                    addr, some.kind, some.name, status, left.id if left else None, right.id if right else None
                )
            )
            continue
        fields = compare_objects(get_kind(some.kind), left.value, right.value, left.secrets | right.secrets)
        if fields:
            report.resources.append(
                ResourceDiff(addr, some.kind, some.name, "differ", left.id, right.id, fields)
            )
        else:
            report.same += 1
    return report


__all__ = [
    "EnvDiff",
    "FieldDiff",
    "ManagedObject",
    "ResourceDiff",
    "compare_envs",
    "compare_objects",
    "managed_objects",
]
