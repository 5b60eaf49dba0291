"""The command flows that join the pure core to I/O: load, validate, refresh, plan, apply.

cli.py only parses options and prints; everything a command does between reading the project
and producing a Plan or an apply result lives here, so tests can drive it without click.
"""

from __future__ import annotations

from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from vapiops import vapispec
from vapiops.client import VapiClient
from vapiops.errors import StateError, UnsafePlan, VapiopsError
from vapiops.kinds import KINDS, Kind
from vapiops.model import Action, Plan
from vapiops.planning.planner import Desired, adopt_intents, drift_report, make_plan
from vapiops.project.config import Environment, Project, load_project
from vapiops.project.manifest import load_manifests
from vapiops.project.validate import desired_resources
from vapiops.state import ResourceState, State, StateBackend, hash_secret, open_backend


@dataclass
class Context:
    """Everything one command needs about one environment of one project."""

    project: Project
    env: Environment
    store: StateBackend

    @classmethod
    def open(cls, root: Path | str, env_name: str | None) -> Context:
        project = load_project(root)
        env = project.environment(env_name)
        return cls(project, env, open_backend(project, env.name))

    def client(self, base_url: str | None = None) -> VapiClient:
        return VapiClient(base_url or self.env.resolved_base_url(), self.env.api_key())

    def desired(self) -> list[Desired]:
        return desired_resources(self.project, load_manifests(self.project), self.env)


def read_live(client: VapiClient, kinds: Iterable[Kind] = KINDS.values()) -> dict[str, list[dict]]:
    """Every live object of each kind, one listing per kind (read concurrently)."""
    kinds = list(kinds)
    with ThreadPoolExecutor(max_workers=len(kinds) or 1) as pool:
        results = list(pool.map(client.list, kinds))
    return {k.name: objs for k, objs in zip(kinds, results, strict=True)}


def refresh(store: StateBackend, state: State, live: dict[str, list[dict]], *, locked: bool) -> list[str]:
    """Adopt objects a crashed apply created (SPEC 6); returns the adopted addresses.

    This writes state, so it needs the environment's lock: apply holds it already (`locked`);
    a plain `plan` takes it only for this, and leaves the intents alone while another run
    holds it, since they are then that run's creates in flight, not a crash's leftovers.
    """
    if not state.intents:
        return []
    if locked:
        return _adopt(store, state, live)
    try:
        with store.lock(who="plan (adopting interrupted creates)"):
            fresh = store.load()  # the run that held the lock may have changed state meanwhile
            state.resources, state.intents, state.serial = fresh.resources, fresh.intents, fresh.serial
            return _adopt(store, state, live)
    except StateError:
        return []


def _adopt(store: StateBackend, state: State, live: dict[str, list[dict]]) -> list[str]:
    adopted = adopt_intents(state, live)
    for addr, obj_id in adopted.items():
        intent = state.intents[addr]
        # applied stays empty: nothing is known to be owned until the next apply records it.
        state.resources[addr] = ResourceState(
            kind=intent.kind, name=addr.split("/", 1)[1], id=obj_id, applied={}, secrets={}
        )
    state.intents.clear()
    store.save(state)
    return sorted(adopted)


@dataclass
class Planned:
    """A plan and what it was made from (for plan files and their staleness check)."""

    plan: Plan
    desired: list[Desired]
    live: dict[str, list[dict]]
    adopted: list[str]


def build_plan(ctx: Context, client: VapiClient, state: State, *, targets: Iterable[str] = (),
               refresh_only: bool = False, desired: list[Desired] | None = None, locked: bool = False) -> Planned:
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
    adopted = refresh(ctx.store, state, live, locked=locked)
    if refresh_only:
        return Planned(drift_report(ctx.env.name, state, live, hash_secret=_hasher(state)), [], live, adopted)
    assert desired is not None
    allow = ctx.project.allow_fields

    def update_filter(kind: Kind, body: dict) -> dict:
        return vapispec.filter_to_update(kind, body, allow_extra=allow.get(kind.name, ()))

    plan = make_plan(
        ctx.env.name, desired, state, live,
        targets=targets, update_filter=update_filter, hash_secret=_hasher(state),
    )
    return Planned(plan, desired, live, adopted)


def _hasher(state: State):
    return lambda value: hash_secret(value, state.lineage)


# Above this share of at least SAFETY_MIN_RESOURCES managed resources, deletes need --force.
SAFETY_SHARE = 0.30
SAFETY_MIN_RESOURCES = 10


def check_safety(plan: Plan, state: State, *, force: bool) -> None:
    """Refuse a plan that destroys what must not go (SPEC 4 safety): preventDestroy, bulk deletes."""
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
