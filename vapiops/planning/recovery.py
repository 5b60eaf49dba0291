"""Crash recovery: the objects an interrupted apply created, and where a replaced object's old copy waits. Pure."""

from __future__ import annotations

from datetime import datetime, timedelta

from vapiops import paths
from vapiops.kinds import KINDS
from vapiops.planning.diff import owned_equal
from vapiops.state import State
from vapiops.timestamps import CLOCK_SKEW as ADOPTION_SKEW
from vapiops.timestamps import parse_time

# How long a POST sent by a run that died may still land: the client's request timeout. A re-run
# within this time of an unmatched intent waits for it to pass, then lists again, before planning.
POST_SETTLE = timedelta(seconds=30)

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
    nobody manages, whose declared fields equal the body that was sent (secret paths skipped: the
    intent holds only their hashes), and that is not older than the intent: created at or after
    intent.started_at, or at most ADOPTION_SKEW before it (the server's clock may lag ours a little).
    An object older than that existed before the POST, so it is somebody's look-alike, never ours.
    Several matches -> the earliest at or after the intent (the first POST is the one the intent
    recorded; a later identical object came from a retry or another run), else the latest within
    the skew. The caller records the matches (see unmatched_intents for the rest).
    """
    managed = {e.id for e in state.resources.values() if e.id}
    taken: set[str] = set()
    adopted: dict[str, str] = {}
    for addr in sorted(state.intents):
        intent = state.intents[addr]
        entry = state.resources.get(addr)
        started = parse_time(intent.started_at)
        if (entry is not None and entry.id) or intent.kind not in KINDS or started is None:
            continue
        kind = KINDS[intent.kind]
        body = kind.match_body({k: v for k, v in intent.body.items() if k not in kind.read_only})
        skip = [paths.parse_path(p) for p in (intent.sensitive or ())]
        candidates: list[tuple[bool, timedelta, str]] = []
        for obj in live.get(kind.name, []):
            obj_id = str(obj.get("id") or "")
            created = parse_time(obj.get("createdAt"))
            if not obj_id or obj_id in managed or obj_id in taken or created is None:
                continue
            if created < started - ADOPTION_SKEW:
                continue
            if owned_equal(body, obj, set_paths=kind.set_fields, skip=skip):
                # At/after the intent first, nearest the intent first; the id breaks ties deterministically.
                candidates.append((created < started, abs(created - started), obj_id))
        if candidates:
            chosen = min(candidates)[2]
            adopted[addr] = chosen
            taken.add(chosen)
    return adopted


def unsettled_intents(
    state: State, adopted: dict[str, str], now: datetime, settle: timedelta = POST_SETTLE
) -> datetime | None:
    """When the last POST an unmatched intent may still have in flight can be taken as never landing.

    A run killed mid-POST leaves its request with the server, which may create the object after the
    next run has listed: "no match" then means "not yet", and dropping the intent would create the
    address twice. So an unmatched intent younger than `settle` (POST_SETTLE) is not yet evidence; None when
    every unmatched intent is old enough (they never landed).
    """
    times = [
        when + settle
        for addr, intent in state.intents.items()
        if addr not in adopted
        and not (addr in state.resources and state.resources[addr].id)
        and (when := parse_time(intent.started_at)) is not None
        and when + settle > now
    ]
    return max(times) if times else None
