"""The command line: parses options, prints, and turns every VapiopsError into one line and exit 1."""

from __future__ import annotations

import contextlib
import json
import os
import shlex
import sys
import traceback
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import click

from vapiops import __version__
from vapiops.client import VapiClient
from vapiops.errors import ApiError, ValidationError, VapiopsError
from vapiops.flows import export as exporter
from vapiops.flows import planfile
from vapiops.flows.apply import Applier
from vapiops.flows.engine import Context, build_plan, check_safety, read_live
from vapiops.kinds import KINDS, split_address
from vapiops.model import Plan
from vapiops.output.render import render_json, render_markdown, render_text
from vapiops.planning import envdiff as compare
from vapiops.planning.graph import owners
from vapiops.project.config import load_project
from vapiops.project.manifest import load_manifests
from vapiops.project.validate import desired_resources
from vapiops.state import ResourceState

EXIT_ERROR, EXIT_CHANGES = 1, 2  # Terraform's: 0 success (no changes), 1 error, 2 changes pending


def _err(message: str) -> None:
    click.echo(message, err=True)


def use_color(no_color: bool) -> bool:
    """Colour only on a terminal, and never with --no-color or NO_COLOR (https://no-color.org)."""
    return not no_color and not os.environ.get("NO_COLOR") and sys.stdout.isatty()


def _remember_debug(ctx: click.Context, _param: click.Parameter, value: bool) -> bool:
    # ctx.meta is shared by the whole context chain, so the group sees a subcommand's --debug.
    if value:
        ctx.meta["vapiops.debug"] = True
    return value


def _debugging(ctx: click.Context) -> bool:
    # VAPIOPS_DEBUG=0 (or false/no/off) is a way of saying "off", not a non-empty "on".
    from_env = os.environ.get("VAPIOPS_DEBUG", "").strip().lower() not in ("", "0", "false", "no", "off")
    return bool(ctx.meta.get("vapiops.debug")) or from_env


_debug_option = click.option("--debug", is_flag=True, callback=_remember_debug,
                             help="Show tracebacks and request counts.")


def common() -> Callable:
    """Options every command takes: --env, --no-color, --debug, and the project PATH."""

    def decorate(fn: Callable) -> Callable:
        fn = _debug_option(fn)
        fn = click.option("--no-color", is_flag=True, help="No ANSI colours (also: NO_COLOR=1).")(fn)
        fn = click.option("--env", "env_name", metavar="ENV", help="Environment (default: the only one).")(fn)
        fn = click.argument("path", required=False, default=".", type=click.Path(path_type=Path))(fn)
        return fn

    return decorate


@contextlib.contextmanager
def client_for(ctx: Context, sandbox: bool) -> Iterator[Any]:
    """A VapiClient for the environment, or for an in-process sandbox under .vapiops/ (SPEC 7)."""
    if not sandbox:
        try:
            with ctx.client() as client:
                yield client
        except ApiError as exc:
            if exc.status in (401, 403):
                # The client cannot know which variable its key came from; this environment does.
                exc.hint = (f"Vapi rejected the API key of environment {ctx.env.name!r}: check "
                            f"{ctx.env.api_key_env} (a private key of the right org)")
            raise
        return
    from vapiops.sandbox import SandboxServer  # only the --sandbox path needs it

    data = ctx.project.root / ".vapiops" / "sandbox" / "data.json"
    data.parent.mkdir(parents=True, exist_ok=True)
    server = SandboxServer(data_file=data, allow_fields={k: list(v) for k, v in ctx.project.allow_fields.items()})
    url = server.start()
    key = os.environ.get(ctx.env.api_key_env) or f"sandbox-{ctx.env.name}"
    try:
        with VapiClient(url, key) as client:
            yield client
    finally:
        server.stop()


