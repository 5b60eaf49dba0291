"""Desired + live + prior state -> Plan: the changes people review and the ordered steps apply makes.

Pure: plain values in, a Plan out; no I/O. The rules are those of docs/plan.md; in short:

- Everything is compared in "name space": live reference IDs of managed resources are translated to
  manifest names through state, so plans show names and apply resolves names to IDs at call time.
- Only declared fields are owned (planning.diff); ignore_changes paths are neither diffed, written nor
  recorded; secrets are compared by hash and never shown.
- An update is one PATCH of the changed top-level keys, each sent whole (live value + desired laid over).
- A change PATCH cannot make (kind.replace_fields) is a replace: create, repoint dependents, delete old.
- Creates run dependencies first; reference cycles are broken by creating without the back-references
  and linking them afterwards; deletes run dependents first.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from vapiops import paths
from vapiops.kinds import Kind, get_kind
from vapiops.model import ABSENT, SENSITIVE, Action, Change, Desired, FieldChange, Plan, Reason, Step
from vapiops.paths import Path, format_path
from vapiops.planning.diff import compare, ignore_patterns, path_key, strip_ignored
from vapiops.planning.graph import names_literals, owners, referenced_values, references, to_names
from vapiops.planning.item import Item
from vapiops.planning.lookups import resolve_lookups
from vapiops.planning.recovery import DEPOSED_MARK
from vapiops.planning.referrers import unmanaged_referrers
from vapiops.planning.secrets import (
    Hasher,
    Redactor,
    default_hash,
    hash_secrets,
    is_secret,
    secret_values,
    sensitive_paths,
)
from vapiops.planning.steps import (
    UnknownFields,
    Warnings,
    _no_unknown,
    create_steps,
    delete_steps,
    ordered,
    prune,
    update_steps,
)
from vapiops.state import ResourceState, State

UpdateFilter = Callable[[Kind, dict[str, Any]], dict[str, Any]]
Live = dict[str, list[dict[str, Any]]]  # kind name -> every live object of that kind, as listed


def live_index(live: Live) -> dict[str, dict[str, dict[str, Any]]]:
    """kind name -> {id: live object}: how the planner finds the object a state entry names."""
    return {
        kind: {str(o["id"]): o for o in objs if isinstance(o, dict) and o.get("id")}
        for kind, objs in live.items()
    }


def with_local_fields(kind: Kind, obj: dict[str, Any], known: dict[str, Any]) -> dict[str, Any]:
    """A live object with what only vapiops knows about it taken from `known`: an upload's content
    hash (the API reports none, and an uploaded file's content never changes)."""
    if kind.upload is None or kind.upload.hash not in known or kind.upload.hash in obj:
        return obj
    return {**obj, kind.upload.hash: known[kind.upload.hash]}


def _identity(kind: Kind, body: dict[str, Any]) -> dict[str, Any]:
    return body


class _Planner:
    def __init__(
        self,
        state: State,
        live: Live,
        *,
        update_filter: UpdateFilter = _identity,
        hash_secret: Hasher = default_hash,
        unknown_fields: UnknownFields = _no_unknown,
        replace: Iterable[str] = (),
    ):
        self.state = state
        self.replace = frozenset(replace)  # --replace: re-create these although nothing changed
        self.update_filter = update_filter
        self.unknown_fields = unknown_fields
        self.hash_secret = hash_secret
        # id -> (kind, name) of every managed resource: the translation between IDs and names.
        self.owner = owners(state.resources, live)
        self.live = live
        self.live_by_id = live_index(live)

    # -- values -------------------------------------------------------------------------------

    def live_object(self, kind: Kind, obj_id: str | None) -> dict[str, Any] | None:
        if not obj_id:
            return None
        if kind.name not in self.live_by_id:
            # An unlisted kind must never read as "every object is gone": that plans duplicates.
            raise ValueError(f"live objects of kind {kind.name!r} were not listed")
        return self.live_by_id[kind.name].get(obj_id)

    def live_view(self, kind: Kind, obj: dict[str, Any]) -> tuple[dict, dict, list[tuple[Path, str]]]:
        raw = {k: v for k, v in obj.items() if k not in kind.read_only}
        named, refs = to_names(kind, raw, self.owner)
        return raw, named, refs

    def unknown_in(self, kind: Kind, body: dict[str, Any], *sources: dict[str, Any] | None) -> list[Path]:
        """unknown_fields(kind, body), with the discriminator lent as `filtered` does."""
        disc = kind.discriminator
        value = next((src[disc] for src in sources if isinstance(src, dict) and disc in src), None)
        if disc is None or disc in body or value is None:
            return self.unknown_fields(kind, body)
        return [p for p in self.unknown_fields(kind, {disc: value, **body}) if p != (disc,)]

    def filtered(self, kind: Kind, body: dict[str, Any], *sources: dict[str, Any] | None) -> dict[str, Any]:
        """update_filter(kind, body), with the DTO chosen right for a discriminated kind (tool).

        The discriminator picks the Update DTO but a PATCH body need not carry it; without it nothing
        would be filtered, and a live value sent back whole could keep keys the new shape rejects (a
        tool message whose type changed keeps the old type's `blocking`: a 400 on every apply). The
        value is lent from the first source that has it, for the filtering only.
        """
        # An attached set is no body field: apply turns it into attach/detach calls.
        kept = {a.field: body[a.field] for a in kind.attached_sets if a.field in body}
        disc = kind.discriminator
        if disc is None or disc in body:
            return {**self.update_filter(kind, body), **kept}
        value = next((src[disc] for src in sources if isinstance(src, dict) and disc in src), None)
        if value is None:
            return {**self.update_filter(kind, body), **kept}
        out = self.update_filter(kind, {disc: value, **body})
        out.pop(disc, None)
        return {**out, **kept}

    # -- classification -----------------------------------------------------------------------

    def desired_res(self, d: Desired) -> Item:
        kind = get_kind(d.kind)
        r = Item(d.address, kind, d.name, desired=d)
        spec = {k: v for k, v in d.spec.items() if k not in kind.read_only}
        # A manifest may hold the raw UUID of a resource managed here: compare it by name too.
        # One walk, for the translation and the references: validation's, when it made it.
        found = (
            kind.find_references(spec)
            if d.references is None
            else [hit for hit in d.references if hit[1][0] not in kind.read_only]
        )
        r.spec, _ = to_names(kind, spec, self.owner, found)
        # An upload's path is where the content comes from, not a property: its hash is compared.
        local = (kind.upload.path,) if kind.upload is not None else ()
        r.ignore = ignore_patterns((*d.lifecycle.ignore_changes, *local))
        r.owned = strip_ignored(r.spec, r.ignore)
        r.sensitive = sensitive_paths(r.spec, d.sensitive)
        r.desired_refs = references(kind, r.spec, found)
        r.entry = self.state.resources.get(r.address)
        r.old_id = r.entry.id if r.entry is not None and r.entry.id else None
        obj = self.live_object(kind, r.old_id)
        if obj is None:
            r.action = Action.CREATE
            r.reason = Reason.DELETED_OUTSIDE if r.old_id else None
            r.fields = _leaf_fields(
                r.spec, Redactor(r.sensitive, (), secret_values(r.spec, r.sensitive)), side="after"
            )
            return r
        assert r.entry is not None  # a live object is found only through a state entry
        prior = {k: v for k, v in (r.entry.applied or {}).items() if k not in kind.read_only}
        # Nothing recorded (an import): the live object is taken to hold what is declared.
        obj = with_local_fields(kind, with_local_fields(kind, obj, prior), r.owned)
        r.live_raw, r.live, r.live_refs = self.live_view(kind, obj)
        owned_sensitive = frozenset(p for p in r.sensitive if paths.has(r.owned, p))
        r.fields = compare(
            r.owned,
            r.live,
            prior,
            set_paths=kind.set_fields,
            ignore=r.ignore,
            sensitive=owned_sensitive,
            prior_secrets=r.entry.secrets if r.entry is not None else {},
            hash_secret=self.hash_secret,
        )
        if r.address in self.replace:
            r.action, r.reason, r.detail = Action.REPLACE, Reason.REQUESTED, "--replace"
            if d.lifecycle.prevent_destroy:
                r.note = "lifecycle.preventDestroy is set"
        elif r.fields:
            forced = sorted({p[0] for p, _ in r.fields if p and p[0] in kind.replace_fields}, key=str)
            if forced:
                r.action = Action.REPLACE
                r.reason, r.detail = Reason.CANNOT_UPDATE, ", ".join(map(str, forced))
                if d.lifecycle.prevent_destroy:
                    r.note = "lifecycle.preventDestroy is set"
            else:
                r.action = Action.UPDATE
        return r

    def undeclared_res(self, addr: str, entry: ResourceState) -> Item | None:
        """A state entry with no manifest: delete it, or forget it (None) when it is already gone."""
        kind = get_kind(entry.kind)
        r = Item(addr, kind, entry.name, entry=entry, old_id=entry.id or None)
        obj = self.live_object(kind, r.old_id)
        if obj is None:
            return None
        r.live_raw, r.live, r.live_refs = self.live_view(kind, obj)
        r.action = Action.DELETE
        if DEPOSED_MARK in addr:
            r.reason, r.detail = Reason.DEPOSED, addr.split(DEPOSED_MARK, 1)[0]
        prior = {k: v for k, v in (entry.applied or {}).items() if k not in kind.read_only}
        r.fields = _leaf_fields(prior, Redactor((), entry.secrets), side="before")
        return r

    # -- the plan -----------------------------------------------------------------------------

    def plan(self, environment: str, desired: list[Desired], targets: Iterable[str]) -> Plan:
        res: dict[str, Item] = {}
        lookups = resolve_lookups([d for d in desired if d.lookup is not None], self.live_by_id, self.owner)
        desired = [d for d in desired if d.lookup is None]
        for d in desired:
            if d.address in res:
                raise ValueError(f"{d.address} is declared twice")
            res[d.address] = self.desired_res(d)
        for item in res.values():
            # A literal provider ID where a name may stand is no resource of this plan: no edge.
            item.desired_refs = [
                (p, t) for p, t in item.desired_refs if t in res or not names_literals(t.partition("/")[0])
            ]
        # After the lookups, which `owner` learns too: what references to each target hold.
        plan = Plan(environment, lookups=lookups, referenced=referenced_values(self.owner, self.live))
        for addr in sorted(self.state.resources):
            if addr in lookups:
                plan.forget.append(addr)  # once managed, now only looked up: never deleted
                continue
            if addr in res:
                continue
            r = self.undeclared_res(addr, self.state.resources[addr])
            if r is None:
                plan.forget.append(addr)
            else:
                res[addr] = r
        warnings = self.collisions(res)
        creates = {a for a, r in res.items() if r.action in (Action.CREATE, Action.REPLACE)}
        self.mark_repoints(res, creates)
        managed = {e.id for e in self.state.resources.values() if e.id}  # looked-up objects are not
        warnings += unmanaged_referrers(res, self.live_by_id, managed)
        steps: dict[str, Step] = {}
        create_steps(res, creates, self.filtered, steps)
        blocked: Warnings = []
        warnings += update_steps(res, creates, self.filtered, steps, self.unknown_in, blocked)
        warnings += blocked
        delete_steps(res, steps)

        written = {s.address for s in steps.values() if s.phase.method != "DELETE"}
        for addr in sorted(res):
            r = res[addr]
            if r.owned is not None and (
                addr in written or (r.action is None and addr in self.state.resources)
            ):
                # Written, or unchanged: live then already matches every declared field, so what is
                # declared now is what state should remember as applied (else a field declared while
                # already live, then dropped, would never be removed).
                owned_sensitive = [p for p in r.sensitive if paths.has(r.owned, p)]
                plan.applied[addr], plan.secrets[addr] = hash_secrets(
                    r.owned, owned_sensitive, self.hash_secret
                )
            if r.action is None:
                continue
            plan.changes.append(
                Change(
                    address=addr,
                    kind=r.kind.name,
                    name=r.name,
                    action=r.action,
                    id=None if r.action is Action.CREATE else r.old_id,
                    fields=[fc for _, fc in sorted(r.fields, key=lambda pf: path_key(pf[0]))],
                    reason=r.reason,
                    detail=r.detail,
                    note=r.note,
                )
            )
        plan.steps = ordered(steps)
        plan.warnings = [text for _, text in sorted(warnings)]
        targets = list(targets)
        if targets:
            prune(plan, res, targets, warnings)
        kept = {c.address for c in plan.changes}
        plan.unpreservable = [text for addr, text in sorted(blocked) if addr in kept]
        plan.protected = destructive_protected(plan, desired)
        return plan

    def collisions(self, res: dict[str, Item]) -> Warnings:
        """Warn when a create would duplicate a live object nobody manages (same display name).

        One warning per kind and name, however many creates and live objects share it (never each
        create crosswise with each live object).
        """
        unmanaged: dict[str, dict[str, list[str]]] = {}
        creating: dict[tuple[str, str], list[str]] = {}
        for addr in sorted(res):
            r = res[addr]
            if r.action is not Action.CREATE or r.spec is None:
                continue
            name = r.kind.display_name(r.spec)
            if not name or any(is_secret(p) or p in r.sensitive for p in _display_paths(r.kind)):
                continue
            if r.kind.name not in unmanaged:
                index: dict[str, list[str]] = {}
                for obj_id, obj in sorted(self.live_by_id.get(r.kind.name, {}).items()):
                    shown = r.kind.display_name(obj)
                    if shown and obj_id not in self.owner:
                        index.setdefault(shown, []).append(obj_id)
                unmanaged[r.kind.name] = index
            if unmanaged[r.kind.name].get(name):
                creating.setdefault((r.kind.name, name), []).append(addr)
        warnings: Warnings = []
        for (kind, name), addrs in creating.items():
            ids = unmanaged[kind][name]
            if len(addrs) == 1 and len(ids) == 1:
                text = (
                    f"{addrs[0]}: a live {kind} named {name!r} (id {ids[0]}) is not managed by vapiops; "
                    f"this plan creates another one. To manage the existing one instead, run: "
                    f"vapiops import {addrs[0]} {ids[0]}"
                )
            else:
                text = (
                    f"{', '.join(addrs)}: {len(ids)} live {kind}(s) named {name!r} (ids {', '.join(ids)}) "
                    f"are not managed by vapiops; this plan creates {len(addrs)} more. To manage an existing "
                    f"one instead, run `vapiops import ADDRESS ID` with one of these addresses and IDs"
                )
            warnings.append((addrs[0], text))
        return warnings

    def mark_repoints(self, res: dict[str, Item], creates: set[str]) -> None:
        """Resources whose live references point at an object this plan re-creates must be repointed.

        After the create the name means the new ID, so sending the keys that hold the reference again
        (whole, name space) repoints them; a replaced object's old copy is deleted only afterwards.
        """
        recreated = {a for a in creates if res[a].old_id}
        if not recreated:
            return
        for addr in sorted(res):
            r = res[addr]
            if r.desired is None or r.action not in (None, Action.UPDATE) or r.live is None:
                continue
            hits = [(p, t) for p, t in r.live_refs if t in recreated]
            if not hits:
                continue
            r.repoint = {p[0] for p, _ in hits}  # type: ignore[misc]
            if r.action is None:
                r.action = Action.UPDATE
                targets = sorted({t for _, t in hits})
                r.reason = Reason.REPOINT
                r.detail = "; ".join(
                    f"repoint to {'replaced' if res[t].action is Action.REPLACE else 're-created'} {t}"
                    for t in targets
                )
                r.fields = [
                    (p, FieldChange(format_path(p), paths.get(r.live_raw, p), paths.get(r.live, p)))
                    for p, _ in hits
                ]


def _display_paths(kind: Kind) -> list[Path]:
    return [paths.parse_path(p) for p in kind.display_name_paths]


def _leaf_fields(value: dict[str, Any], redact: Redactor, *, side: str) -> list[tuple[Path, FieldChange]]:
    """A whole object as fields (for a create or a delete): objects and lists of objects flattened."""
    out: list[tuple[Path, FieldChange]] = []

    def walk(v: Any, at: Path) -> None:
        if at and redact.is_secret_at(at):
            leaf(at, v)
        elif isinstance(v, dict) and v:
            for k, x in v.items():
                walk(x, at + (k,))
        elif isinstance(v, list) and v and all(isinstance(x, dict) for x in v):
            for i, x in enumerate(v):
                walk(x, at + (i,))
        elif at:
            leaf(at, v)

    def leaf(at: Path, v: Any) -> None:
        shown = redact(v, at)
        secret = shown is SENSITIVE
        before, after = (ABSENT, shown) if side == "after" else (shown, ABSENT)
        out.append((at, FieldChange(format_path(at), before, after, sensitive=secret)))

    walk(value, ())
    return out


def make_plan(
    environment: str,
    desired: list[Desired],
    state: State,
    live: Live,
    *,
    targets: Iterable[str] = (),
    update_filter: UpdateFilter = _identity,
    hash_secret: Hasher = default_hash,
    unknown_fields: UnknownFields = _no_unknown,
    replace: Iterable[str] = (),
) -> Plan:
    """The plan that makes the live org match `desired` (docs/plan.md).

    state: has .resources {address: entry with .kind .name .id .applied .secrets}.
    live: kind name -> every live object of that kind, raw as the API lists them (IDs). Every kind
    with a resource in state must be listed (ValueError otherwise: a missing listing is not "gone").
    update_filter(kind, body) trims a PATCH body to what the Update DTO accepts; hash_secret(value)
    fingerprints a secret for state; unknown_fields(kind, body) names the paths of a PATCH body that
    Vapi's published spec does not know (they are sent, and the plan warns). `replace`: addresses
    to re-create (create, repoint dependents, delete the old one) although unchanged.
    """
    planner = _Planner(
        state,
        live,
        update_filter=update_filter,
        hash_secret=hash_secret,
        unknown_fields=unknown_fields,
        replace=replace,
    )
    return planner.plan(environment, desired, targets)


def destructive_protected(plan: Plan, desired: Iterable[Desired]) -> list[str]:
    """Addresses the plan deletes or replaces although their manifest sets lifecycle.preventDestroy.

    A delete never appears here: a resource is deleted because its manifest is gone, and with it
    its lifecycle (state does not keep one) - Terraform behaves the same.
    """
    guarded = {d.address for d in desired if d.lifecycle.prevent_destroy}
    return sorted(
        c.address
        for c in plan.changes
        if c.address in guarded and c.action in (Action.DELETE, Action.REPLACE)
    )
