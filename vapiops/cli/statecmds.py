"""The `vapiops state` commands: options and messages of list, show, rm, mv, unlock, pull and push."""

from __future__ import annotations

import json
from pathlib import Path

import click

from vapiops.cli.lazy import lazy_module
from vapiops.cli.options import common, err

context = lazy_module("vapiops.flows.context")
statecmds = lazy_module("vapiops.flows.statecmds")


@click.group()
def state() -> None:
    """Inspect and edit the state of an environment."""


@state.command(name="list")
@common()
@click.option("--json", "as_json", is_flag=True, help="One JSON array of {address, id} on stdout.")
def state_list(path: Path, env_name: str | None, no_color: bool, debug: bool, as_json: bool) -> None:
    """List managed addresses and their IDs."""
    ctx = context.Context.open(path, env_name)
    found = statecmds.list_resources(ctx)
    if as_json:
        click.echo(json.dumps([{"address": addr, "id": object_id} for addr, object_id in found], indent=2))
    for addr, object_id in [] if as_json else found:
        click.echo(f"{addr}\t{object_id}")
    if not found:
        err(f"No resources in the state of environment {ctx.env.name!r}.")


@state.command(name="show")
@click.argument("address")
@common()
def state_show(address: str, path: Path, env_name: str | None, no_color: bool, debug: bool) -> None:
    """Show what state holds for ADDRESS (secrets only as hashes)."""
    ctx = context.Context.open(path, env_name)
    click.echo(json.dumps(statecmds.show(ctx, address), indent=2))


@state.command(name="rm")
@click.argument("address")
@common()
def state_rm(address: str, path: Path, env_name: str | None, no_color: bool, debug: bool) -> None:
    """Forget ADDRESS: the live object is left alone and no longer managed."""
    ctx = context.Context.open(path, env_name)
    statecmds.remove(ctx, address)
    err(f"Removed {address} from state; the live object was not touched.")


@state.command(name="mv")
@click.argument("source")
@click.argument("destination")
@common()
def state_mv(
    source: str, destination: str, path: Path, env_name: str | None, no_color: bool, debug: bool
) -> None:
    """Rename SOURCE to DESTINATION in state (no delete and re-create)."""
    ctx = context.Context.open(path, env_name)
    statecmds.move(ctx, source, destination)
    err(f"Moved {source} to {destination}.")


@state.command(name="unlock")
@click.argument("lock_id")
@common()
def state_unlock(lock_id: str, path: Path, env_name: str | None, no_color: bool, debug: bool) -> None:
    """Release the lock LOCK_ID (printed in the lock error) of a run that is gone."""
    ctx = context.Context.open(path, env_name)
    statecmds.unlock(ctx, lock_id)
    err(f"Released lock {lock_id} of {ctx.backend.describe()}.")


@state.command(name="pull")
@common()
def state_pull(path: Path, env_name: str | None, no_color: bool, debug: bool) -> None:
    """Print the environment's state as one JSON document (secrets only as hashes)."""
    ctx = context.Context.open(path, env_name)
    click.echo(json.dumps(statecmds.pull(ctx), indent=2, sort_keys=True, ensure_ascii=False))


@state.command(name="push")
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@common()
@click.option("--force", is_flag=True, help="Replace even a state of another lineage or a newer serial.")
def state_push(
    file: Path, path: Path, env_name: str | None, no_color: bool, debug: bool, force: bool
) -> None:
    """Replace the environment's state with FILE (as `state pull` printed it)."""
    ctx = context.Context.open(path, env_name)
    pushed = statecmds.push(ctx, file, force=force)
    err(
        f"Pushed {file} to {ctx.backend.describe()} ({len(pushed.resources)} resources, serial {pushed.serial})."
    )