class VapiopsGroup(click.Group):
    """Turns every error into one clear line on stderr and exit 1; a traceback only with --debug."""

    def make_context(self, info_name: str | None, args: list[str], parent: click.Context | None = None,
                     **extra: Any) -> click.Context:
        try:
            return super().make_context(info_name, args, parent=parent, **extra)
        except click.UsageError as exc:
            raise _usage_exit_code(exc) from None

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except click.UsageError as exc:
            raise _usage_exit_code(exc) from None
        except (click.exceptions.Exit, click.ClickException, click.exceptions.Abort, SystemExit):
            raise
        except VapiopsError as exc:
            if _debugging(ctx):
                traceback.print_exc()
            _err(f"Error: {exc}")
        except KeyboardInterrupt:
            if _debugging(ctx):
                traceback.print_exc()
            _err("Error: interrupted. Every call that completed is recorded in state; "
                 "run `vapiops plan` to see what is left.")
            ctx.exit(130)
        except Exception as exc:  # a bug: still one line unless --debug
            if _debugging(ctx):
                traceback.print_exc()
            _err(f"Error: unexpected {type(exc).__name__}: {exc} (run with --debug for the traceback; please report it)")
        ctx.exit(EXIT_ERROR)


def _usage_exit_code(exc: click.UsageError) -> click.UsageError:
    # Click exits 2 on a usage error, but 2 is Terraform's "changes pending" (--detailed-exitcode):
    # a CI drift check with a mistyped option must fail, not report drift.
    # exit_code is a class attribute in newer click: set it on this instance only.
    setattr(exc, "exit_code", EXIT_ERROR)  # noqa: B010
    return exc


@click.group(cls=VapiopsGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="vapiops")
def cli() -> None:
    """vapiops: Vapi assistants, tools, squads, structured outputs and scorecards as code.

    Keep manifests in git; `vapiops plan` shows how the live org differs; `vapiops apply`
    makes exactly the calls needed.
    """


@cli.command()
@common()
def validate(path: Path, env_name: str | None, no_color: bool, debug: bool) -> None:
    """Check manifests offline: YAML, kinds, names, templates, references, Vapi's schemas.

    Sends no request. Without --env every environment of the project is checked. PATH may be
    a manifest file: the project holding it is checked.
    """
    if path.is_file():
        # A manifest's references reach across the project: validate the project that holds it.
        path = _project_root_of(path)
    project = load_project(path)
    envs = [project.environment(env_name)] if env_name else list(project.environments.values())
    resources = load_manifests(project)
    counts, problems = [], []
    for env in envs:  # every environment renders differently: check each, report every problem once
        try:
            counts.append(f"{len(desired_resources(project, resources, env))} in {env.name}")
        except ValidationError as exc:
            problems += [p for p in exc.problems if p not in problems]
    if problems:
        raise ValidationError(problems)
    _err(f"Valid: {len(resources)} manifest{'s' if len(resources) != 1 else ''} ({', '.join(counts)}).")


def _project_root_of(manifest: Path) -> Path:
    """The nearest folder above a manifest that has a vapiops.yaml, else the manifest's folder."""
    for folder in manifest.resolve().parents:
        if (folder / "vapiops.yaml").is_file():
            return folder
    return manifest.resolve().parent


def _print_plan(plan: Plan, fmt: str, color: bool, drift: bool = False) -> None:
    doc = plan.to_dict()
    if fmt == "json":
        click.echo(render_json(doc), nl=False)
    elif fmt == "markdown":
        click.echo(render_markdown(doc))
    else:
        click.echo(render_text(doc, color=color, drift=drift))


@cli.command()
@common()
@click.option("--format", "fmt", type=click.Choice(["text", "markdown", "json"]), default="text",
              show_default=True, help="Output format (json: one JSON document on stdout).")
