"""Applying and destroying: saved plan files, the plans apply and destroy make, and running a plan."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from vapiops.client import VapiClient
from vapiops.errors import VapiopsError
from vapiops.flows import planfile
from vapiops.flows.apply import Applier, ApplyResult, Progress
from vapiops.flows.context import Context
from vapiops.flows.interrupt import StopRequest
from vapiops.flows.planning import build_plan
from vapiops.model import Desired, Plan
from vapiops.project.manifest import load_manifests
from vapiops.state import State


@dataclass
class SavedPlan:
    """A plan file from `vapiops plan --out`, checked enough that using it cannot crash."""

    doc: dict[str, Any]
    where: str  # the file, for messages

    @property
    def project_dir(self) -> Path:
        root = Path(self.doc["project_root"])
        return root if root.is_dir() else Path(".")

    @property
    def environment(self) -> str:
        return str(self.doc["plan"]["environment"])

    @property
    def targets(self) -> tuple[str, ...]:
        return tuple(self.doc.get("targets", []))

    @property
    def replace(self) -> tuple[str, ...]:
        return tuple(self.doc.get("replace", []))


def load_saved_plan(path: Path) -> SavedPlan:
    """The plan file `apply FILE` was given, checked enough that using it cannot crash."""
    if not planfile.is_plan_file(path):
        raise VapiopsError(
            "is a file but not a vapiops plan file",
            where=str(path),
            hint="apply a project directory, or a plan saved by `vapiops plan --out FILE`",
        )
    saved = planfile.load(path)
    damage = planfile.damage(saved)
    if damage:
        raise VapiopsError(
            f"plan file is damaged: {damage}; nothing was sent",
            where=str(path),
            hint="make a new one with `vapiops plan --out FILE`",
        )
    return SavedPlan(saved, str(path))


def open_saved_context(saved: SavedPlan, env_name: str | None, **options: Any) -> Context:
    """The project and environment a saved plan was made for (`--env` wins over the file's)."""
    try:
        return Context.open(saved.project_dir, env_name or saved.environment, **options)
    except VapiopsError as exc:
        if exc.where or env_name:
            raise
        # The environment came from the plan file: say so, rather than blame a --env never given.
        raise VapiopsError(
            f"the plan file's environment: {exc.message}", where=saved.where, hint=exc.hint
        ) from None


def plan_apply(
    ctx: Context,
    client: VapiClient,
    state: State,
    *,
    targets: Iterable[str],
    desired: list[Desired],
    saved: SavedPlan | None = None,
    replace: Iterable[str] = (),
) -> Plan:
    """The plan apply runs (the caller holds the lock); with `saved`, only if nothing changed since it was made."""
    if saved is not None:
        replace = saved.replace
    planned = build_plan(ctx, client, state, targets=targets, desired=desired, locked=True, replace=replace)
    if saved is not None:
        fresh = planfile.fingerprint(planned.desired, planned.live, state, client.derive_key)
        planfile.check_fresh(saved.doc, planned.plan, fresh, where=saved.where)
    return planned.plan


def plan_destroy(ctx: Context, client: VapiClient, state: State) -> Plan:
    """The plan that deletes every managed resource (the caller holds the lock)."""
    result = build_plan(ctx, client, state, desired=[], locked=True, refactors=False).plan
    # Nothing is desired here, so the planner cannot see lifecycles: read them from the manifests.
    guarded = {r.address for r in load_manifests(ctx.project) if r.lifecycle.prevent_destroy}
    result.protected = [c.address for c in result.changes if c.address in guarded]
    return result


def run(
    ctx: Context,
    client: VapiClient,
    state: State,
    plan: Plan,
    *,
    parallelism: int = 8,
    progress: Progress = lambda _line: None,
    desired: Iterable[Desired] = (),
    stop: StopRequest | None = None,
) -> ApplyResult:
    """Make the plan's calls, recording each in the environment's state (the caller holds the lock).

    An empty plan makes no call; state still learns what is declared now (and forgets what is gone).
    """
    result = Applier(
        plan,
        client,
        ctx.backend,
        state,
        parallelism=parallelism,
        progress=progress,
        stop=stop,
        root=ctx.project.root,
    ).run()
    if desired:
        locate_rejected_fields(result, plan, desired)
    return result


def locate_rejected_fields(result: ApplyResult, plan: Plan, desired: Iterable[Desired]) -> None:
    """Point each failure at the manifest line of a field it names that validate let through as unknown.

    `validate` sends a field Vapi's published spec does not list as written (the API judges it);
    when the API then rejects the call naming that field, say where the field is written.
    """
    written = {d.address: d.unknown_fields for d in desired if d.unknown_fields}
    steps = {s.key: s for s in plan.steps}
    for key, message in result.failed.items():
        step = steps.get(key)
        fields = written.get(step.address, ()) if step is not None else ()
        named = [(path, where) for path, where in fields if path.rsplit(".", 1)[-1].split("[")[0] in message]
        if named:
            result.failed[key] = message + "".join(
                f" ({path} is written at {where}; it is not in Vapi's published spec)"
                for path, where in named
            )
