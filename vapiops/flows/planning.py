"""Planning one environment: read live objects, adopt what a crashed apply created (under the lock), plan, check safety."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from vapiops import vapispec
from vapiops.client import VapiClient
from vapiops.errors import StateError, UnsafePlan, VapiopsError
from vapiops.flows.context import Context, read_live
from vapiops.kinds import Kind
from vapiops.model import Action, Desired, Plan, name_of
from vapiops.planning.drift import drift_report
from vapiops.planning.planner import make_plan
from vapiops.planning.recovery import adopt_intents
from vapiops.state import ResourceState, State, StateBackend, hash_secret, secret_key


def refresh(backend: StateBackend, state: State, live: dict[str, list[dict]], *, locked: bool) -> list[str]:
    """Adopt objects a crashed apply created; returns the adopted addresses.

    This writes state, so it needs the environment's lock: apply holds it already (`locked`);
    a plain `plan` takes it only for this, and leaves the intents alone while another run
    holds it, since they are then that run's creates in flight, not a crash's leftovers.
    """
    if not state.intents:
        return []
    if locked:
        return _adopt(backend, state, live)
    try:
        with backend.lock(who="plan (adopting interrupted creates)"):
            fresh = backend.load()  # the run that held the lock may have changed state meanwhile
            state.resources, state.intents, state.serial = fresh.resources, fresh.intents, fresh.serial
            return _adopt(backend, state, live)
    except StateError:
        return []


def _adopt(backend: StateBackend, state: State, live: dict[str, list[dict]]) -> list[str]:
    adopted = adopt_intents(state, live)
    for addr, obj_id in adopted.items():
        intent = state.intents[addr]
        # applied stays empty: nothing is known to be owned until the next apply records it.
        state.resources[addr] = ResourceState(
            kind=intent.kind, name=name_of(addr), id=obj_id, applied={}, secrets={}
        )
    state.intents.clear()
    backend.save(state)
    return sorted(adopted)


@dataclass
class Planned:
    """A plan and what it was made from (for plan files and their staleness check)."""

    plan: Plan
    desired: list[Desired]
    live: dict[str, list[dict]]
    adopted: list[str]


def build_plan(
    ctx: Context,
    client: VapiClient,
    state: State,
    *,
    targets: Iterable[str] = (),
    refresh_only: bool = False,
    desired: list[Desired] | None = None,
    locked: bool = False,
) -> Planned:
    """Read live state (adopting what a crashed apply created) and plan.

    `locked`: the caller holds the environment's state lock (apply, destroy).
    """
    known = set(state.resources) | ({d.address for d in desired} if desired is not None else set())
    if desired is None and not refresh_only:
        desired = ctx.desired()
        known |= {d.address for d in desired}
    unknown = sorted(t for t in targets if t not in known)
    if unknown:
        raise VapiopsError(
            f"--target {', '.join(unknown)}: no such resource in the manifests or the state",
            hint="write KIND/NAME as `vapiops state list` or the manifests have it",
        )
    live = read_live(client)
    adopted = refresh(ctx.backend, state, live, locked=locked)
    if refresh_only:
        return Planned(drift_report(ctx.env.name, state, live), [], live, adopted)
    assert desired is not None
    allow = ctx.project.allow_fields

    def update_filter(kind: Kind, body: dict) -> dict:
        return vapispec.filter_to_update(kind, body, allow_extra=allow.get(kind.name, ()))

    plan = make_plan(
        ctx.env.name,
        desired,
        state,
        live,
        targets=targets,
        update_filter=update_filter,
        hash_secret=_hasher(client, state),
    )
    return Planned(plan, desired, live, adopted)


def _hasher(client: VapiClient, state: State):
    # Keyed with the API key (never stored): a reader of state alone cannot test guesses.
    key = secret_key(client.derive_key, state.lineage)
    return lambda value: hash_secret(value, key)


# Above this share of at least SAFETY_MIN_RESOURCES managed resources, deletes need --force.
SAFETY_SHARE = 0.30
SAFETY_MIN_RESOURCES = 10


def check_safety(plan: Plan, state: State, *, force: bool) -> None:
    """Refuse a plan that destroys what must not go: preventDestroy, bulk deletes."""
    protected = [c.address for c in plan.changes if c.address in plan.protected]
    if protected:
        raise UnsafePlan(
            f"the plan would delete or replace {', '.join(protected)}, which lifecycle.preventDestroy protects",
            hint="change the manifest (remove preventDestroy) if you really mean it; --force does not pass this",
        )
    destructive = sum(1 for c in plan.changes if c.action in (Action.DELETE, Action.REPLACE))
    managed = len(state.resources)
    if managed >= SAFETY_MIN_RESOURCES and destructive > SAFETY_SHARE * managed and not force:
        raise UnsafePlan(
            f"the plan would delete or replace {destructive} of {managed} managed resources "
            f"(more than {SAFETY_SHARE:.0%})",
            hint="review the plan; pass --force to apply it anyway",
        )
