"""Reading and editing one environment's state by hand: list, show, rm, mv, unlock, pull, push (edits under the lock)."""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from vapiops.errors import StateError, VapiopsError, did_you_mean
from vapiops.flows.context import Context
from vapiops.flows.imports import check_address
from vapiops.state import State


def list_resources(ctx: Context) -> list[tuple[str, str]]:
    """Every managed address with its live ID, sorted by address."""
    return [(addr, entry.id) for addr, entry in sorted(ctx.backend.load().resources.items())]


def _not_in_state(address: str, known: Iterable[str]) -> VapiopsError:
    return VapiopsError(
        f"{address} is not in state{did_you_mean(address, known)}", hint="see `vapiops state list`"
    )


def show(ctx: Context, address: str) -> dict[str, Any]:
    """What state holds for `address` (secrets only as hashes)."""
    check_address(address)
    resources = ctx.backend.load().resources
    entry = resources.get(address)
    if entry is None:
        raise _not_in_state(address, resources)
    return {"address": address, "id": entry.id, "applied": entry.applied}


def remove(ctx: Context, address: str) -> None:
    """Forget `address`; the live object is left alone."""
    check_address(address)
    with ctx.backend.lock(who="state rm"):
        st = ctx.backend.load()
        if st.resources.pop(address, None) is None:
            raise _not_in_state(address, st.resources)
        ctx.backend.save(st)


def move(ctx: Context, source: str, destination: str) -> None:
    """Rename `source` to `destination` (one kind) in state, without touching the live object."""
    src_kind, _ = check_address(source)
    dst_kind, dst_name = check_address(destination)
    if src_kind != dst_kind:
        raise VapiopsError(
            f"cannot move {source} to {destination}", hint="both addresses must be of one kind"
        )
    with ctx.backend.lock(who="state mv"):
        st = ctx.backend.load()
        if source not in st.resources:
            raise _not_in_state(source, st.resources)
        if destination in st.resources:
            raise VapiopsError(f"{destination} is already in state")
        entry = st.resources.pop(source)
        entry.name = dst_name
        st.resources[destination] = entry
        ctx.backend.save(st)


def unlock(ctx: Context, lock_id: str) -> None:
    """Force-release the environment's lock held under `lock_id` (a run that died holding it)."""
    ctx.backend.unlock(lock_id)


def pull(ctx: Context) -> dict[str, Any]:
    """The environment's state (snapshot and every record since) as one JSON document."""
    return ctx.backend.load().to_dict()


def push(ctx: Context, file: Path, *, force: bool) -> State:
    """Replace the environment's state with `file` (from `state pull`, maybe of another backend).

    Refused, unless `force`: another lineage (a different project's or environment's state), or an
    older serial (it would undo what runs recorded since). Under the lock, like any write.
    """
    try:
        data = json.loads(file.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise StateError(f"cannot read the state to push: {exc}", where=str(file)) from exc
    try:
        pushed = State.from_dict(data)
    except StateError as exc:
        exc.where = str(file)
        raise
    if pushed.environment != ctx.env.name:
        raise StateError(
            f"this is the state of environment {pushed.environment!r}, not {ctx.env.name!r}",
            where=str(file),
            hint="pass the right --env",
        )
    with ctx.backend.lock(who="state push"):
        current = ctx.backend.load()
        if ctx.backend.exists() and not force:
            if pushed.lineage != current.lineage:
                raise StateError(
                    f"its lineage {pushed.lineage} differs from the current state's {current.lineage} "
                    "(another project's or environment's state)",
                    where=str(file),
                    hint="pass --force to replace the current state anyway (its resources would no longer be managed)",
                )
            if pushed.serial < current.serial:
                raise StateError(
                    f"its serial {pushed.serial} is older than the current state's {current.serial} "
                    "(it would undo what later runs recorded)",
                    where=str(file),
                    hint="`vapiops state pull` the current state first, or pass --force",
                )
        pushed.serial = max(pushed.serial, current.serial)  # serials only grow, even when forced
        ctx.backend.save(pushed)
    return pushed
