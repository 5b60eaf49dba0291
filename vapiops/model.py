"""The one model of planning: addresses, desired resources, changes, drift, and the steps apply makes. No I/O.

Shaped after Terraform's plan: a Plan holds the changes people review (`changes`, its
`resource_changes`) apart from what changed outside vapiops (`drift`, its `resource_drift`), and
the ordered steps that make the changes (for apply). Every renderer starts from `Plan.to_dict()`.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass, field
from enum import Enum
from typing import Any, NamedTuple

# 1.1: drift is its own list (`drift`), no longer mixed into `changes`; 1.2: `moved` and `imported`.
FORMAT_VERSION = "1.2"
SENSITIVE = "(sensitive)"

# A manifest name: the part of an address after the kind.
NAME_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")


class Address(NamedTuple):
    """`kind/name`: how a resource is known in manifests, state and plans (as a string: str(Address))."""

    kind: str
    name: str

    def __str__(self) -> str:
        return f"{self.kind}/{self.name}"

    @classmethod
    def parse(cls, text: str) -> Address:
        """The address written as `kind/name`; ValueError when either part is missing."""
        kind, sep, name = text.partition("/")
        if not sep or not kind or not NAME_PATTERN.fullmatch(name):
            raise ValueError(
                f"{text!r} is not an address (write KIND/NAME; a name is letters, digits, '.', '_', '-')"
            )
        return cls(kind, name)


def address(kind: str, name: str) -> str:
    """The address string of a resource: str(Address(kind, name)), without building one (planning
    asks this of every reference of every resource)."""
    return f"{kind}/{name}"


def name_of(addr: str) -> str:
    """The name part of an address string."""
    return Address.parse(addr).name


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


@dataclass(frozen=True)
class Lifecycle:
    """A manifest's `lifecycle:`: protection from destruction, and paths left to the dashboard."""

    prevent_destroy: bool = False
    ignore_changes: tuple[str, ...] = ()  # dotted paths as written (e.g. "voice.voiceId")


@dataclass
class Desired:
    """One rendered manifest for one environment, as the planner takes it."""

    kind: str
    name: str
    spec: dict[str, Any]  # rendered spec; references hold manifest names (or raw UUIDs: unmanaged targets)
    lifecycle: Lifecycle = field(default_factory=Lifecycle)
    sensitive: frozenset[tuple] = frozenset()  # spec paths whose values came from secret()
    where: str = ""  # "file:line" for messages
    # (dotted path, "file:line") of each field Vapi's published spec does not list, sent as written:
    # if the API rejects one, the apply error can point at where it is written.
    unknown_fields: tuple[tuple[str, str], ...] = ()
    lookup: str | None = None  # a `lookup:` document: never written, found by this live name
    # Kind.find_references(spec) when validation found them already (the planner's walk is spared);
    # None: not known, the planner finds them.
    references: list[tuple[Any, tuple, Any]] | None = field(default=None, compare=False, repr=False)

    @property
    def address(self) -> str:
        return address(self.kind, self.name)


class Action(str, Enum):
    """What happens to a resource: Terraform's four actions."""

    CREATE = "create"
    UPDATE = "update"
    DELETE = "delete"
    REPLACE = "replace"


class Reason(str, Enum):
    """Why a resource is in a plan when its manifest alone does not say (shown beside the action)."""

    DELETED_OUTSIDE = "deleted outside vapiops"  # state has it, the org does not: re-created (or drift)
    CHANGED_OUTSIDE = "changed outside vapiops"  # drift: a declared field differs from what was applied
    CANNOT_UPDATE = "cannot change in place"  # a replace: PATCH cannot make this change
    REPOINT = "repoint"  # an update that only moves references to a re-created object
    DEPOSED = "old copy left by a replace"  # a replaced object's old copy that a stopped run left
    REQUESTED = "replace requested"  # plan/apply --replace ADDR: re-created although unchanged


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
    """One resource that will change (or, in `Plan.drift`, that changed outside vapiops)."""

    address: str
    kind: str
    name: str
    action: Action
    id: str | None  # live ID for update/delete/replace; None for create
    fields: list[FieldChange] = field(default_factory=list)
    reason: Reason | None = None
    detail: str | None = None  # the reason's particulars: the fields ("type"), the replaced address, ...
    note: str | None = None  # said after the reason ("lifecycle.preventDestroy is set")

    @property
    def reason_text(self) -> str | None:
        """The reason as people read it, e.g. "type cannot change in place" or "repoint to replaced tool/x"."""
        if self.reason is Reason.CANNOT_UPDATE and self.detail:
            text: str | None = f"{self.detail} {self.reason.value}"
        elif self.reason is Reason.REPOINT and self.detail:
            text = self.detail
        elif self.reason is Reason.DEPOSED and self.detail:
            text = f"old copy left by the replace of {self.detail}"
        else:
            text = self.reason.value if self.reason is not None else None
        if self.note:
            text = f"{text}; {self.note}" if text else self.note
        return text

    def to_dict(self) -> dict[str, Any]:
        return {
            "address": self.address,
            "kind": self.kind,
            "name": self.name,
            "action": self.action.value,
            "id": self.id,
            "fields": [f.to_dict() for f in self.fields],
            "reason": self.reason_text,
        }


