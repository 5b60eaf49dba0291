"""Planning one environment: read live objects, adopt what a crashed apply created (under the lock), plan, check safety."""

from __future__ import annotations

import copy
import logging
import os
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

from vapiops import paths, vapispec
from vapiops.client import VapiClient
from vapiops.errors import StateError, UnsafePlan, VapiopsError, did_you_mean
from vapiops.flows.context import Context, LiveListing, attached_to_read, read_attached, read_live
from vapiops.flows.refactoring import apply_refactors, moved_hints
from vapiops.kinds import KINDS, Kind
from vapiops.model import Action, Desired, Plan, Reason, name_of
from vapiops.planning.drift import drift_report
from vapiops.planning.planner import make_plan
from vapiops.planning.recovery import POST_SETTLE, adopt_intents, unsettled_intents
from vapiops.state import ResourceState, State, StateBackend, hash_secret, secret_key

log = logging.getLogger(__name__)


def refresh(
    backend: StateBackend,
    state: State,
    live: dict[str, list[dict]],
    *,
    locked: bool,
    reread: Callable[[], dict[str, list[dict]]] | None = None,
    listed_at: datetime | None = None,
) -> list[str]:
    """Adopt objects a crashed apply created; returns the adopted addresses.

    This writes state, so it needs the environment's lock: apply holds it already (`locked`);
    a plain `plan` takes it only for this, and leaves the intents alone while another run
    holds it, since they are then that run's creates in flight, not a crash's leftovers.
    A recent unmatched intent may be a dead run's POST that has not landed yet: under `locked`
    (apply) the run waits until it must have, lists again (`reread`, updating `live`) and only
    then drops it; a plain plan leaves such an intent for apply to settle. `listed_at`: when the
    listing of `live` began (default: now), the moment an intent is judged settled against.
    """
    if not state.intents:
        return []
    listed_at = listed_at or datetime.now(timezone.utc)
    if locked:
        return _adopt(backend, state, live, reread, listed_at)
    try:
        with backend.lock(who="plan (adopting interrupted creates)"):
            fresh = backend.load()  # the run that held the lock may have changed state meanwhile
            state.resources, state.intents, state.serial = fresh.resources, fresh.intents, fresh.serial
            return _adopt(backend, state, live, None, listed_at)
    except StateError:
        return []


def post_settle() -> timedelta:
    """How long a killed run's POST may still land: POST_SETTLE, or VAPIOPS_POST_SETTLE_SECONDS
    when set (docs/state.md). Read here, not in the pure planning code."""
    raw = os.environ.get("VAPIOPS_POST_SETTLE_SECONDS", "")
    try:
        return timedelta(seconds=float(raw)) if raw.strip() else POST_SETTLE
    except ValueError:
        return POST_SETTLE


def _adopt(
    backend: StateBackend,
    state: State,
    live: dict[str, list[dict]],
    reread: Callable[[], dict[str, list[dict]]] | None,
    listed_at: datetime,
) -> list[str]:
    adopted = adopt_intents(state, live)
    # Judged at the listing's start, not now: a POST landing while the list was read may be missing.
    settled_at = unsettled_intents(state, adopted, listed_at, post_settle())
    if settled_at is not None and reread is not None:
        log.warning("waiting until %s for creates an interrupted run may still have in flight", settled_at)
        time.sleep(max(0.0, (settled_at - datetime.now(timezone.utc)).total_seconds()))
        live.clear()
        live.update(reread())
        adopted = adopt_intents(state, live)
        settled_at = None
    for addr, obj_id in adopted.items():
        intent = state.intents[addr]
        # applied stays empty: nothing is known to be owned until the next apply records it.
        state.resources[addr] = ResourceState(
            kind=intent.kind, name=name_of(addr), id=obj_id, applied={}, secrets={}
        )
    if settled_at is None:
        state.intents.clear()  # an intent with no match by now never landed
    else:
        for addr in adopted:
            del state.intents[addr]
    backend.save(state)
    return sorted(adopted)