@click.option("--detailed-exitcode", is_flag=True, help="Exit 2 when there are changes, 0 when none.")
@click.option("--target", "targets", multiple=True, metavar="ADDR", help="Only this address (repeatable).")
@click.option("--refresh-only", is_flag=True, help="Only report what changed on the server since the last apply.")
@click.option("--sandbox", is_flag=True, help="Run against an in-process Vapi sandbox (data under .vapiops/).")
@click.option("--out", "out", type=click.Path(path_type=Path), help="Save the plan for `vapiops apply FILE`.")
def plan(path: Path, env_name: str | None, no_color: bool, debug: bool, fmt: str, detailed_exitcode: bool,
         targets: tuple[str, ...], refresh_only: bool, sandbox: bool, out: Path | None) -> None:
    """Show how the live Vapi org differs from the manifests. Writes nothing remote."""
    if out is not None and refresh_only:
        raise VapiopsError("--out cannot save a --refresh-only report", hint="drop one of the two")
    ctx = Context.open(path, env_name)
    desired = None if refresh_only else ctx.desired()  # validation errors before any request
    state = ctx.store.load()
    with client_for(ctx, sandbox) as client:
        planned = build_plan(ctx, client, state, targets=targets, refresh_only=refresh_only, desired=desired)
        _debug_stats(debug, client)
    result = planned.plan
    for addr in planned.adopted:
        _err(f"{addr}: adopted the object an interrupted apply created")
    _print_plan(result, fmt, use_color(no_color), drift=refresh_only)
    if out is not None:
        if not ctx.store.exists():
            # The fingerprints are keyed with the state's lineage: keep it, so `apply FILE` can check them.
            ctx.store.save(state)
        planfile.save(out, result, planfile.fingerprint(planned.desired, planned.live, state), ctx.project.root,
                      targets)
        _err(f"Saved the plan to {out}; apply exactly it with `vapiops apply {out}`.")
    if detailed_exitcode and not result.is_empty:
        raise SystemExit(EXIT_CHANGES)


def _confirm(what: str) -> None:
    if not sys.stdin.isatty():
        raise VapiopsError(f"{what} needs confirmation and there is no terminal to ask on",
                           hint="pass --auto-approve")
    answer = click.prompt(f"Do you want to {what}? Only 'yes' will be accepted", default="", show_default=False,
                          err=True)
    if answer.strip() != "yes":
        raise VapiopsError(f"{what} cancelled")


def _run_plan(ctx: Context, client: Any, state: Any, result: Plan, *, auto_approve: bool, force: bool,
              parallelism: int, color: bool, what: str) -> None:
    click.echo(render_text(result.to_dict(), color=color))
    if result.is_empty:
        # No write to send; state still learns what is declared now (and forgets what is gone).
        Applier(result, client, ctx.store, state).run()
        return
    check_safety(result, state, force=force)
    if not auto_approve:
        _confirm(what)
    outcome = Applier(result, client, ctx.store, state, parallelism=parallelism, progress=_err).run()
    summary = result.summary
    if outcome.ok:
        _err(f"Apply complete! Resources: {summary['add']} added, {summary['change']} changed, "
             f"{summary['destroy']} destroyed.")
        return
    lines = [f"Apply failed: {len(outcome.done)} call(s) done, {len(outcome.failed)} failed, "
             f"{len(outcome.skipped)} not started. State holds everything that was done."]
    lines += [f"  failed: {key}: {msg}" for key, msg in outcome.failed.items()]
    lines += [f"  not started: {key}" for key in outcome.skipped]
    raise VapiopsError("\n".join(lines), hint="fix the cause and run apply again: it carries on where it stopped")


def _apply_options(fn: Callable) -> Callable:
    fn = click.option("--lock-timeout", default=0.0, type=click.FloatRange(0), metavar="SECONDS",
                      help="Wait this long for another run's state lock (default: fail at once).")(fn)
    fn = click.option("--sandbox", is_flag=True, help="Run against an in-process Vapi sandbox.")(fn)
    fn = click.option("--force", is_flag=True, help="Pass the bulk-destroy safety limit.")(fn)
    fn = click.option("--parallelism", default=8, show_default=True, type=click.IntRange(1, 64),
                      help="Independent calls run at once.")(fn)
    fn = click.option("--auto-approve", is_flag=True, help="Do not ask for confirmation.")(fn)
    return fn


