"""vapiops.yaml's `moved:` and `import:` applied to one environment's state before planning, and the hint at `moved:`."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable

from vapiops.errors import VapiopsError
from vapiops.kinds import KINDS
from vapiops.model import Action, Desired, Imported, Moved, Plan
from vapiops.project.config import Project
from vapiops.state import ResourceState, State


def apply_refactors(
    project: Project, env: str, state: State, live: dict[str, list[dict]], desired: Iterable[Desired]
) -> tuple[list[Moved], list[Imported]]:
    """Rename and adopt in `state` (in memory: apply saves it) what the blocks say for `env`.

    A block already applied (the old address gone from state, the import target in state) does
    nothing; a block that cannot apply is a located error, raised before any request is sent.
    """
    moved: list[Moved] = []
    for block in project.moved:
        entry = state.resources.get(block.source)
        if entry is None:
            continue  # already moved, or never created in this environment
        if block.destination in state.resources:
            raise VapiopsError(
                f"moved: {block.source} -> {block.destination}: both are in the state of environment {env!r}",
                where=str(block.where),
                hint=f"remove one with `vapiops state rm --env {env}`, or drop this entry",
            )
        new_kind, new_name = block.destination.split("/", 1)
        del state.resources[block.source]
        state.resources[block.destination] = dataclasses.replace(entry, kind=new_kind, name=new_name)
        moved.append(Moved(block.source, block.destination, entry.id))
    declared = {d.address for d in desired}
    imported: list[Imported] = []
    for imp in project.imports:
        if imp.to in state.resources:
            continue  # imported already (or created by vapiops)
        kind_name, name = imp.to.split("/", 1)
        kind = KINDS[kind_name]
        if imp.live_name is None and imp.id_for(env) is None:
            continue  # an ID for other environments only
        if imp.to not in declared:
            raise VapiopsError(
                f"import: {imp.to} has no manifest in environment {env!r}; the next apply would delete the object",
                where=str(imp.where),
                hint="write its manifest first (or limit the entry's `id` to environments that have one)",
            )
        objects = live.get(kind.name, [])
        if imp.live_name is not None:
            if kind.name_field is None:
                raise VapiopsError(
                    f"import: {kind.name} objects have no name to find them by",
                    where=str(imp.where),
                    hint="use `id:`",
                )
            found = [o for o in objects if o.get(kind.name_field) == imp.live_name]
            what = f"named {imp.live_name!r}"
        else:
            found = [o for o in objects if o.get("id") == imp.id_for(env)]
            what = f"with id {imp.id_for(env)}"
        if len(found) != 1:
            problem = "no live" if not found else f"{len(found)} live"
            ids = "" if not found else f" ({', '.join(str(o.get('id')) for o in found)})"
            raise VapiopsError(
                f"import: {imp.to}: {problem} {kind.name} {what} in environment {env!r}{ids}",
                where=str(imp.where),
                hint="import by `id: {ENV: ID}` instead" if found else "check the name or ID and --env",
            )
        obj_id = str(found[0]["id"])
        other = state.address_of_id(obj_id)
        if other:
            raise VapiopsError(
                f"import: {imp.to}: the {kind.name} {what} is already managed as {other}",
                where=str(imp.where),
                hint="use `moved:` to rename a managed resource",
            )
        state.resources[imp.to] = ResourceState(kind=kind.name, name=name, id=obj_id, applied={}, secrets={})
        imported.append(Imported(imp.to, obj_id, f"name {imp.live_name!r}" if imp.live_name else "id"))
    return moved, imported


def moved_hints(plan: Plan) -> list[str]:
    """A delete and a create of one kind with the same body look like a rename: point at `moved:`."""

    def body(change, side: str) -> frozenset:
        values = {(f.path, repr(getattr(f, side))) for f in change.fields}
        return frozenset(v for v in values if v[0] != KINDS[change.kind].name_field)

    creates = [c for c in plan.changes if c.action is Action.CREATE]
    hints = []
    for gone in (c for c in plan.changes if c.action is Action.DELETE):
        for new in creates:
            if new.kind == gone.kind and gone.fields and body(gone, "before") == body(new, "after"):
                hints.append(
                    f"{gone.address} is deleted and {new.address} created with the same body: if this is a "
                    f"rename, add `moved: [{{from: {gone.address}, to: {new.address}}}]` to vapiops.yaml to keep "
                    "the object and its ID"
                )
    return hints
