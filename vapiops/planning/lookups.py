"""Lookups: `lookup:` documents resolved to live objects by name, per environment; never written. Pure."""

from __future__ import annotations

from typing import Any

from vapiops.errors import VapiopsError
from vapiops.kinds import get_kind
from vapiops.model import Desired


def resolve_lookups(
    lookups: list[Desired],
    live_by_id: dict[str, dict[str, dict[str, Any]]],
    owner: dict[str, tuple[str, str]],
) -> dict[str, str]:
    """address -> live ID of each `lookup:` document, found by its display name among the live
    objects of its kind; none or several is an error at the document. Each found ID (and, for a kind
    referenced by another field, that field's value) then reads as the lookup's name (planning in
    name space), as a managed resource's does: `owner` learns it."""
    found: dict[str, str] = {}
    for d in lookups:
        kind = get_kind(d.kind)
        matches = sorted(
            str(o["id"]) for o in live_by_id.get(kind.name, {}).values() if kind.display_name(o) == d.lookup
        )
        if len(matches) != 1:
            what = "no live" if not matches else f"{len(matches)} live"
            raise VapiopsError(
                f"lookup {d.address}: {what} {kind.name} named {d.lookup!r} in this environment"
                + (f" ({', '.join(matches)})" if matches else ""),
                where=d.where or d.address,
                hint="create it (or rename it) in the dashboard so that exactly one has this name, "
                "or manage it here with `spec:`",
            )
        found[d.address] = matches[0]
        owner[matches[0]] = (kind.name, d.name)
        by = live_by_id[kind.name][matches[0]].get(kind.referenced_by)
        if kind.referenced_by != "id" and isinstance(by, str) and by:
            owner[by] = (kind.name, d.name)  # what references to it hold (a dictionary's resourceId)
    return found
