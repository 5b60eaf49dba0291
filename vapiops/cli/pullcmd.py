"""The `vapiops pull` command: options and printing; the flow is vapiops.flows.pull."""

from __future__ import annotations

from pathlib import Path

import click

from vapiops.cli.lazy import lazy_module
from vapiops.cli.options import EXIT_CHANGES, common, debug_stats, err, target_option

# Loaded on first use, so that `vapiops --help` stays fast (docs/performance.md).
pulling = lazy_module("vapiops.flows.pull")
context = lazy_module("vapiops.flows.context")


@click.command("pull")
@common()
@click.option(
    "--dry-run", is_flag=True, help="Print the diff of every file pull would change; write nothing."
)
@target_option()
@click.option(
    "--sandbox", is_flag=True, help="Run against an in-process Vapi sandbox (data under .vapiops/)."
)
def pull_command(
    path: Path,
    env_name: str | None,
    no_color: bool,
    debug: bool,
    dry_run: bool,
    targets: tuple[str, ...],
    sandbox: bool,
) -> None:
    """Write dashboard edits (live values of drifted declared fields) back into the manifests.

    Exits 2 when some drifted value comes from a template expression (a conflict, listed with
    file:line and the live value) and is left for you to resolve.
    """
    ctx = context.Context.open(path, env_name, sandbox=sandbox)
    state = ctx.backend.load()
    with context.client_for(ctx, sandbox) as client:
        result = pulling.pull(ctx, client, state, targets)
        debug_stats(debug, client)
    for note in result.notes:
        err(note)
    if dry_run:
        click.echo(result.diff(), nl=False)
    else:
        pulling.write(ctx, result)
        for line in result.pulled:
            err(f"pulled {line}")
    changed = ", ".join(sorted(result.files)) or "none"
    err(f"{'Would change' if dry_run else 'Changed'} files: {changed}")
    if result.conflicts:
        err(f"{len(result.conflicts)} conflict(s), not pulled: resolve them by hand")
        for conflict in result.conflicts:
            err(f"  {conflict}")
        raise SystemExit(EXIT_CHANGES)
