"""The `init`, `show` and `output` commands: start a project, read a saved plan, list managed IDs."""

from __future__ import annotations

import json
import re
from pathlib import Path

import click

from vapiops.cli.lazy import lazy_module
from vapiops.cli.options import common, debug_option, err, format_option, use_color
from vapiops.flows import scaffold
from vapiops.output import PLAN_FORMATS, render_plan

# Loaded on first use, so that `vapiops --help` stays fast (docs/performance.md).
applying = lazy_module("vapiops.flows.applying")
statecmds = lazy_module("vapiops.flows.statecmds")
context = lazy_module("vapiops.flows.context")

# The old copy of a replaced resource, kept in state until its DELETE succeeds: not an output.
_REPLACED = re.compile(r"\.replaced-[^/]+$")


@click.command()
@click.argument("directory", required=False, default=".", type=click.Path(path_type=Path))
@click.option(
    "--ci", type=click.Choice(scaffold.CI_PROVIDERS), help="Also write the CI workflows (GitHub Actions)."
)
@debug_option
def init(directory: Path, ci: str | None, debug: bool) -> None:
    """Start a project in DIRECTORY: vapiops.yaml, resources/, prompts/, .gitignore (existing files are kept)."""
    done = scaffold.init(directory, ci)
    for rel in done.written:
        err(f"  created {rel}")
    for rel in done.kept:
        err(f"  kept    {rel} (already there)")
    err(
        f"Initialized a vapiops project in {directory}. Next: `vapiops validate {directory}`, "
        f"then `vapiops plan {directory} --env dev --sandbox` (no Vapi account needed)."
    )
    if ci:
        err(
            "The workflows need shared state (uncomment `state:` in vapiops.yaml) and the secrets "
            "listed at their top; see docs/ci.md."
        )


@click.command()
@click.argument("planfile", type=click.Path(dir_okay=False, path_type=Path))
@format_option(PLAN_FORMATS, "Output format.")
@click.option("--no-color", is_flag=True, help="No ANSI colours (also: NO_COLOR=1).")
@debug_option
def show(planfile: Path, fmt: str, no_color: bool, debug: bool) -> None:
    """Render a plan saved by `vapiops plan --out PLANFILE`. Reads no state and sends no request."""
    saved = applying.load_saved_plan(planfile)
    click.echo(render_plan(saved.doc["plan"], fmt, color=use_color(no_color)), nl=fmt != "json")


@click.command()
@common()
@click.option("--json", "as_json", is_flag=True, help="One JSON object {address: id} on stdout.")
def output(path: Path, env_name: str | None, no_color: bool, debug: bool, as_json: bool) -> None:
    """Every managed address with its Vapi ID: the map an application needs to place calls."""
    ctx = context.Context.open(path, env_name)
    ids = {addr: obj_id for addr, obj_id in statecmds.list_resources(ctx) if not _REPLACED.search(addr)}
    if as_json:
        click.echo(json.dumps(ids, indent=2, sort_keys=True))
    elif ids:
        width = max(len(addr) for addr in ids)
        for addr, obj_id in ids.items():
            click.echo(f"{addr.ljust(width)}  {obj_id}")
    if not ids:
        err(f"No resources in the state of environment {ctx.env.name!r}: nothing applied yet.")
