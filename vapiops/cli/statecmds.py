"""The `vapiops state` commands: options and messages of list, show, rm and mv."""

from __future__ import annotations

import json
from pathlib import Path

import click

from vapiops.cli.options import common, err
from vapiops.flows import statecmds
from vapiops.flows.context import Context


@click.group()
def state() -> None:
    """Inspect and edit the state of an environment."""


@state.command(name="list")
@common()
def state_list(path: Path, env_name: str | None, no_color: bool, debug: bool) -> None:
    """List managed addresses and their IDs."""
    ctx = Context.open(path, env_name)
    for addr, object_id in statecmds.list_resources(ctx):
        click.echo(f"{addr}\t{object_id}")


@state.command(name="show")
@click.argument("address")
@common()
def state_show(address: str, path: Path, env_name: str | None, no_color: bool, debug: bool) -> None:
    """Show what state holds for ADDRESS (secrets only as hashes)."""
    ctx = Context.open(path, env_name)
    click.echo(json.dumps(statecmds.show(ctx, address), indent=2))


@state.command(name="rm")
@click.argument("address")
@common()
def state_rm(address: str, path: Path, env_name: str | None, no_color: bool, debug: bool) -> None:
    """Forget ADDRESS: the live object is left alone and no longer managed."""
    ctx = Context.open(path, env_name)
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
    ctx = Context.open(path, env_name)
    statecmds.move(ctx, source, destination)
    err(f"Moved {source} to {destination}.")
