"""Desired + live + prior state -> Plan: the changes people review and the ordered steps apply makes.

Pure: plain values in, a Plan out; no I/O. The rules are SPEC 4; in short:

- Everything is compared in "name space": live reference IDs of managed resources are translated to
  manifest names through state, so plans show names and apply resolves names to IDs at call time.
- Only declared fields are owned (vapiops.diff); ignore_changes paths are neither diffed, written nor
  recorded; secrets are compared by hash and never shown.
- An update is one PATCH of the changed top-level keys, each sent whole (live value + desired laid over).
- A change PATCH cannot make (kind.replace_fields) is a replace: create, repoint dependents, delete old.
- Creates run dependencies first; reference cycles are broken by creating without the back-references
  and linking them afterwards; deletes run dependents first.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from vapiops import paths
from vapiops.kinds import KINDS, Kind, address, get_kind
from vapiops.model import ABSENT, SENSITIVE, Action, Change, FieldChange, Plan, Step
from vapiops.paths import Path, format_path
from vapiops.planning.diff import (
    Hasher,
    Redactor,
    build_patch,
    compare,
    copy_json,
    default_hash,
    hash_secrets,
    ignore_patterns,
    is_secret,
    owned_equal,
    path_key,
    secret_values,
    sensitive_paths,
    strip_ignored,
)
from vapiops.planning.graph import owners, references, strongly_connected, to_names, topo_order
from vapiops.timestamps import CLOCK_SKEW, parse_time

__all__ = [
    "Desired", "adopt_intents", "default_hash", "deposed_address", "destructive_protected",
    "drift_report", "make_plan",
]

UpdateFilter = Callable[[Kind, dict[str, Any]], dict[str, Any]]


# Step order among steps that are ready together: creates, updates, links, then deletes.
_RANK = {"create": 0, "update": 1, "link": 2, "delete": 3}

# A replaced object's old copy is kept in state under `<address>.replaced-<old id>` from just before
# its replacement is created until it is deleted (Terraform's "deposed" object): a run that stops in
# between leaves a state entry with no manifest, which the next plan deletes, instead of an object
# nobody tracks any more.
_DEPOSED = ".replaced-"


def deposed_address(addr: str, old_id: str) -> str:
    """Where state keeps the old copy of `addr` while it is being replaced (a valid manifest address)."""
    return f"{addr}{_DEPOSED}{old_id}"


def _identity(kind: Kind, body: dict[str, Any]) -> dict[str, Any]:
    return body


@dataclass
class Desired:
    """One rendered manifest for one environment, as the planner takes it."""

    kind: str
    name: str
    spec: dict[str, Any]  # rendered spec; references hold manifest names (or raw UUIDs: unmanaged targets)
    lifecycle: Any  # .prevent_destroy: bool, .ignore_changes: tuple[str, ...]
    sensitive: frozenset[Path] = frozenset()  # spec paths whose values came from secret()
    where: str = ""  # "file:line" for messages

    @property
    def address(self) -> str:
        return address(self.kind, self.name)


@dataclass
class _Res:
    """Working record of one address while planning."""

    address: str
    kind: Kind
    name: str
    desired: Desired | None = None
    spec: dict[str, Any] | None = None  # desired spec, read-only keys out, references as names
    owned: dict[str, Any] | None = None  # spec without ignore_changes paths
    ignore: tuple[Path, ...] = ()
    sensitive: frozenset[Path] = frozenset()  # in spec
    old_id: str | None = None  # the id in state
    entry: Any = None  # the state entry
    live_raw: dict[str, Any] | None = None  # read-only keys out, IDs as the API returns them
    live: dict[str, Any] | None = None  # same in name space
    live_refs: list[tuple[Path, str]] = field(default_factory=list)  # managed targets of live references
    desired_refs: list[tuple[Path, str]] = field(default_factory=list)
    action: Action | None = None
    fields: list[tuple[Path, FieldChange]] = field(default_factory=list)
    reason: str | None = None
    repoint: set[str] = field(default_factory=set)  # top-level keys to send again to repoint references


class _Planner:
    def __init__(self, state: Any, live: dict[str, list[dict[str, Any]]], *,
                 update_filter: UpdateFilter = _identity, hash_secret: Hasher = default_hash):
        self.state = state
        self.update_filter = update_filter
        self.hash_secret = hash_secret
        # id -> (kind, name) of every managed resource: the translation between IDs and names.
        self.owner = owners(state.resources)
        self.live_by_id: dict[str, dict[str, dict[str, Any]]] = {
            kind: {str(o["id"]): o for o in objs if isinstance(o, dict) and o.get("id")}
            for kind, objs in live.items()
        }

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

    def filtered(self, kind: Kind, body: dict[str, Any], *sources: dict[str, Any] | None) -> dict[str, Any]:
        """update_filter(kind, body), with the DTO chosen right for a discriminated kind (tool).

        The discriminator picks the Update DTO but a PATCH body need not carry it; without it nothing
        would be filtered, and a live value sent back whole could keep keys the new shape rejects (a
        tool message whose type changed keeps the old type's `blocking`: a 400 on every apply). The
        value is lent from the first source that has it, for the filtering only.
        """
        disc = kind.discriminator
        if disc is None or disc in body:
            return self.update_filter(kind, body)
        value = next((src[disc] for src in sources if isinstance(src, dict) and disc in src), None)
        if value is None:
            return self.update_filter(kind, body)
        out = self.update_filter(kind, {disc: value, **body})
        out.pop(disc, None)
        return out

    # -- classification -----------------------------------------------------------------------

    def desired_res(self, d: Desired) -> _Res:
        kind = get_kind(d.kind)
        r = _Res(d.address, kind, d.name, desired=d)
        spec = {k: v for k, v in d.spec.items() if k not in kind.read_only}
        # A manifest may hold the raw UUID of a resource managed here: compare it by name too.
        r.spec, _ = to_names(kind, spec, self.owner)
        r.ignore = ignore_patterns(getattr(d.lifecycle, "ignore_changes", ()) or ())
        r.owned = strip_ignored(r.spec, r.ignore)
        r.sensitive = sensitive_paths(r.spec, d.sensitive)
        r.desired_refs = references(kind, r.spec)
        r.entry = self.state.resources.get(r.address)
        r.old_id = getattr(r.entry, "id", None) or None
        obj = self.live_object(kind, r.old_id)
        if obj is None:
            r.action = Action.CREATE
            r.reason = "deleted outside vapiops" if r.old_id else None
            r.fields = _leaf_fields(r.spec, Redactor(r.sensitive, (), secret_values(r.spec, r.sensitive)),
                                    side="after")
            return r
        r.live_raw, r.live, r.live_refs = self.live_view(kind, obj)
        prior = {k: v for k, v in (r.entry.applied or {}).items() if k not in kind.read_only}
        owned_sensitive = frozenset(p for p in r.sensitive if paths.has(r.owned, p))
        r.fields = compare(
            r.owned, r.live, prior, set_paths=kind.set_fields, ignore=r.ignore, sensitive=owned_sensitive,
            prior_secrets=getattr(r.entry, "secrets", None) or {}, hash_secret=self.hash_secret,
        )
        if r.fields:
            forced = sorted({p[0] for p, _ in r.fields if p and p[0] in kind.replace_fields}, key=str)
            if forced:
                r.action = Action.REPLACE
                r.reason = f"{', '.join(map(str, forced))} cannot change in place"
                if getattr(d.lifecycle, "prevent_destroy", False):
                    r.reason += "; lifecycle.preventDestroy is set"
            else:
                r.action = Action.UPDATE
        return r

    def undeclared_res(self, addr: str, entry: Any) -> _Res | None:
        """A state entry with no manifest: delete it, or forget it (None) when it is already gone."""
        kind = get_kind(entry.kind)
        r = _Res(addr, kind, entry.name, entry=entry, old_id=entry.id or None)
        obj = self.live_object(kind, r.old_id)
        if obj is None:
            return None
        r.live_raw, r.live, r.live_refs = self.live_view(kind, obj)
        r.action = Action.DELETE
        if _DEPOSED in addr:
            r.reason = f"old copy left by the replace of {addr.split(_DEPOSED, 1)[0]}"
        prior = {k: v for k, v in (entry.applied or {}).items() if k not in kind.read_only}
        r.fields = _leaf_fields(prior, Redactor((), getattr(entry, "secrets", None) or {}), side="before")
        return r

    # -- the plan -----------------------------------------------------------------------------

    def plan(self, environment: str, desired: list[Desired], targets: Iterable[str]) -> Plan:
        res: dict[str, _Res] = {}
        for d in desired:
            if d.address in res:
                raise ValueError(f"{d.address} is declared twice")
            res[d.address] = self.desired_res(d)
        plan = Plan(environment)
        for addr in sorted(self.state.resources):
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
        steps: dict[str, Step] = {}
        self.create_steps(res, creates, steps)
        warnings += self.update_steps(res, creates, steps)
        self.delete_steps(res, steps)

        written = {s.address for s in steps.values() if s.op != "delete"}
        for addr in sorted(res):
            r = res[addr]
            if r.owned is not None and (addr in written or (r.action is None and addr in self.state.resources)):
                # Written, or unchanged: live then already matches every declared field, so what is
                # declared now is what state should remember as applied (else a field declared while
                # already live, then dropped, would never be removed).
                owned_sensitive = [p for p in r.sensitive if paths.has(r.owned, p)]
                plan.applied[addr], plan.secrets[addr] = hash_secrets(r.owned, owned_sensitive, self.hash_secret)
            if r.action is None:
                continue
            plan.changes.append(Change(
                address=addr, kind=r.kind.name, name=r.name, action=r.action,
                id=None if r.action is Action.CREATE else r.old_id,
                fields=[fc for _, fc in sorted(r.fields, key=lambda pf: path_key(pf[0]))], reason=r.reason,
            ))
        plan.steps = _ordered(steps)
        plan.warnings = [text for _, text in sorted(warnings)]
        targets = list(targets)
        if targets:
            _prune(plan, res, targets, warnings)
        plan.protected = destructive_protected(plan, desired)
        return plan

    def collisions(self, res: dict[str, _Res]) -> list[tuple[str, str]]:
        """Warn when a create would duplicate a live object nobody manages (same display name)."""
        warnings: list[tuple[str, str]] = []
        unmanaged: dict[str, dict[str, list[str]]] = {}
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
            for obj_id in unmanaged[r.kind.name].get(name, []):
                warnings.append((addr, (
                    f"{addr}: a live {r.kind.name} named {name!r} (id {obj_id}) is not managed by vapiops; "
                    f"this plan creates another one. To manage the existing one instead, run: "
                    f"vapiops import {addr} {obj_id}"
                )))
        return warnings

    def mark_repoints(self, res: dict[str, _Res], creates: set[str]) -> None:
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
                r.reason = "; ".join(
                    f"repoint to {'replaced' if res[t].action is Action.REPLACE else 're-created'} {t}"
                    for t in targets
                )
                r.fields = [
                    (p, FieldChange(format_path(p), paths.get(r.live_raw, p), paths.get(r.live, p)))
                    for p, _ in hits
                ]

    def create_steps(self, res: dict[str, _Res], creates: set[str], steps: dict[str, Step]) -> None:
        """Creates after the creates they reference; cycles broken by deferring back-references.

        Inside a strongly connected component each member is created without its references to
        members not created yet, and a `link:` PATCH afterwards sends the whole top-level keys that
        held them. Only an ID-array reference can be left out safely (the array loses an element); a
        single reference may be required (a scorecard metric's structuredOutputId), so the members
        are ordered to create the target of every single reference first wherever the cycle allows.
        """
        edges = [(t, a) for a in creates for _, t in res[a].desired_refs if t in creates]
        for component in strongly_connected(creates, edges):
            members = set(component)
            cyclic = len(component) > 1 or any(t == a and a in members for t, a in edges)
            if cyclic:
                component = _creation_order(component, res)
            position = {a: i for i, a in enumerate(component)}
            for addr in component:
                r = res[addr]
                assert r.spec is not None
                deferred = [
                    (p, t) for p, t in r.desired_refs
                    if cyclic and t in members and position[t] >= position[addr]
                ]
                # The whole spec, ignore_changes values included: the object starts with them and
                # from then on they belong to the dashboard (never diffed or written again).
                body = copy_json(r.spec)
                for p, _ in sorted(deferred, key=lambda pt: path_key(pt[0]), reverse=True):
                    paths.delete(body, p)  # an ID array loses the element, a single reference its key
                later = {t for _, t in deferred}
                after = {f"create:{t}" for _, t in r.desired_refs if t in creates and t not in later}
                after.discard(f"create:{addr}")
                steps[f"create:{addr}"] = Step(
                    key=f"create:{addr}", op="create", address=addr, kind=r.kind.name, body=body,
                    after=sorted(after),
                )
                if deferred:
                    keys = {str(p[0]) for p, _ in deferred} | {k for k in r.kind.patch_required if k in r.spec}
                    link = {k: copy_json(r.spec[k]) for k in sorted(keys)}
                    steps[f"link:{addr}"] = Step(
                        key=f"link:{addr}", op="update", address=addr, kind=r.kind.name,
                        id=None,  # the object does not exist yet: apply takes the ID its create recorded
                        body=self.filtered(r.kind, link, r.spec),
                        after=sorted(f"create:{m}" for m in component),
                    )

    def update_steps(self, res: dict[str, _Res], creates: set[str],
                     steps: dict[str, Step]) -> list[tuple[str, str]]:
        warnings: list[tuple[str, str]] = []
        for addr in sorted(res):
            r = res[addr]
            if r.action is not Action.UPDATE:
                continue
            assert r.owned is not None and r.live is not None
            changed = [p for p, fc in r.fields if fc.after is not ABSENT]
            removed = [p for p, fc in r.fields if fc.after is ABSENT]
            if r.repoint:
                changed += [(k,) for k in r.repoint]
            body = build_patch(r.owned, r.live, changed, removed, required=r.kind.patch_required,
                               set_paths=r.kind.set_fields)
            sent = self.filtered(r.kind, body, r.owned, r.live)
            dropped = sorted({p[0] for p in [*changed, *removed] if p and p[0] not in sent}, key=str)
            if dropped:
                # Without this the change would come back on every plan: say why instead of hiding it.
                warnings.append((addr, (
                    f"{addr}: {', '.join(map(str, dropped))} cannot be changed by an update "
                    f"(Vapi's update body does not accept it); the change stays pending"
                )))
            if not sent:
                continue
            refs = {t for _, t in [*r.desired_refs, *r.live_refs]}
            steps[f"update:{addr}"] = Step(
                key=f"update:{addr}", op="update", address=addr, kind=r.kind.name, id=r.old_id, body=sent,
                after=sorted(f"create:{t}" for t in refs if t in creates and t != addr),
            )
        return warnings

    def delete_steps(self, res: dict[str, _Res], steps: dict[str, Step]) -> None:
        """Deletes (and a replaced object's old copy) after whatever still references them lets go."""
        doomed = sorted(a for a, r in res.items() if r.action in (Action.DELETE, Action.REPLACE))
        if not doomed:
            return
        referrers: dict[str, set[str]] = {}
        for addr, r in res.items():
            for _, t in r.live_refs:
                if t != addr:
                    referrers.setdefault(t, set()).add(addr)
        # Mutual live references among deleted objects (assistant <-> handoff tool) form cycles:
        # inside one, delete in address order.
        pairs = [(d, a) for a in doomed for d in referrers.get(a, ()) if d in res
                 and res[d].action in (Action.DELETE, Action.REPLACE)]
        component_of: dict[str, int] = {}
        for i, comp in enumerate(strongly_connected(doomed, pairs)):
            for a in comp:
                component_of[a] = i
        for addr in doomed:
            r = res[addr]
            after: set[str] = set()
            if r.action is Action.REPLACE:
                after.add(f"create:{addr}")
            for d in referrers.get(addr, ()):
                if f"update:{d}" in steps:
                    after.add(f"update:{d}")
                if d in res and res[d].action in (Action.DELETE, Action.REPLACE):
                    if component_of[d] != component_of[addr] or d < addr:
                        after.add(f"delete:{d}")
            steps[f"delete:{addr}"] = Step(
                key=f"delete:{addr}", op="delete", address=addr, kind=r.kind.name, id=r.old_id,
                after=sorted(after),
                # The old copy of a replaced object: its state entry already holds the new one.
                records=r.action is Action.DELETE,
            )


def _creation_order(component: list[str], res: dict[str, _Res]) -> list[str]:
    """A cycle's members in creation order: the target of a single (non-array) reference before
    the member that holds it, ties by address; a cycle of single references alone is broken at the
    smallest address (the API then says whether that reference may be left out)."""
    members = set(component)
    needs: dict[str, set[str]] = {a: set() for a in component}
    for addr in component:
        r = res[addr]
        for p, t in r.desired_refs:
            if t in members and t != addr and not _is_array_ref(r.kind, p):
                needs[addr].add(t)
    order: list[str] = []
    left = sorted(component)
    while left:
        done = set(order)
        pick = next((a for a in left if needs[a] <= done), left[0])
        order.append(pick)
        left.remove(pick)
    return order


def _is_array_ref(kind: Kind, path: Path) -> bool:
    """Whether the reference at this concrete path is an element of an ID array."""
    return any(ref.is_array and paths.matches(ref.pattern, path) for ref in kind.references)


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


def _ordered(steps: dict[str, Step]) -> list[Step]:
    edges = [(a, s.key) for s in steps.values() for a in s.after if a in steps]
    for s in steps.values():
        s.after = sorted(a for a in s.after if a in steps)
    order = topo_order(steps, edges, key=lambda k: (_RANK[k.split(":", 1)[0]], k))
    return [steps[k] for k in order]


def _prune(plan: Plan, res: dict[str, _Res], targets: list[str], warnings: list[tuple[str, str]]) -> None:
    """Keep the targeted addresses and, transitively, what they reference (Terraform's -target).

    A kept replace keeps the repoints of its dependents too: deleting the old object without them
    would leave those dependents pointing at nothing.
    """
    seen: set[str] = set()
    todo = [t for t in targets]
    while todo:
        addr = todo.pop()
        if addr in seen:
            continue
        seen.add(addr)
        r = res.get(addr)
        if r is not None:
            todo.extend(t for _, t in r.desired_refs)
    changed = {c.address for c in plan.changes}
    keep = seen & changed
    for addr in sorted(keep):
        if res[addr].action in (Action.REPLACE, Action.CREATE) and res[addr].old_id:
            keep |= {a for a, r in res.items() if r.repoint and any(t == addr for _, t in r.live_refs)}
    plan.changes = [c for c in plan.changes if c.address in keep]
    kept_steps = [s for s in plan.steps if s.address in keep]
    kept_keys = {s.key for s in kept_steps}
    for s in kept_steps:
        s.after = [a for a in s.after if a in kept_keys]
    plan.steps = kept_steps
    recorded = keep | (seen - changed)  # targeted (or needed) resources that are unchanged too
    plan.applied = {a: v for a, v in plan.applied.items() if a in recorded}
    plan.secrets = {a: v for a, v in plan.secrets.items() if a in recorded}
    plan.forget = [a for a in plan.forget if a in seen]
    plan.warnings = [text for addr, text in sorted(warnings) if addr in keep]


def make_plan(environment: str, desired: list[Desired], state: Any, live: dict[str, list[dict[str, Any]]], *,
              targets: Iterable[str] = (), update_filter: UpdateFilter = _identity,
              hash_secret: Hasher = default_hash) -> Plan:
    """The plan that makes the live org match `desired` (SPEC 4).

    state: has .resources {address: entry with .kind .name .id .applied .secrets}.
    live: kind name -> every live object of that kind, raw as the API lists them (IDs). Every kind
    with a resource in state must be listed (ValueError otherwise: a missing listing is not "gone").
    update_filter(kind, body) trims a PATCH body to what the Update DTO accepts; hash_secret(value)
    fingerprints a secret for state.
    """
    planner = _Planner(state, live, update_filter=update_filter, hash_secret=hash_secret)
    return planner.plan(environment, desired, targets)


def destructive_protected(plan: Plan, desired: Iterable[Desired]) -> list[str]:
    """Addresses the plan deletes or replaces although their manifest sets lifecycle.preventDestroy.

    A delete never appears here: a resource is deleted because its manifest is gone, and with it
    its lifecycle (state does not keep one) - Terraform behaves the same.
    """
    guarded = {d.address for d in desired if getattr(d.lifecycle, "prevent_destroy", False)}
    return sorted(
        c.address for c in plan.changes if c.address in guarded and c.action in (Action.DELETE, Action.REPLACE)
    )


def drift_report(environment: str, state: Any, live: dict[str, list[dict[str, Any]]], *,
                 hash_secret: Hasher = default_hash) -> Plan:
    """What changed on the server since the last apply (`plan --refresh-only`); a Plan with no steps.

    Each managed resource's declared fields (its `applied`) are compared with live under the
    ownership rules: a difference is an update "changed outside vapiops" with before = what vapiops
    applied and after = what is live now; a missing object is a delete "deleted outside vapiops".
    Secret values are not compared (Vapi may mask them, and state holds only their hashes, so a
    comparison could only ever report false drift); a secret field gone from the live object is
    reported. `hash_secret` is accepted for symmetry with make_plan.
    """
    del hash_secret
    planner = _Planner(state, live)
    plan = Plan(environment)
    for addr in sorted(state.resources):
        entry = state.resources[addr]
        kind = get_kind(entry.kind)
        obj = planner.live_object(kind, entry.id)
        if obj is None:
            plan.changes.append(Change(addr, kind.name, entry.name, Action.DELETE, entry.id,
                                       reason="deleted outside vapiops"))
            continue
        _, named, _ = planner.live_view(kind, obj)
        applied = {k: v for k, v in (entry.applied or {}).items() if k not in kind.read_only}
        secrets = getattr(entry, "secrets", None) or {}
        secret_paths = {paths.parse_path(k): k for k in secrets}
        fields = [
            (p, FieldChange(fc.path, fc.after, fc.before, fc.sensitive))
            for p, fc in compare(applied, named, None, set_paths=kind.set_fields, prior_secrets=secrets,
                                 skip=secret_paths)
        ]
        for p, dotted in secret_paths.items():
            if paths.get(named, p) is None:
                fields.append((p, FieldChange(dotted, SENSITIVE, ABSENT, sensitive=True)))
        if fields:
            plan.changes.append(Change(
                addr, kind.name, entry.name, Action.UPDATE, entry.id,
                fields=[fc for _, fc in sorted(fields, key=lambda pf: path_key(pf[0]))],
                reason="changed outside vapiops",
            ))
    return plan


def adopt_intents(state: Any, live: dict[str, list[dict[str, Any]]]) -> dict[str, str]:
    """Crash recovery (SPEC 6): {address: id} of the live objects that unfinished creates made.

    For each intent whose address has no ID in state, the object is a live one of that kind that
    nobody manages, created at or after intent.started_at minus CLOCK_SKEW, whose declared fields
    equal the body that was sent (secret paths skipped: the intent holds only their hashes).
    Several matches -> the oldest: the first POST is the one the intent recorded; a later
    identical object came from a retry or another run. The caller records the matches and drops
    every intent (one with no match never landed).
    """
    managed = {e.id for e in state.resources.values() if getattr(e, "id", None)}
    taken: set[str] = set()
    adopted: dict[str, str] = {}
    for addr in sorted(state.intents):
        intent = state.intents[addr]
        entry = state.resources.get(addr)
        if (entry is not None and getattr(entry, "id", None)) or intent.kind not in KINDS:
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


