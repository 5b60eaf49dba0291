"""The root command group and the plan, apply, destroy and validate commands: their options and output."""

from __future__ import annotations

import contextlib
import gc
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from vapiops import __version__, fsio
from vapiops.cli.lazy import lazy_module
from vapiops.cli.options import (
    EXIT_CHANGES,
    Seconds,
    VapiopsGroup,
    common,
    confirm,
    debug_stats,
    err,
    format_option,
    replace_option,
    target_option,
    use_color,
)
from vapiops.cli.projectcmds import init, output, show
from vapiops.cli.pullcmd import pull_command
from vapiops.cli.sandboxcmd import sandbox
from vapiops.cli.statecmds import state
from vapiops.cli.transfer import diff_command, export_command, import_
from vapiops.errors import VapiopsError
from vapiops.flows.interrupt import StopRequest, stop_on_signals
from vapiops.model import Desired, Plan
from vapiops.output import PLAN_FORMATS, render_plan, render_text
from vapiops.output.json import render_json

if TYPE_CHECKING:
    from vapiops.flows.context import Context

applying = lazy_module("vapiops.flows.applying")
checking = lazy_module("vapiops.flows.checking")
context = lazy_module("vapiops.flows.context")
planfile = lazy_module("vapiops.flows.planfile")
planning = lazy_module("vapiops.flows.planning")


@click.group(cls=VapiopsGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="vapiops")
def cli() -> None:
    """vapiops: Vapi assistants, tools, squads, structured outputs and scorecards as code.

    Keep manifests in git; `vapiops plan` shows how the live org differs; `vapiops apply`
    makes exactly the calls needed.
    """


STRICT_HELP = "Fields in neither Vapi's spec, the catalogue nor allow_fields are errors, not warnings."


def _warn(warnings: list) -> None:
    """One located line on stderr per validation warning."""
    for warning in warnings:
        err(f"warning: {warning}")


@cli.command()
@common()
@click.option("--strict", is_flag=True, help=STRICT_HELP)
def validate(path: Path, env_name: str | None, no_color: bool, debug: bool, strict: bool) -> None:
    """Check manifests offline: YAML, kinds, names, templates, references, Vapi's schemas.

    Sends no request. Without --env every environment of the project is checked. PATH may be
    a manifest file: the project holding it is checked. A field Vapi's spec does not list is a
    warning (the API will judge it), unless it looks like a typo of a known one.
    """
    warnings: list = []
    notes: list[str] = []
    try:
        manifests, counts = checking.validate(path, env_name, strict=strict, warnings=warnings, notes=notes)
    finally:
        _warn(warnings)
        for note in notes:
            err(f"note: {note}")
    err(f"Valid: {manifests} manifest{'s' if manifests != 1 else ''} ({', '.join(counts)}).")


def _print_plan(plan: Plan, fmt: str, color: bool) -> None:
    click.echo(render_plan(plan.to_dict(), fmt, color=color), nl=fmt != "json")


