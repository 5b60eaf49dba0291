"""One address while it is being planned: its desired, live and prior views, and what the planner decided."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from vapiops.kinds import Kind
from vapiops.model import Action, Desired, FieldChange, Reason
from vapiops.paths import Path
from vapiops.state import ResourceState


@dataclass
class Item:
    """Working record of one address (declared, or in state only) for one plan."""

    address: str
    kind: Kind
    name: str
    desired: Desired | None = None
    spec: dict[str, Any] | None = None  # desired spec, read-only keys out, references as names
    owned: dict[str, Any] | None = None  # spec without ignore_changes paths
    ignore: tuple[Path, ...] = ()
    sensitive: frozenset[Path] = frozenset()  # in spec
    old_id: str | None = None  # the id in state
    entry: ResourceState | None = None  # the state entry
    live_raw: dict[str, Any] | None = None  # read-only keys out, IDs as the API returns them
    live: dict[str, Any] | None = None  # same in name space
    live_refs: list[tuple[Path, str]] = field(default_factory=list)  # managed targets of live references
    desired_refs: list[tuple[Path, str]] = field(default_factory=list)
    action: Action | None = None
    fields: list[tuple[Path, FieldChange]] = field(default_factory=list)
    reason: Reason | None = None
    detail: str | None = None  # the reason's particulars (see model.Change)
    note: str | None = None
    repoint: set[str] = field(default_factory=set)  # top-level keys to send again to repoint references

    @property
    def recreated(self) -> bool:
        """A create of an address state already has: a replace, or a re-create after an outside delete."""
        return self.action in (Action.CREATE, Action.REPLACE) and bool(self.old_id)