@cli.command()
@common()
@_apply_options
@click.option("--target", "targets", multiple=True, metavar="ADDR", help="Only this address (repeatable).")
def apply(path: Path, env_name: str | None, no_color: bool, debug: bool, auto_approve: bool, parallelism: int,
          force: bool, sandbox: bool, lock_timeout: float, targets: tuple[str, ...]) -> None:
    """Plan, show, ask, then make the changes (create, PATCH, DELETE) in dependency order.

    PATH may be a plan file from `vapiops plan --out`: then exactly that plan is applied, without
    asking, and only if neither the manifests nor the live objects changed since it was made.
    """
    plan_path = path
    saved = _saved_plan(path) if path.is_file() else None
    if saved is not None:
        root = Path(saved["project_root"])
        path = root if root.is_dir() else Path(".")
        env_name = env_name or saved["plan"]["environment"]
        auto_approve = True  # the plan was reviewed when it was saved
        targets = tuple(saved.get("targets", []))
    ctx = Context.open(path, env_name)
    desired = ctx.desired()
    with ctx.store.lock(who="apply", timeout=lock_timeout), client_for(ctx, sandbox) as client:
        state = ctx.store.load()
        planned = build_plan(ctx, client, state, targets=targets, desired=desired, locked=True)
        if saved is not None:
            fresh = planfile.fingerprint(planned.desired, planned.live, state)
            planfile.check_fresh(saved, planned.plan, fresh, where=str(plan_path))
        _run_plan(ctx, client, state, planned.plan, auto_approve=auto_approve, force=force,
                  parallelism=parallelism, color=use_color(no_color), what="apply these changes")
        _debug_stats(debug, client)


def _saved_plan(path: Path) -> dict[str, Any]:
    """The plan file `apply FILE` was given, checked enough that using it cannot crash."""
    if not planfile.is_plan_file(path):
        raise VapiopsError("is a file but not a vapiops plan file", where=str(path),
                           hint="apply a project directory, or a plan saved by `vapiops plan --out FILE`")
    saved = planfile.load(path)
    plan_doc = saved.get("plan")
    well_formed = (
        isinstance(saved.get("project_root"), str)
        and isinstance(plan_doc, dict)
        and isinstance(plan_doc.get("environment"), str)
        and isinstance(saved.get("targets", []), list)
        and isinstance(saved.get("fingerprint", {}), dict)
    )
    if not well_formed:
        raise VapiopsError("plan file is damaged (fields are missing or of the wrong type)", where=str(path),
                           hint="make a new one with `vapiops plan --out FILE`")
    return saved


@cli.command()
@common()
@_apply_options
def destroy(path: Path, env_name: str | None, no_color: bool, debug: bool, auto_approve: bool, parallelism: int,
            force: bool, sandbox: bool, lock_timeout: float) -> None:
    """Delete every resource in the environment's state (dependents first)."""
    ctx = Context.open(path, env_name)
    with ctx.store.lock(who="destroy", timeout=lock_timeout), client_for(ctx, sandbox) as client:
        state = ctx.store.load()
        result = build_plan(ctx, client, state, desired=[], locked=True).plan
        # Nothing is desired here, so the planner cannot see lifecycles: read them from the manifests.
        guarded = {r.address for r in load_manifests(ctx.project) if r.lifecycle.prevent_destroy}
        result.protected = [c.address for c in result.changes if c.address in guarded]
        _run_plan(ctx, client, state, result, auto_approve=auto_approve, force=True, parallelism=parallelism,
                  color=use_color(no_color), what="destroy every managed resource")
        _debug_stats(debug, client)


