"""Reading and editing one environment's state by hand: list, show, rm, mv (each edit under the lock)."""

from __future__ import annotations

from typing import Any

from vapiops.errors import VapiopsError
from vapiops.flows.context import Context
from vapiops.flows.imports import check_address


def list_resources(ctx: Context) -> list[tuple[str, str]]:
    """Every managed address with its live ID, sorted by address."""
    return [(addr, entry.id) for addr, entry in sorted(ctx.backend.load().resources.items())]


def show(ctx: Context, address: str) -> dict[str, Any]:
    """What state holds for `address` (secrets only as hashes)."""
    entry = ctx.backend.load().resources.get(address)
    if entry is None:
        raise VapiopsError(f"{address} is not in state", hint="see `vapiops state list`")
    return {"address": address, "id": entry.id, "applied": entry.applied}


def remove(ctx: Context, address: str) -> None:
    """Forget `address`; the live object is left alone."""
    with ctx.backend.lock(who="state rm"):
        st = ctx.backend.load()
        if st.resources.pop(address, None) is None:
            raise VapiopsError(f"{address} is not in state", hint="see `vapiops state list`")
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
            raise VapiopsError(f"{source} is not in state", hint="see `vapiops state list`")
        if destination in st.resources:
            raise VapiopsError(f"{destination} is already in state")
        entry = st.resources.pop(source)
        entry.name = dst_name
        st.resources[destination] = entry
        ctx.backend.save(st)