@dataclass
class Planned:
    """A plan and what it was made from (for plan files and their staleness check)."""

    plan: Plan
    desired: list[Desired]
    live: dict[str, list[dict]]
    adopted: list[str]
    state: State  # what the plan was made against: with `moved:`/`import:` applied (a copy unless locked)


def build_plan(
    ctx: Context,
    client: VapiClient,
    state: State,
    *,
    targets: Iterable[str] = (),
    refresh_only: bool = False,
    desired: list[Desired] | None = None,
    locked: bool = False,
    replace: Iterable[str] = (),
    refactors: bool = True,
    listing: LiveListing | None = None,
) -> Planned:
    """Read live state (adopting what a crashed apply created) and plan.

    `locked`: the caller holds the environment's state lock (apply, destroy). `replace`: addresses
    to re-create although unchanged (--replace); each must have a manifest. `refactors`: apply
    vapiops.yaml's `moved:`/`import:` (not for destroy, which adopts nothing). `listing`: the live
    objects, already being read (plan reads them while it validates the manifests).
    """
    known = set(state.resources) | ({d.address for d in desired} if desired is not None else set())
    if desired is None and not refresh_only:
        desired = ctx.desired()
        known |= {d.address for d in desired}
    check_addresses("--target", targets, known, "in the manifests or the state")
    check_addresses("--replace", replace, {d.address for d in desired or []}, "in the manifests")
    attached = attached_to_read(state, desired or ())
    if listing is not None:
        listed_at, live = (
            listing.started_at,
            read_attached(client, KINDS.values(), listing.result(), attached),
        )
    else:
        listed_at, live = datetime.now(timezone.utc), read_live(client, attached=attached)
    bind_org(ctx, state, live, persist=locked)  # before any write: refuses another org's key
    adopted = refresh(
        ctx.backend,
        state,
        live,
        locked=locked,
        reread=lambda: read_live(client, attached=attached),
        listed_at=listed_at,
    )
    if refresh_only:
        return Planned(drift_report(ctx.env.name, state, live), [], live, adopted, state)
    assert desired is not None
    if not locked and refactors and (ctx.project.moved or ctx.project.imports):
        # plan records nothing: the refactors are applied to a copy (apply applies them for real).
        # Without blocks nothing changes state (planning is pure), and copying 10,000 entries costs
        # a quarter of a second.
        state = copy.deepcopy(state)
    moved, imported = (
        apply_refactors(ctx.project, ctx.env.name, state, live, desired) if refactors else ([], [])
    )
    allow = ctx.project.allow_fields

    def unknown_fields(kind: Kind, body: dict) -> list:
        allowed = [paths.parse_path(p) for p in allow.get(kind.name, ())]
        found = vapispec.unknown_paths(kind, body)
        return [p for p in found if not any(paths.matches(a, p[: len(a)]) for a in allowed)]

    plan = make_plan(
        ctx.env.name,
        desired,
        state,
        live,
        targets=targets,
        update_filter=vapispec.filter_to_update,
        hash_secret=_hasher(client, state),
        unknown_fields=unknown_fields,
        replace=replace,
    )
    # Validation's warnings (fields no schema lists, sent as written) belong in the plan a reviewer reads.
    plan.warnings = [f"warning: {w}" for w in ctx.warnings] + plan.warnings + moved_hints(plan)
    plan.moved, plan.imported = moved, imported
    return Planned(plan, desired, live, adopted, state)


def check_addresses(option: str, given: Iterable[str], known: set[str], where: str) -> None:
    """Each address `option` names is one of `known`, else one error with a did-you-mean per typo."""
    unknown = sorted(a for a in given if a not in known)
    if unknown:
        raise VapiopsError(
            f"{option} {', '.join(a + did_you_mean(a, known) for a in unknown)}: no such resource {where}",
            hint="write KIND/NAME as `vapiops state list` or the manifests have it",
        )