@cli.command(name="import")
@click.argument("address")
@click.argument("object_id", metavar="ID")
@common()
@click.option("--sandbox", is_flag=True, help="Run against an in-process Vapi sandbox.")
def import_(address: str, object_id: str, path: Path, env_name: str | None, no_color: bool, debug: bool,
            sandbox: bool) -> None:
    """Adopt the live object ID into state under ADDRESS (kind/name); the next plan shows its drift."""
    kind_name, name = split_address(address)
    if kind_name not in KINDS or not name:
        raise VapiopsError(f"{address!r} is not an address", hint=f"write KIND/NAME, KIND one of {', '.join(KINDS)}")
    ctx = Context.open(path, env_name)
    with ctx.store.lock(who="import"), client_for(ctx, sandbox) as client:
        state = ctx.store.load()
        if address in state.resources:
            raise VapiopsError(f"{address} is already managed (id {state.resources[address].id})",
                               hint="use `vapiops state rm` first to re-import")
        other = state.address_of_id(object_id)
        if other:
            raise VapiopsError(f"{object_id} is already managed as {other}", hint="use `vapiops state mv` to rename")
        try:
            client.get(KINDS[kind_name], object_id)
        except ApiError as exc:
            if exc.status == 404:
                exc.hint = (f"no {kind_name} with this ID in environment {ctx.env.name!r}: check the ID, "
                            "its kind and --env")
            raise
        state.resources[address] = ResourceState(kind=kind_name, name=name, id=object_id, applied={}, secrets={})
        ctx.store.save(state)
    _err(f"Imported {object_id} as {address}. Run `vapiops plan` to see how it differs from the manifest.")


@cli.group()
def state() -> None:
    """Inspect and edit the state of an environment."""


@state.command(name="list")
@common()
def state_list(path: Path, env_name: str | None, no_color: bool, debug: bool) -> None:
    """List managed addresses and their IDs."""
    ctx = Context.open(path, env_name)
    for addr, entry in sorted(ctx.store.load().resources.items()):
        click.echo(f"{addr}\t{entry.id}")


@state.command(name="show")
@click.argument("address")
@common()
def state_show(address: str, path: Path, env_name: str | None, no_color: bool, debug: bool) -> None:
    """Show what state holds for ADDRESS (secrets only as hashes)."""
    ctx = Context.open(path, env_name)
    entry = ctx.store.load().resources.get(address)
    if entry is None:
        raise VapiopsError(f"{address} is not in state", hint="see `vapiops state list`")
    click.echo(json.dumps({"address": address, "id": entry.id, "applied": entry.applied}, indent=2))


@state.command(name="rm")
@click.argument("address")
@common()
def state_rm(address: str, path: Path, env_name: str | None, no_color: bool, debug: bool) -> None:
    """Forget ADDRESS: the live object is left alone and no longer managed."""
    ctx = Context.open(path, env_name)
    with ctx.store.lock(who="state rm"):
        st = ctx.store.load()
        if st.resources.pop(address, None) is None:
            raise VapiopsError(f"{address} is not in state", hint="see `vapiops state list`")
        ctx.store.save(st)
    _err(f"Removed {address} from state; the live object was not touched.")


@state.command(name="mv")
@click.argument("source")
@click.argument("destination")
@common()
def state_mv(source: str, destination: str, path: Path, env_name: str | None, no_color: bool, debug: bool) -> None:
    """Rename SOURCE to DESTINATION in state (no delete and re-create)."""
    ctx = Context.open(path, env_name)
    src_kind, _ = split_address(source)
    dst_kind, dst_name = split_address(destination)
    if src_kind != dst_kind or not dst_name:
        raise VapiopsError(f"cannot move {source} to {destination}", hint="both addresses must be of one kind")
    with ctx.store.lock(who="state mv"):
        st = ctx.store.load()
        if source not in st.resources:
            raise VapiopsError(f"{source} is not in state", hint="see `vapiops state list`")
        if destination in st.resources:
            raise VapiopsError(f"{destination} is already in state")
        entry = st.resources.pop(source)
        entry.name = dst_name
        st.resources[destination] = entry
        ctx.store.save(st)
    _err(f"Moved {source} to {destination}.")