@cli.command()
@common()
@format_option(PLAN_FORMATS, "Output format (json: one JSON document on stdout).")
@click.option("--detailed-exitcode", is_flag=True, help="Exit 2 when there are changes, 0 when none.")
@target_option()
@replace_option()
@click.option(
    "--refresh-only", is_flag=True, help="Only report what changed on the server since the last apply."
)
@click.option(
    "--sandbox", is_flag=True, help="Run against an in-process Vapi sandbox (data under .vapiops/)."
)
@click.option("--out", "out", type=click.Path(path_type=Path), help="Save the plan for `vapiops apply FILE`.")
@click.option("--strict", is_flag=True, help=STRICT_HELP)
def plan(
    path: Path,
    env_name: str | None,
    no_color: bool,
    debug: bool,
    fmt: str,
    detailed_exitcode: bool,
    targets: tuple[str, ...],
    refresh_only: bool,
    sandbox: bool,
    out: Path | None,
    strict: bool,
    replace: tuple[str, ...] = (),
) -> None:
    """Show how the live Vapi org differs from the manifests. Writes nothing remote."""
    if out is not None and refresh_only:
        raise VapiopsError("--out cannot save a --refresh-only report", hint="drop one of the two")
    if replace and refresh_only:
        raise VapiopsError(
            "--replace plans a change; --refresh-only reports drift only", hint="drop one of the two"
        )
    if out is not None:
        fsio.check_writable_file(out, "--out")  # before any request: a directory cannot hold a plan
    ctx = context.Context.open(path, env_name, strict=strict, sandbox=sandbox)
    with contextlib.ExitStack() as stack:
        # The live objects are listed (GETs only) while the manifests are validated; a validation
        # error still ends the run before any lock or write (docs/performance.md).
        client, listing = (None, None) if sandbox else stack.enter_context(context.reading_ahead(ctx))
        desired = None if refresh_only else ctx.desired()
        _warn(ctx.warnings)
        state = ctx.backend.load()
        if desired is not None:
            context.refuse_empty(ctx, desired, state)
        if client is None:
            client = stack.enter_context(context.client_for(ctx, sandbox))
        planned = planning.build_plan(
            ctx,
            client,
            state,
            targets=targets,
            refresh_only=refresh_only,
            desired=desired,
            replace=replace,
            listing=listing,
        )
        debug_stats(debug, client)
    result = planned.plan
    for addr in planned.adopted:
        err(f"{addr}: adopted the object an interrupted apply created")
    _print_plan(result, fmt, use_color(no_color))
    if out is not None:
        if not ctx.backend.exists():
            # The fingerprints are keyed with the state's lineage: keep it, so `apply FILE` can check them.
            ctx.backend.save(state)
        planfile.save(
            out,
            result,
            planfile.fingerprint(planned.desired, planned.live, planned.state, client.derive_key),
            ctx.project.root,
            targets,
            replace,
        )
        err(f"Saved the plan to {out}; apply exactly it with `vapiops apply {out}`.")
    if detailed_exitcode and not result.is_empty:
        raise SystemExit(EXIT_CHANGES)


def _run_plan(
    ctx: Context,
    client: Any,
    state: Any,
    result: Plan,
    *,
    auto_approve: bool,
    force: bool,
    parallelism: int,
    color: bool,
    what: str,
    stop: StopRequest,
    desired: list[Desired] | None = None,
    fmt: str = "text",
) -> None:
    # With --format json stdout holds only the apply report: the plan goes to stderr.
    click.echo(render_text(result.to_dict(), color=color), err=fmt == "json")
    if result.is_empty:
        # No write to send; state still learns what is declared now (and forgets what is gone).
        outcome = applying.run(ctx, client, state, result)
        if fmt == "json":
            click.echo(render_json(outcome.to_dict(ctx.env.name)), nl=False)
        return
    planning.check_safety(result, state, force=force)
    if not auto_approve:
        confirm(what)
    outcome = applying.run(
        ctx, client, state, result, parallelism=parallelism, progress=err, desired=desired or (), stop=stop
    )
    for found in outcome.readback:
        err(f"Warning: {found}")
    if fmt == "json":
        click.echo(render_json(outcome.to_dict(ctx.env.name)), nl=False)
    summary = result.summary
    if outcome.ok and what == DESTROY_QUESTION:
        err(f"Destroy complete! Resources: {summary['destroy']} destroyed.")
        return
    if outcome.ok:
        err(
            f"Apply complete! Resources: {summary['add']} added, {summary['change']} changed, "
            f"{summary['destroy']} destroyed."
        )
        return
    lines = [
        f"Apply failed: {len(outcome.done)} call(s) done, {len(outcome.failed)} failed, "
        f"{len(outcome.skipped)} not started. State holds everything that was done."
    ]
    lines += [f"  failed: {key}: {msg}" for key, msg in outcome.failed.items()]
    lines += [f"  not started: {key}" for key in outcome.skipped]
    raise VapiopsError(
        "\n".join(lines), hint="fix the cause and run apply again: it carries on where it stopped"
    )


DESTROY_QUESTION = "destroy every managed resource"


def _apply_options(fn: Callable) -> Callable:
    fn = click.option(
        "--lock-timeout",
        default=0.0,
        type=Seconds(),
        metavar="SECONDS",
        help="Wait this long for another run's state lock (default: fail at once).",
    )(fn)
    fn = click.option("--sandbox", is_flag=True, help="Run against an in-process Vapi sandbox.")(fn)
    fn = click.option("--force", is_flag=True, help="Pass the bulk-destroy safety limit.")(fn)
    fn = click.option(
        "--parallelism",
        default=8,
        show_default=True,
        type=click.IntRange(1, 64),
        help="Independent calls run at once.",
    )(fn)
    fn = click.option("--auto-approve", is_flag=True, help="Do not ask for confirmation.")(fn)
    return fn