def live_orgs(live: dict[str, list[dict]]) -> set[str]:
    """The orgIds the live objects carry (every Vapi object does): the org the API key belongs to."""
    return {
        o["orgId"] for objs in live.values() for o in objs if isinstance(o.get("orgId"), str) and o["orgId"]
    }


def bind_org(ctx: Context, state: State, live: dict[str, list[dict]], *, persist: bool) -> None:
    """State is bound to the org its IDs live in: refuse a key of another org, else learn the org.

    Knowable only when the key's org has objects (Vapi has no "which org am I" call); an empty org
    is caught instead by the re-create share of check_safety. `persist` (the caller holds the lock):
    an org learned now is saved at once, so a later run with another key is refused even if this
    one stops early.
    """
    orgs = live_orgs(live)
    if state.org_id is not None and orgs and state.org_id not in orgs:
        raise StateError(
            f"the API key of environment {ctx.env.name!r} belongs to org {', '.join(sorted(orgs))}, but its state "
            f"was made in org {state.org_id}; nothing was sent",
            where=ctx.backend.describe(),
            hint=f"check {ctx.env.api_key_env} (the key of org {state.org_id}); "
            "another org needs its own environment (its own state)",
        )
    if state.org_id is None and len(orgs) == 1:
        managed = {e.id for e in state.resources.values()}
        ids_here = {o.get("id") for objs in live.values() for o in objs}
        if not managed or managed & ids_here:  # never bind a state to an org that holds none of its IDs
            state.org_id = next(iter(orgs))
            if persist and ctx.backend.exists():
                ctx.backend.save(state)


def _hasher(client: VapiClient, state: State):
    # Keyed with the API key (never stored): a reader of state alone cannot test guesses.
    key = secret_key(client.derive_key, state.lineage)
    return lambda value: hash_secret(value, key)


# Above this share of at least SAFETY_MIN_RESOURCES managed resources, deletes need --force.
SAFETY_SHARE = 0.30
SAFETY_MIN_RESOURCES = 10


def check_safety(plan: Plan, state: State, *, force: bool) -> None:
    """Refuse a plan that destroys what must not go: preventDestroy, masked secrets, bulk deletes."""
    protected = [c.address for c in plan.changes if c.address in plan.protected]
    if protected:
        raise UnsafePlan(
            f"the plan would delete or replace {', '.join(protected)}, which lifecycle.preventDestroy protects",
            hint="change the manifest (remove preventDestroy) if you really mean it; --force does not pass this",
        )
    if plan.unpreservable and not force:
        raise UnsafePlan(
            "an update would lose a secret the API returns masked:\n"
            + "\n".join(f"  {text}" for text in plan.unpreservable),
            hint="declare the value in the manifest, or pass --force to apply without it",
        )
    managed = len(state.resources)
    if managed < SAFETY_MIN_RESOURCES or force:
        return
    destructive = sum(1 for c in plan.changes if c.action in (Action.DELETE, Action.REPLACE))
    if destructive > SAFETY_SHARE * managed:
        raise UnsafePlan(
            f"the plan would delete or replace {destructive} of {managed} managed resources "
            f"(more than {SAFETY_SHARE:.0%})",
            hint="review the plan; pass --force to apply it anyway",
        )
    # A key of another (or an empty) org shows every managed object as gone: re-creating them all
    # there, then again with the right key, would duplicate the whole project.
    recreated = sum(
        1 for c in plan.changes if c.action is Action.CREATE and c.reason is Reason.DELETED_OUTSIDE
    )
    if recreated > SAFETY_SHARE * managed:
        raise UnsafePlan(
            f"the plan would re-create {recreated} of {managed} managed resources as deleted outside vapiops "
            f"(more than {SAFETY_SHARE:.0%}): is this the API key of the org the state was made in?",
            hint="check the environment's API key; pass --force if they really were deleted",
        )