# -- diff and export --------------------------------------------------------------------------


@cli.command(name="diff")
@click.argument("env_a")
@click.argument("env_b")
@click.argument("path", required=False, default=".", type=click.Path(path_type=Path))
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True,
              help="Output format (json: one JSON document on stdout).")
@click.option("--detailed-exitcode", is_flag=True, help="Exit 2 when the environments differ, 0 when not.")
@click.option("--sandbox", is_flag=True, help="Read both from the in-process Vapi sandbox (data under .vapiops/).")
@click.option("--no-color", is_flag=True, help="No ANSI colours (also: NO_COLOR=1).")
@_debug_option
def diff_command(env_a: str, env_b: str, path: Path, fmt: str, detailed_exitcode: bool, sandbox: bool,
                 no_color: bool, debug: bool) -> None:
    """Compare the live configuration of ENV_A and ENV_B by address (IDs translated to names).

    Lists every managed object in each environment (each with its own key and state) and shows what
    only one has and every field that differs (`path: ENV_A value -> ENV_B value`). Read-only fields
    are not compared; secrets only by presence, never shown.
    """
    if env_a == env_b:
        raise VapiopsError(f"diff compares two environments; {env_a!r} was given twice",
                           hint="vapiops diff ENV_A ENV_B")
    contexts = [Context.open(path, env_a), Context.open(path, env_b)]
    if not sandbox:
        for ctx in contexts:
            ctx.env.api_key()  # a missing key fails here, naming its variable, before any request
    sides = []
    for ctx in contexts:
        state = ctx.store.load()
        with client_for(ctx, sandbox) as client:
            live = read_live(client)
            _debug_stats(debug, client)
        objects, missing = compare.managed_objects(state, live)
        if not state.resources:
            _err(f"Note: environment {ctx.env.name!r} manages no resources (its state at "
                 f"{ctx.store.describe()} is empty or absent).")
        for addr in missing:
            _err(f"Note: {addr} is in the state of {ctx.env.name!r} but its object is gone (deleted outside "
                 "vapiops); compared as absent.")
        sides.append(objects)
    report = compare.compare_envs(env_a, sides[0], env_b, sides[1]).to_dict()
    if fmt == "json":
        click.echo(compare.render_json(report), nl=False)
    else:
        click.echo(compare.render_text(report, color=use_color(no_color)), nl=False)
    if detailed_exitcode and report["resources"]:
        raise SystemExit(EXIT_CHANGES)


@cli.command(name="export")
@common()
@click.option("--out", "out", type=click.Path(file_okay=False, path_type=Path),
              help="Directory for the manifests (default: resources/exported in the project).")
