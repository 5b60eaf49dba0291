"""The env diff flow: read the managed objects of two environments, each with its own key and state."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from vapiops.errors import VapiopsError
from vapiops.flows.context import Context, client_for, read_live
from vapiops.planning import envdiff as compare
from vapiops.state import State


@dataclass
class Side:
    """One environment as the comparison sees it."""

    ctx: Context
    state: State
    objects: dict[str, compare.ManagedObject]  # address -> its live object
    missing: list[str]  # in state, but the live object is gone
    stats: dict[str, int] = field(default_factory=dict)  # the requests made to read it


def open_both(path: Path | str, env_a: str, env_b: str, *, sandbox: bool) -> list[Context]:
    """Both environments' contexts; a missing API key fails here, naming its variable, before any request."""
    if env_a == env_b:
        raise VapiopsError(
            f"diff compares two environments; {env_a!r} was given twice", hint="vapiops diff ENV_A ENV_B"
        )
    contexts = [Context.open(path, env_a, sandbox=sandbox), Context.open(path, env_b, sandbox=sandbox)]
    if not sandbox:
        for ctx in contexts:
            ctx.env.api_key()
    return contexts


def read_sides(contexts: list[Context], *, sandbox: bool) -> Iterator[Side]:
    """Each environment's managed live objects, one environment at a time (in the order given)."""
    for ctx in contexts:
        state = ctx.backend.load()
        with client_for(ctx, sandbox) as client:
            live = read_live(client)
            stats = dict(getattr(client, "stats", None) or {})
        objects, missing = compare.managed_objects(state, live)
        yield Side(ctx, state, objects, missing, stats)


def compare_sides(env_a: str, a: Side, env_b: str, b: Side) -> dict[str, Any]:
    """The comparison's JSON document (see planning.envdiff)."""
    return compare.compare_envs(env_a, a.objects, env_b, b.objects).to_dict()