class Phase(str, Enum):
    """Which part of a resource's change a step makes; with the address it names the step."""

    CREATE = "create"  # POST the new object (without references a cycle defers)
    LINK = "link"  # PATCH in the references a cycle deferred, once every member exists
    UPDATE = "update"  # PATCH the changed top-level keys
    REPOINT = "repoint"  # PATCH only the keys that reference a re-created object
    DELETE = "delete"  # DELETE an object whose manifest is gone
    DELETE_DEPOSED = "delete-deposed"  # DELETE the old copy of a replaced object

    @property
    def method(self) -> str:
        return {"create": "POST", "delete": "DELETE", "delete-deposed": "DELETE"}.get(self.value, "PATCH")

    @property
    def records(self) -> bool:
        """Whether success updates the address's own state entry (a deposed copy is not that entry)."""
        return self is not Phase.DELETE_DEPOSED

    @property
    def past(self) -> str:
        """As progress lines say it ("tool/x: created (id ...)")."""
        return {"create": "created", "link": "linked", "delete": "deleted", "delete-deposed": "deleted"}.get(
            self.value, "updated"
        )


# Order among steps that are ready together: creates, updates, links, then deletes.
PHASE_RANK = {
    Phase.CREATE: 0,
    Phase.UPDATE: 1,
    Phase.REPOINT: 1,
    Phase.LINK: 2,
    Phase.DELETE: 3,
    Phase.DELETE_DEPOSED: 3,
}


@dataclass
class Step:
    """One API call apply will make, in dependency order.

    `body` holds references by manifest name (or a raw UUID): apply swaps in IDs just before the
    call, so a resource created earlier in the same apply is referenced by its new ID. A create
    step's `id` is None, and so is a link's (the object does not exist when planning); update,
    repoint and delete steps name the ID they act on, so a replaced object's old copy is deleted by
    its old ID.
    """

    phase: Phase
    address: str
    kind: str
    id: str | None = None
    body: dict[str, Any] = field(default_factory=dict)
    after: list[str] = field(default_factory=list)  # keys of steps that must succeed first
    query: dict[str, str] = field(default_factory=dict)  # PATCH query parameters beyond the kind's defaults

    @property
    def key(self) -> str:
        """Unique within a plan, e.g. "create:tool/lookup", "link:assistant/support"."""
        return step_key(self.phase, self.address)


def step_key(phase: Phase, addr: str) -> str:
    return f"{phase.value}:{addr}"


@dataclass(frozen=True)
class Moved:
    """A `moved:` entry applied to this environment's state: the object keeps its ID, no call is made."""

    source: str
    destination: str
    id: str

    def to_dict(self) -> dict[str, Any]:
        return {"from": self.source, "to": self.destination, "id": self.id}


@dataclass(frozen=True)
class Imported:
    """An `import:` entry applied to this environment's state: a live object adopted under an address."""

    address: str
    id: str
    by: str  # how it was found: `name "Support Desk"` or `id`

    def to_dict(self) -> dict[str, Any]:
        return {"address": self.address, "id": self.id, "by": self.by}


@dataclass
class Plan:
    environment: str
    changes: list[Change] = field(default_factory=list)  # what apply will do
    drift: list[Change] = field(default_factory=list)  # what changed outside vapiops since the last apply
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
    # messages (also among warnings) of updates that would lose a secret the API returns masked:
    # apply refuses them unless --force.
    unpreservable: list[str] = field(default_factory=list)
    # address -> the live ID each `lookup:` document resolved to in this environment (data, not changes)
    lookups: dict[str, str] = field(default_factory=dict)
    # address -> what references to it hold when that is not its ID (Kind.referenced_by), as listed
    referenced: dict[str, str] = field(default_factory=dict)
    refresh_only: bool = False  # a drift report (`plan --refresh-only`): only `drift`, nothing to apply
    # vapiops.yaml's refactors that this plan records in state (apply), never as delete + create.
    moved: list[Moved] = field(default_factory=list)
    imported: list[Imported] = field(default_factory=list)

    @property
    def summary(self) -> dict[str, int]:
        count = {a: 0 for a in Action}
        for c in self.changes:
            count[c.action] += 1
        # Terraform counts a replace as one add and one destroy.
        return {
            "add": count[Action.CREATE] + count[Action.REPLACE],
            "change": count[Action.UPDATE],
            "destroy": count[Action.DELETE] + count[Action.REPLACE],
            "replace": count[Action.REPLACE],
        }

    @property
    def is_empty(self) -> bool:
        """No change to make, no drift to report and no refactor to record."""
        return not self.changes and not self.drift and not self.moved and not self.imported

    def to_dict(self) -> dict[str, Any]:
        """The JSON plan document (schemas/plan.schema.json); every renderer starts here."""
        return {
            "format_version": FORMAT_VERSION,
            "environment": self.environment,
            "refresh_only": self.refresh_only,
            "summary": self.summary,
            "changes": [c.to_dict() for c in self.changes],
            "drift": [c.to_dict() for c in self.drift],
            "moved": [m.to_dict() for m in self.moved],
            "imported": [i.to_dict() for i in self.imported],
            "warnings": list(self.warnings),
            "lookups": [{"address": a, "id": i} for a, i in sorted(self.lookups.items())],
        }

    def checksum(self) -> str:
        """Fingerprint of what the plan would do: equal plans give equal checksums."""
        text = json.dumps(self.to_dict()["changes"], sort_keys=True, default=str)
        return hashlib.sha256(text.encode()).hexdigest()
