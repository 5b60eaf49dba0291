"""The one Plan model: what will change (for people) and the steps that make it (for apply). No I/O."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from enum import Enum
from typing import Any, Literal

FORMAT_VERSION = "1.0"
SENSITIVE = "(sensitive)"


class _Absent:
    """Marks a side of a FieldChange where the field does not exist (added or removed)."""

    _instance: _Absent | None = None

    def __new__(cls) -> _Absent:
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __repr__(self) -> str:
        return "ABSENT"

    def __bool__(self) -> bool:
        return False


ABSENT: Any = _Absent()


class Action(str, Enum):
    CREATE = "create"
    UPDATE = "update"
    DELETE = "delete"
    REPLACE = "replace"

    @property
    def symbol(self) -> str:
        return {"create": "+", "update": "~", "delete": "-", "replace": "-/+"}[self.value]


@dataclass
class FieldChange:
    """One changed field. `before`/`after` are plain JSON values or ABSENT; references by name.

    A sensitive field carries SENSITIVE on both sides instead of its values.
    """

    path: str  # dotted with list indexes: model.messages[0].content
    before: Any
    after: Any
    sensitive: bool = False

    def to_dict(self) -> dict[str, Any]:
        return {
            "path": self.path,
            "before": None if self.before is ABSENT else self.before,
            "after": None if self.after is ABSENT else self.after,
            **({"sensitive": True} if self.sensitive else {}),
        }


@dataclass
class Change:
    """One resource that will change. Unchanged resources are not in a plan."""

    address: str
    kind: str
    name: str
    action: Action
    id: str | None  # live ID for update/delete/replace; None for create
    fields: list[FieldChange] = field(default_factory=list)
    reason: str | None = None  # why, in a few words ("type cannot change in place", "repoint to X")

    def to_dict(self) -> dict[str, Any]:
        return {
            "address": self.address,
            "kind": self.kind,
            "name": self.name,
            "action": self.action.value,
            "id": self.id,
            "fields": [f.to_dict() for f in self.fields],
            "reason": self.reason,
        }


StepOp = Literal["create", "update", "delete"]


@dataclass
class Step:
    """One API call apply will make, in dependency order.

    `body` holds references by manifest name (or a raw UUID): apply swaps in IDs just before the
    call, so a resource created earlier in the same apply is referenced by its new ID. A create
    step's `id` is None; update and delete steps name the ID they act on, so a replaced
    resource's old object is deleted by its old ID.
    """

    key: str  # unique, e.g. "create:tool/lookup", "update:assistant/support", "link:assistant/support"
    op: StepOp
    address: str
    kind: str
    id: str | None = None
    body: dict[str, Any] = field(default_factory=dict)
    after: list[str] = field(default_factory=list)  # keys of steps that must succeed first
    records: bool = True  # whether success updates the address's state entry (applied spec, id)


@dataclass
class Plan:
    environment: str
    changes: list[Change] = field(default_factory=list)
    steps: list[Step] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    # address -> desired spec as state should record it once every step of the address succeeded
    # (references by name, secrets as hashes, ignoreChanges paths left out).
    applied: dict[str, dict[str, Any]] = field(default_factory=dict)
    # address -> {dotted path: hash} of the secret values in `applied`.
    secrets: dict[str, dict[str, str]] = field(default_factory=dict)
    # addresses in state whose live object is already gone and that are no longer declared:
    # dropped from state without any API call.
    forget: list[str] = field(default_factory=list)
    # addresses this plan deletes or replaces although their manifest sets lifecycle.preventDestroy.
    protected: list[str] = field(default_factory=list)

    @property
    def summary(self) -> dict[str, int]:
        count = {a.value: 0 for a in Action}
        for c in self.changes:
            count[c.action.value] += 1
        # Terraform counts a replace as one add and one destroy.
        return {
            "add": count["create"] + count["replace"],
            "change": count["update"],
            "destroy": count["delete"] + count["replace"],
            "replace": count["replace"],
        }

    @property
    def is_empty(self) -> bool:
        return not self.changes

    def to_dict(self) -> dict[str, Any]:
        """The JSON document of SPEC 5 (schemas/plan.schema.json); every renderer starts here."""
        return {
            "format_version": FORMAT_VERSION,
            "environment": self.environment,
            "summary": self.summary,
            "changes": [c.to_dict() for c in self.changes],
            "warnings": list(self.warnings),
        }

    def checksum(self) -> str:
        """Fingerprint of what the plan would do: equal plans give equal checksums."""
        text = json.dumps(self.to_dict()["changes"], sort_keys=True, default=str)
        return hashlib.sha256(text.encode()).hexdigest()
