"""Crash recovery: the objects an interrupted apply created, and where a replaced object's old copy waits. Pure."""

from __future__ import annotations

from datetime import datetime

from vapiops import paths
from vapiops.kinds import KINDS
from vapiops.planning.diff import owned_equal
from vapiops.state import State
from vapiops.timestamps import CLOCK_SKEW, parse_time

# A replaced object's old copy is kept in state under `<address>.replaced-<old id>` from just before
# its replacement is created until it is deleted (Terraform's "deposed" object): a run that stops in
# between leaves a state entry with no manifest, which the next plan deletes, instead of an object
# nobody tracks any more.
DEPOSED_MARK = ".replaced-"


def deposed_address(addr: str, old_id: str) -> str:
    """Where state keeps the old copy of `addr` while it is being replaced (a valid manifest address)."""
    return f"{addr}{DEPOSED_MARK}{old_id}"


def adopt_intents(state: State, live: dict[str, list[dict]]) -> dict[str, str]:
    """Crash recovery (docs/state.md): {address: id} of the live objects that unfinished creates made.

    For each intent whose address has no ID in state, the object is a live one of that kind that
    nobody manages, created at or after intent.started_at minus CLOCK_SKEW, whose declared fields
    equal the body that was sent (secret paths skipped: the intent holds only their hashes).
    Several matches -> the oldest: the first POST is the one the intent recorded; a later
    identical object came from a retry or another run. The caller records the matches and drops
    every intent (one with no match never landed).
    """
    managed = {e.id for e in state.resources.values() if e.id}
    taken: set[str] = set()
    adopted: dict[str, str] = {}
    for addr in sorted(state.intents):
        intent = state.intents[addr]
        entry = state.resources.get(addr)
        if (entry is not None and entry.id) or intent.kind not in KINDS:
            continue
        kind = KINDS[intent.kind]
        started = parse_time(intent.started_at)
        since = started - CLOCK_SKEW if started is not None else None
        body = {k: v for k, v in intent.body.items() if k not in kind.read_only}
        skip = [paths.parse_path(p) for p in (intent.sensitive or ())]
        candidates: list[tuple[bool, datetime | None, str]] = []
        for obj in live.get(kind.name, []):
            obj_id = str(obj.get("id") or "")
            if not obj_id or obj_id in managed or obj_id in taken:
                continue
            created = parse_time(obj.get("createdAt"))
            if since is not None and created is not None and created < since:
                continue
            if owned_equal(body, obj, set_paths=kind.set_fields, skip=skip):
                candidates.append((created is None, created, obj_id))
        if candidates:
            # Dated objects first, oldest first; the id breaks ties deterministically.
            _, _, chosen = min(candidates, key=lambda c: (c[0], c[1] or datetime.min, c[2]))
            adopted[addr] = chosen
            taken.add(chosen)
    return adopted
