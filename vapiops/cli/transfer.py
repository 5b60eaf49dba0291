"""The commands that move objects between Vapi and the project: import, export, and diff of two environments."""

from __future__ import annotations

import shlex
from pathlib import Path

import click

from vapiops.cli.lazy import lazy_module
from vapiops.cli.options import EXIT_CHANGES, common, debug_option, debug_stats, err, format_option, use_color
from vapiops.output import ENV_DIFF_FORMATS, render_env_diff

context = lazy_module("vapiops.flows.context")
envdiff = lazy_module("vapiops.flows.envdiff")
exporting = lazy_module("vapiops.flows.exporting")
imports = lazy_module("vapiops.flows.imports")


@click.command(name="import")
@click.argument("address")
@click.argument("object_id", metavar="ID")
@common()
@click.option("--sandbox", is_flag=True, help="Run against an in-process Vapi sandbox.")
def import_(
    address: str, object_id: str, path: Path, env_name: str | None, no_color: bool, debug: bool, sandbox: bool
) -> None:
    """Adopt the live object ID into state under ADDRESS (kind/name); the next plan shows its drift."""
    imports.check_address(address)
    ctx = context.Context.open(path, env_name, sandbox=sandbox)
    imports.import_object(ctx, address, object_id, sandbox=sandbox)
    err(f"Imported {object_id} as {address}. Run `vapiops plan` to see how it differs from the manifest.")


@click.command(name="diff")
@click.argument("env_a")
@click.argument("env_b")
@click.argument("path", required=False, default=".", type=click.Path(path_type=Path))
@format_option(ENV_DIFF_FORMATS, "Output format (json: one JSON document on stdout).")
@click.option("--detailed-exitcode", is_flag=True, help="Exit 2 when the environments differ, 0 when not.")
@click.option(
    "--sandbox", is_flag=True, help="Read both from the in-process Vapi sandbox (data under .vapiops/)."
)
@click.option("--no-color", is_flag=True, help="No ANSI colours (also: NO_COLOR=1).")
@debug_option
def diff_command(
    env_a: str,
    env_b: str,
    path: Path,
    fmt: str,
    detailed_exitcode: bool,
    sandbox: bool,
    no_color: bool,
    debug: bool,
) -> None:
    """Compare the live configuration of ENV_A and ENV_B by address (IDs translated to names).

    Lists every managed object in each environment (each with its own key and state) and shows what
    only one has and every field that differs (`path: ENV_A value -> ENV_B value`). Read-only fields
    are not compared; secrets only by presence, never shown.
    """
    contexts = envdiff.open_both(path, env_a, env_b, sandbox=sandbox)
    sides = []
    for side in envdiff.read_sides(contexts, sandbox=sandbox):
        debug_stats(debug, side)
        if not side.state.resources:
            err(
                f"Note: environment {side.ctx.env.name!r} manages no resources (its state at "
                f"{side.ctx.backend.describe()} is empty or absent)."
            )
        for addr in side.missing:
            err(
                f"Note: {addr} is in the state of {side.ctx.env.name!r} but its object is gone (deleted outside "
                "vapiops); compared as absent."
            )
        sides.append(side)
    report = envdiff.compare_sides(env_a, sides[0], env_b, sides[1])
    click.echo(render_env_diff(report, fmt, color=use_color(no_color)), nl=False)
    if detailed_exitcode and report["resources"]:
        raise SystemExit(EXIT_CHANGES)


@click.command(name="export")
@common()
@click.option(
    "--out",
    "out",
    type=click.Path(file_okay=False, path_type=Path),
    help="Directory for the manifests (default: resources/exported in the project).",
)
@click.option(
    "--adopt", is_flag=True, help="Record the exported objects in the environment's state (as import)."
)
@click.option("--force", is_flag=True, help="Overwrite manifest files that already exist.")
@click.option("--keep-defaults", is_flag=True, help="Keep fields equal to the defaults Vapi documents.")
@click.option("--sandbox", is_flag=True, help="Read from the in-process Vapi sandbox (data under .vapiops/).")
def export_command(
    path: Path,
    env_name: str | None,
    no_color: bool,
    debug: bool,
    out: Path | None,
    adopt: bool,
    force: bool,
    keep_defaults: bool,
    sandbox: bool,
) -> None:
    """Write manifests for the live objects of the environment (bootstrap an existing org).

    One file per resource, OUT/<kind>/<name>.yaml; references as names; secrets as secret()
    placeholders, never values. Objects already managed are skipped. Without --adopt the
    `vapiops import` commands that adopt the objects are printed on stdout.
    """
    ctx = context.Context.open(path, env_name, sandbox=sandbox)
    job = exporting.start(ctx, out)
    state = ctx.backend.load()
    with context.client_for(ctx, sandbox) as client:
        live = context.read_live(client)
        debug_stats(debug, client)
    exporting.select(ctx, job, state, live, keep_defaults=keep_defaults)
    exported, out_dir = job.exported, job.out_dir
    if job.skipped:
        err(
            f"Skipped {job.skipped} object(s) already managed in {ctx.env.name!r} (see `vapiops state list`)."
        )
    if not exported:
        err(f"Nothing to export: environment {ctx.env.name!r} has no unmanaged objects.")
        return
    written = exporting.write(ctx, job, state, adopt=adopt, force=force)
    err(
        f"Exported {len(exported)} resource(s) from environment {ctx.env.name!r} into {out_dir} "
        f"({len(written)} file(s))."
    )
    if exporting.outside_roots(ctx, job):
        err(f"Warning: {out_dir} is outside the project's manifest roots; plan will not read it.")
    for e in exported:
        if e.dropped:
            err(f"{e.address}: left out read-only fields: {', '.join(e.dropped)}")
        if e.local_file:
            err(
                f"warning: {e.address}: Vapi does not serve an uploaded file's content, so none was downloaded: "
                f"put the file at {e.local_file} (relative to the project root) before `vapiops plan`; "
                "a file of another size plans a replace"
            )
    secrets = [name for e in exported for name in e.secrets]
    if secrets:
        err(
            "Secret values were not exported; set these environment variables before validate, plan or "
            f"apply: {', '.join(secrets)}"
        )
    if adopt:
        exporting.adopt(ctx, job)
        err(
            f"Adopted {len(exported)} resource(s) into the state of {ctx.env.name!r}. "
            "`vapiops plan` should now show no changes."
        )
        return
    err(
        "They are not managed yet: adopt them with the `vapiops import` commands below (on stdout), "
        "or export again with --adopt --force."
    )
    where = "" if path == Path(".") else f" {shlex.quote(str(path))}"
    where += f" --env {shlex.quote(ctx.env.name)}" + (" --sandbox" if sandbox else "")
    for e in exported:
        click.echo(f"vapiops import {e.address} {shlex.quote(e.id)}{where}")
