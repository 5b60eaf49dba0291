"""Warnings about live objects nobody manages that still use an object a plan deletes or replaces."""

from __future__ import annotations

from typing import Any

from vapiops.kinds import KINDS
from vapiops.model import Action
from vapiops.paths import format_path
from vapiops.planning.item import Item
from vapiops.planning.steps import Warnings


def unmanaged_referrers(
    items: dict[str, Item], live_by_id: dict[str, dict[str, dict[str, Any]]], managed: set[str]
) -> Warnings:
    """One warning per reference from an unmanaged live object to an object this plan deletes.

    vapiops repoints only what it manages: an assistant nobody manages that uses a tool the plan
    deletes (or replaces: the old copy is deleted) is left pointing at a deleted ID. The listing the
    planner already has shows the reference, found with the registry's reference patterns. A phone
    number bought in the dashboard (or only looked up) that still routes calls to a deleted assistant
    or squad is reported the same way. `managed`: the IDs state holds (a looked-up object is not one).
    """
    doomed = {
        (r.kind.name, r.old_id): addr
        for addr, r in items.items()
        if r.old_id and r.action in (Action.DELETE, Action.REPLACE)
    }
    for (kind_name, old_id), doomed_addr in list(doomed.items()):
        by = KINDS[kind_name].referenced_by  # references to it may hold another field (a resourceId)
        value = live_by_id.get(kind_name, {}).get(old_id, {}).get(by) if by != "id" else None
        if isinstance(value, str) and value:
            doomed[(kind_name, value)] = doomed_addr
    if not doomed:
        return []
    warnings: Warnings = []
    for kind_name in sorted(live_by_id):
        kind = KINDS.get(kind_name)
        if kind is None:
            continue
        for obj_id, obj in sorted(live_by_id[kind_name].items()):
            if obj_id in managed:
                continue  # a managed referrer is repointed (or deleted) by the plan itself
            for ref, path, value in kind.find_references(obj):
                addr = doomed.get((ref.target, value)) if isinstance(value, str) else None
                if addr is None:
                    continue
                shown = kind.display_name(obj)
                who = f"{kind_name} {shown!r} (id {obj_id})" if shown else f"{kind_name} {obj_id}"
                what = "deletes" if items[addr].action is Action.DELETE else "replaces"
                warnings.append(
                    (
                        addr,
                        f"{addr}: the live {who}, not managed by vapiops, still uses it at "
                        f"{format_path(path)}; this plan {what} it and leaves that {kind_name} pointing "
                        "at a deleted ID (import it with `vapiops import` to manage it, or change it first)",
                    )
                )
    return warnings