@cli.command()
@common()
@_apply_options
@target_option()
@replace_option()
@click.option("--strict", is_flag=True, help=STRICT_HELP)
@format_option(
    ("text", "json"), "json: one JSON report on stdout (steps done/failed/skipped, read-back warnings)."
)
def apply(
    path: Path,
    env_name: str | None,
    no_color: bool,
    debug: bool,
    auto_approve: bool,
    parallelism: int,
    force: bool,
    sandbox: bool,
    lock_timeout: float,
    targets: tuple[str, ...],
    strict: bool,
    fmt: str,
    replace: tuple[str, ...] = (),
) -> None:
    """Plan, show, ask, then make the changes (create, PATCH, DELETE) in dependency order.

    PATH may be a plan file from `vapiops plan --out`: then exactly that plan is applied, without
    asking, and only if neither the manifests nor the live objects changed since it was made.
    """
    saved = applying.load_saved_plan(path) if path.is_file() else None
    if saved is not None and env_name is not None and env_name != saved.environment:
        raise VapiopsError(
            f"this plan was made for environment {saved.environment!r}, not {env_name!r}",
            where=str(path),
            hint=f"apply it with --env {saved.environment} (or without --env), or plan {env_name} anew",
        )
    if saved is not None:
        auto_approve = True  # the plan was reviewed when it was saved
        targets = saved.targets
        ctx = applying.open_saved_context(saved, env_name, strict=strict, sandbox=sandbox)
    else:
        ctx = context.Context.open(path, env_name, strict=strict, sandbox=sandbox)
    desired = ctx.desired()
    _warn(ctx.warnings)
    with (
        stop_on_signals() as stop,
        ctx.backend.lock(who="apply", timeout=lock_timeout),
        context.client_for(ctx, sandbox) as client,
    ):
        state = ctx.backend.load()
        context.refuse_empty(ctx, desired, state)
        result = applying.plan_apply(
            ctx, client, state, targets=targets, desired=desired, saved=saved, replace=replace
        )
        _run_plan(
            ctx,
            client,
            state,
            result,
            auto_approve=auto_approve,
            force=force,
            parallelism=parallelism,
            color=use_color(no_color),
            what="apply these changes",
            desired=desired,
            fmt=fmt,
            stop=stop,
        )
        debug_stats(debug, client)


@cli.command()
@common()
@_apply_options
def destroy(
    path: Path,
    env_name: str | None,
    no_color: bool,
    debug: bool,
    auto_approve: bool,
    parallelism: int,
    force: bool,
    sandbox: bool,
    lock_timeout: float,
) -> None:
    """Delete every resource in the environment's state (dependents first).

    Destroy has no bulk-delete limit (deleting everything is what it is for): --force skips the
    confirmation, as Terraform's `destroy -force` did; preventDestroy still refuses.
    """
    auto_approve = auto_approve or force
    ctx = context.Context.open(path, env_name, sandbox=sandbox)
    with (
        stop_on_signals() as stop,
        ctx.backend.lock(who="destroy", timeout=lock_timeout),
        context.client_for(ctx, sandbox) as client,
    ):
        state = ctx.backend.load()
        result = applying.plan_destroy(ctx, client, state)
        _run_plan(
            ctx,
            client,
            state,
            result,
            auto_approve=auto_approve,
            force=True,
            parallelism=parallelism,
            color=use_color(no_color),
            what=DESTROY_QUESTION,
            stop=stop,
        )
        debug_stats(debug, client)


for _command in (state, import_, diff_command, export_command, pull_command, sandbox, init, show, output):
    cli.add_command(_command)


# A command builds one large, long-lived, acyclic set of values (manifests, state, live objects):
# at Python's default thresholds the cycle collector re-scans all of it again and again as it grows
# (~15% of validating 10,000 manifests). Collecting young objects every 50,000 allocations instead
# of 700 keeps cycles collected (an exception's traceback, say) at a cost linear in the work.
GC_THRESHOLDS = (50_000, 20, 10)


def main(argv: list[str] | None = None) -> None:
    """Console entry point."""
    gc.set_threshold(*GC_THRESHOLDS)
    cli.main(args=argv, prog_name="vapiops")
