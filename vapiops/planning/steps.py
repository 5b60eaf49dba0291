"""The steps of a plan: which calls make the decided changes, and in what order. Pure.

Creates run after the creates they reference; a reference cycle is broken by creating without the
back-references and linking them afterwards; an update waits for the creates it references; a
delete waits until whatever still references the object has let go.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from vapiops import paths
from vapiops.kinds import Kind
from vapiops.model import ABSENT, PHASE_RANK, Action, Phase, Plan, Reason, Step, step_key
from vapiops.paths import Path, copy_json, format_path
from vapiops.planning.diff import build_patch, path_key
from vapiops.planning.graph import strongly_connected, topo_order
from vapiops.planning.item import Item
from vapiops.planning.secrets import masked_paths

# filter(kind, body, *sources): the body trimmed to what the Update DTO accepts (sources lend a
# discriminator the body lacks).
BodyFilter = Callable[..., dict[str, Any]]
# unknown(kind, body, *sources): paths in a PATCH body that Vapi's published spec does not know.
UnknownFields = Callable[..., list[Path]]
Warnings = list[tuple[str, str]]  # (address, text), sorted by address when shown


def _key(phase: Phase, addr: str) -> str:
    return step_key(phase, addr)


def create_steps(
    items: dict[str, Item], creates: set[str], filtered: BodyFilter, steps: dict[str, Step]
) -> None:
    """Creates after the creates they reference; cycles broken by deferring back-references.

    Inside a strongly connected component each member is created without its references to
    members not created yet, and a link PATCH afterwards sends the whole top-level keys that held
    them. Only an ID-array reference can be left out safely (the array loses an element); a single
    reference may be required (a scorecard metric's structuredOutputId), so the members are
    ordered to create the target of every single reference first wherever the cycle allows.
    """
    edges = [(t, a) for a in creates for _, t in items[a].desired_refs if t in creates]
    self_referencing = {a for t, a in edges if t == a}
    for component in strongly_connected(creates, edges):
        members = set(component)
        cyclic = len(component) > 1 or component[0] in self_referencing
        if cyclic:
            component = _creation_order(component, items)
        position = {a: i for i, a in enumerate(component)}
        for addr in component:
            r = items[addr]
            assert r.spec is not None
            deferred = [
                (p, t) for p, t in r.desired_refs if cyclic and t in members and position[t] >= position[addr]
            ]
            # The whole spec, ignore_changes values included: the object starts with them and
            # from then on they belong to the dashboard (never diffed or written again).
            body = copy_json(r.spec)
            for p, _ in sorted(deferred, key=lambda pt: path_key(pt[0]), reverse=True):
                paths.delete(body, p)  # an ID array loses the element, a single reference its key
            later = {t for _, t in deferred}
            after = {_key(Phase.CREATE, t) for _, t in r.desired_refs if t in creates and t not in later}
            after.discard(_key(Phase.CREATE, addr))
            steps[_key(Phase.CREATE, addr)] = Step(
                Phase.CREATE, addr, r.kind.name, body=body, after=sorted(after)
            )
            if deferred:
                keys = {str(p[0]) for p, _ in deferred} | {k for k in r.kind.patch_required if k in r.spec}
                link = {k: copy_json(r.spec[k]) for k in sorted(keys)}
                steps[_key(Phase.LINK, addr)] = Step(
                    Phase.LINK,
                    addr,
                    r.kind.name,
                    id=None,  # the object does not exist yet: apply takes the ID its create recorded
                    body=filtered(r.kind, link, r.spec),
                    after=sorted(_key(Phase.CREATE, m) for m in component),
                )


def _no_unknown(kind: Kind, body: dict[str, Any], *sources: Any) -> list[Path]:
    return []


def update_steps(
    items: dict[str, Item],
    creates: set[str],
    filtered: BodyFilter,
    steps: dict[str, Step],
    unknown: UnknownFields = _no_unknown,
    blocked: Warnings | None = None,
) -> Warnings:
    """One PATCH per updated address: the changed top-level keys, each sent whole.

    A key the live object has and the spec does not know is sent back as the API returned it (never
    dropped: Vapi replaces nested objects whole, so leaving it out deletes it); the plan says so, so
    a reviewer sees what goes out unchecked. A live value that is a mask is never sent back: when
    the key holding it must be sent and the manifest does not declare the value, the update
    cannot preserve it, and `blocked` gets a message (apply refuses it without --force).
    """
    warnings: Warnings = []
    blocked = blocked if blocked is not None else []
    for addr in sorted(items):
        r = items[addr]
        if r.action is not Action.UPDATE:
            continue
        assert r.owned is not None and r.live is not None
        changed = [p for p, fc in r.fields if fc.after is not ABSENT]
        removed = [p for p, fc in r.fields if fc.after is ABSENT]
        if r.repoint:
            changed += [(k,) for k in r.repoint]
        body = build_patch(
            r.owned, r.live, changed, removed, required=r.kind.patch_required, set_paths=r.kind.set_fields
        )
        sent = filtered(r.kind, body, r.owned, r.live)
        unpreservable = [p for p in masked_paths(sent) if not paths.has(r.owned, p)]
        for p in sorted(unpreservable, key=len, reverse=True):
            paths.delete(sent, p)  # a mask sent back would overwrite the secret it hides
        if unpreservable:
            where = ", ".join(map(format_path, unpreservable))
            blocked.append(
                (
                    addr,
                    f"{addr}: {where} is a secret the API returns masked; this update sends "
                    f"{'its' if len(unpreservable) == 1 else 'their'} parent whole and cannot "
                    f"preserve it (declare it in the manifest, e.g. with secret(), or pass --force "
                    f"to send the update without it)",
                )
            )
        dropped = sorted({p[0] for p in [*changed, *removed] if p and p[0] not in sent}, key=str)
        if dropped:
            # Without this the change would come back on every plan: say why instead of hiding it.
            warnings.append(
                (
                    addr,
                    (
                        f"{addr}: {', '.join(map(str, dropped))} cannot be changed by an update "
                        f"(Vapi's update body does not accept it); the change stays pending"
                    ),
                )
            )
        if not sent:
            continue
        passed = [p for p in unknown(r.kind, sent, r.owned, r.live) if not paths.has(r.owned, p)]
        if passed:
            warnings.append(
                (
                    addr,
                    f"{addr}: {', '.join(map(format_path, passed))} sent back as the API returned "
                    f"{'it' if len(passed) == 1 else 'them'}: not in Vapi's published spec",
                )
            )
        refs = {t for _, t in [*r.desired_refs, *r.live_refs]}
        phase = Phase.REPOINT if r.reason is Reason.REPOINT else Phase.UPDATE
        steps[_key(phase, addr)] = Step(
            phase,
            addr,
            r.kind.name,
            id=r.old_id,
            body=sent,
            after=sorted(_key(Phase.CREATE, t) for t in refs if t in creates and t != addr),
            query=override_query(r.kind, sent, r.live),
        )
    return warnings


def override_query(kind: Kind, sent: dict[str, Any], live: dict[str, Any]) -> dict[str, str]:
    """The kind's override flag (Kind.override_flag) as "true" when this PATCH changes the value it
    guards (a structured output's schema.type), else {} (the kind's default, "false", is sent)."""
    if kind.override_flag is None:
        return {}
    name, guarded = kind.override_flag
    at = paths.parse_path(guarded)
    if not paths.has(sent, at[:1]):
        return {}
    before, after = paths.get(live, at), paths.get(sent, at)
    return {name: "true"} if before != after else {}


def delete_steps(items: dict[str, Item], steps: dict[str, Step]) -> None:
    """Deletes (and a replaced object's old copy) after whatever still references them lets go."""
    doomed = sorted(a for a, r in items.items() if r.action in (Action.DELETE, Action.REPLACE))
    if not doomed:
        return
    referrers: dict[str, set[str]] = {}
    for addr, r in items.items():
        for _, t in r.live_refs:
            if t != addr:
                referrers.setdefault(t, set()).add(addr)
    # Mutual live references among deleted objects (assistant <-> handoff tool) form cycles:
    # inside one, delete in address order.
    pairs = [
        (d, a)
        for a in doomed
        for d in referrers.get(a, ())
        if d in items and items[d].action in (Action.DELETE, Action.REPLACE)
    ]
    component_of: dict[str, int] = {}
    for i, comp in enumerate(strongly_connected(doomed, pairs)):
        for a in comp:
            component_of[a] = i
    phase_of = {a: Phase.DELETE if items[a].action is Action.DELETE else Phase.DELETE_DEPOSED for a in doomed}
    for addr in doomed:
        r = items[addr]
        after: set[str] = set()
        if r.action is Action.REPLACE:
            after.add(_key(Phase.CREATE, addr))
        for d in referrers.get(addr, ()):
            after |= {_key(p, d) for p in (Phase.UPDATE, Phase.REPOINT) if _key(p, d) in steps}
            if d in phase_of and (component_of[d] != component_of[addr] or d < addr):
                after.add(_key(phase_of[d], d))
        steps[_key(phase_of[addr], addr)] = Step(
            phase_of[addr], addr, r.kind.name, id=r.old_id, after=sorted(after)
        )


def _creation_order(component: list[str], items: dict[str, Item]) -> list[str]:
    """A cycle's members in creation order: the target of a single (non-array) reference before
    the member that holds it, ties by address; a cycle of single references alone is broken at the
    smallest address (the API then says whether that reference may be left out)."""
    members = set(component)
    needs: dict[str, set[str]] = {a: set() for a in component}
    for addr in component:
        r = items[addr]
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


def ordered(steps: dict[str, Step]) -> list[Step]:
    """The steps in an order apply can run them one by one (each after what it waits for)."""
    edges = [(a, s.key) for s in steps.values() for a in s.after if a in steps]
    for s in steps.values():
        s.after = sorted(a for a in s.after if a in steps)
    order = topo_order(steps, edges, key=lambda k: (PHASE_RANK[steps[k].phase], k))
    return [steps[k] for k in order]


def prune(plan: Plan, items: dict[str, Item], targets: list[str], warnings: Warnings) -> None:
    """Keep the targeted addresses and, transitively, what they reference (Terraform's -target).

    A kept replace keeps the repoints of its dependents too: deleting the old object without them
    would leave those dependents pointing at nothing.
    """
    seen: set[str] = set()
    todo = list(targets)
    while todo:
        addr = todo.pop()
        if addr in seen:
            continue
        seen.add(addr)
        r = items.get(addr)
        if r is not None:
            todo.extend(t for _, t in r.desired_refs)
    changed = {c.address for c in plan.changes}
    keep = seen & changed
    for addr in sorted(keep):
        if items[addr].recreated:
            keep |= {a for a, r in items.items() if r.repoint and any(t == addr for _, t in r.live_refs)}
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