@click.option("--adopt", is_flag=True, help="Record the exported objects in the environment's state (as import).")
@click.option("--force", is_flag=True, help="Overwrite manifest files that already exist.")
@click.option("--keep-defaults", is_flag=True, help="Keep fields equal to the defaults Vapi documents.")
@click.option("--sandbox", is_flag=True, help="Read from the in-process Vapi sandbox (data under .vapiops/).")
def export_command(path: Path, env_name: str | None, no_color: bool, debug: bool, out: Path | None, adopt: bool,
                   force: bool, keep_defaults: bool, sandbox: bool) -> None:
    """Write manifests for the live objects of the environment (bootstrap an existing org).

    One file per resource, OUT/<kind>/<name>.yaml; references as names; secrets as secret()
    placeholders, never values. Objects already managed are skipped. Without --adopt the
    `vapiops import` commands that adopt the objects are printed on stdout.
    """
    ctx = Context.open(path, env_name)
    out_dir = (out if out is not None else exporter.default_out_dir(ctx.project)).resolve()
    # Names other manifests use are taken; a previous export into the same directory is being redone.
    others = [r.address for r in load_manifests(ctx.project)
              if not (ctx.project.root / r.where.file).resolve().is_relative_to(out_dir)]
    state = ctx.store.load()
    with client_for(ctx, sandbox) as client:
        live = read_live(client)
        _debug_stats(debug, client)
    managed = owners(state.resources)
    exported = exporter.export_objects(live, managed=managed, taken=[*state.resources, *others],
                                       allow_fields=ctx.project.allow_fields, keep_defaults=keep_defaults)
    skipped = sum(1 for objs in live.values() for o in objs if isinstance(o, dict) and o.get("id") in managed)
    if skipped:
        _err(f"Skipped {skipped} object(s) already managed in {ctx.env.name!r} (see `vapiops state list`).")
    if not exported:
        _err(f"Nothing to export: environment {ctx.env.name!r} has no unmanaged objects.")
        return
    if adopt:
        exporter.check_adoptable(state, exported)  # before writing anything
    written = exporter.write_manifests(out_dir, exporter.manifest_files(exported, ctx.env.name), force=force)
    _err(f"Exported {len(exported)} resource(s) from environment {ctx.env.name!r} into {out_dir} "
         f"({len(written)} file(s)).")
    if not any(out_dir.is_relative_to(r) for r in ctx.project.resource_roots):
        _err(f"Warning: {out_dir} is outside the project's manifest roots; plan will not read it.")
    for e in exported:
        if e.dropped:
            _err(f"{e.address}: left out what Vapi's create body does not accept: {', '.join(e.dropped)}")
    secrets = [name for e in exported for name in e.secrets]
    if secrets:
        _err("Secret values were not exported; set these environment variables before validate, plan or "
             f"apply: {', '.join(secrets)}")
    if adopt:
        with ctx.store.lock(who="export --adopt"):
            fresh = ctx.store.load()
            exporter.adopt(fresh, exported)
            ctx.store.save(fresh)
        _err(f"Adopted {len(exported)} resource(s) into the state of {ctx.env.name!r}. "
             "`vapiops plan` should now show no changes.")
        return
    _err("They are not managed yet: adopt them with the `vapiops import` commands below (on stdout), "
         "or export again with --adopt --force.")
    where = "" if path == Path(".") else f" {shlex.quote(str(path))}"
    where += f" --env {shlex.quote(ctx.env.name)}" + (" --sandbox" if sandbox else "")
    for e in exported:
        click.echo(f"vapiops import {e.address} {shlex.quote(e.id)}{where}")


@cli.command()
@click.option("--port", default=8787, show_default=True, type=int, help="Port on 127.0.0.1.")
@click.option("--data", type=click.Path(path_type=Path), help="Keep data in this JSON file.")
@click.option("--latency-ms", default=0, type=int, help="Delay every response.")
@click.option("--fault-rate", default=0.0, type=click.FloatRange(0, 1), help="Share of requests failing (429/5xx).")
@_debug_option
def sandbox(port: int, data: Path | None, latency_ms: int, fault_rate: float, debug: bool) -> None:
    """Serve a local stand-in for the Vapi API on 127.0.0.1 (Ctrl-C stops it)."""
    from vapiops.sandbox import SandboxServer

    server = SandboxServer(data_file=data, latency_ms=latency_ms, fault_rate=fault_rate, log=_err)
    _err(f"Then: export VAPI_BASE_URL=http://127.0.0.1:{port} (any VAPI_API_KEY works; each key is an org)")
    server.serve_forever(port)


def _debug_stats(debug: bool, client: Any) -> None:
    if debug and getattr(client, "stats", None):
        _err("requests: " + ", ".join(f"{k} {v}" for k, v in sorted(client.stats.items())))


def main(argv: list[str] | None = None) -> None:
    """Console entry point."""
    cli.main(args=argv, prog_name="vapiops")
