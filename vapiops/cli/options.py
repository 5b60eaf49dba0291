"""What every command shares: common options, colour, --debug, confirmation, and the error-handling Group."""

from __future__ import annotations

import math
import os
import sys
import sys as real_sys  # the process streams themselves: tests replace this module's `sys` with a fake terminal
import threading
import traceback
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import click

from vapiops import redact
from vapiops.errors import VapiopsError
from vapiops.flows.interrupt import Interrupted

EXIT_ERROR, EXIT_CHANGES = 1, 2  # Terraform's: 0 success (no changes), 1 error, 2 changes pending


def err(message: str) -> None:
    click.echo(message, err=True)


def use_color(no_color: bool) -> bool:
    """Colour only on a terminal, and never with --no-color or NO_COLOR (https://no-color.org)."""
    return not no_color and not os.environ.get("NO_COLOR") and sys.stdout.isatty()


class Seconds(click.ParamType):
    """A duration in seconds: a finite number from 0 to a day (nan and inf are not durations)."""

    name = "seconds"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> float:
        try:
            seconds = float(value)
        except (TypeError, ValueError):
            self.fail(f"{value!r} is not a number of seconds", param, ctx)
        if not math.isfinite(seconds) or not 0 <= seconds <= 86_400:
            self.fail(f"{value!r} is not a number of seconds from 0 to 86400", param, ctx)
        return seconds


def _remember_debug(ctx: click.Context, _param: click.Parameter, value: bool) -> bool:
    # ctx.meta is shared by the whole context chain, so the group sees a subcommand's --debug.
    if value:
        ctx.meta["vapiops.debug"] = True
    return value


def _debugging(ctx: click.Context) -> bool:
    # VAPIOPS_DEBUG=0 (or false/no/off) is a way of saying "off", not a non-empty "on".
    from_env = os.environ.get("VAPIOPS_DEBUG", "").strip().lower() not in ("", "0", "false", "no", "off")
    return bool(ctx.meta.get("vapiops.debug")) or from_env


debug_option = click.option(
    "--debug", is_flag=True, callback=_remember_debug, help="Show tracebacks and request counts."
)


def common() -> Callable:
    """Options every command takes: --env, --no-color, --debug, and the project PATH."""

    def decorate(fn: Callable) -> Callable:
        fn = debug_option(fn)
        fn = click.option("--no-color", is_flag=True, help="No ANSI colours (also: NO_COLOR=1).")(fn)
        fn = click.option("--env", "env_name", metavar="ENV", help="Environment (default: the only one).")(fn)
        fn = click.argument("path", required=False, default=".", type=click.Path(path_type=Path))(fn)
        return fn

    return decorate


def debug_stats(debug: bool, client: Any) -> None:
    """With --debug, the requests `client` made (anything with a `stats` mapping)."""
    if debug and getattr(client, "stats", None):
        err("requests: " + ", ".join(f"{k} {v}" for k, v in sorted(client.stats.items())))


def confirm(what: str) -> None:
    """Ask on the terminal; with no terminal, read one line from stdin (`echo yes | vapiops apply`)."""
    question = f"Do you want to {what}? Only 'yes' will be accepted"
    if not sys.stdin.isatty():
        click.echo(f"{question}: ", err=True, nl=False)
        line = sys.stdin.readline()
        if not line:
            raise VapiopsError(
                f"{what} needs confirmation and stdin gave no answer (no terminal, nothing piped)",
                hint="pipe `yes` into it, or pass --auto-approve",
            )
        answer = line
    else:
        answer = click.prompt(question, default="", show_default=False, err=True)
    if answer.strip() != "yes":
        raise VapiopsError(f"{what} cancelled")


class VapiopsGroup(click.Group):
    """Turns every error into one clear line on stderr and exit 1; a traceback only with --debug."""

    def make_context(
        self, info_name: str | None, args: list[str], parent: click.Context | None = None, **extra: Any
    ) -> click.Context:
        try:
            return super().make_context(info_name, args, parent=parent, **extra)
        except click.UsageError as exc:
            raise _usage_exit_code(exc) from None

    def invoke(self, ctx: click.Context) -> Any:
        # Every byte a command prints passes the redaction layer: no registered secret value or
        # API key reaches a terminal, a CI log or a PR comment, whatever code path printed it.
        # (The interpreter's own sys, under its own name: tests stand in a fake `sys` for use_color.)
        streams = real_sys.stdout, real_sys.stderr
        real_sys.stdout = redact.ScrubbingStream(real_sys.stdout)  # type: ignore[assignment]
        real_sys.stderr = redact.ScrubbingStream(real_sys.stderr)  # type: ignore[assignment]
        try:
            return self._invoke(ctx)
        finally:
            real_sys.stdout, real_sys.stderr = streams
            redact.forget_all()

    def _invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except click.UsageError as exc:
            raise _usage_exit_code(exc) from None
        except (click.exceptions.Exit, click.ClickException, click.exceptions.Abort, SystemExit):
            raise
        except VapiopsError as exc:
            if _debugging(ctx):
                traceback.print_exc()
            err(f"Error: {exc}")
        except Interrupted as exc:
            if _debugging(ctx):
                traceback.print_exc()
            err(f"Error: {exc.message}")
            _exit_now_if_calls_linger(exc.exit_code)
            ctx.exit(exc.exit_code)
        except KeyboardInterrupt:
            if _debugging(ctx):
                traceback.print_exc()
            # Only reached outside an apply's calls (those stop through Interrupted): no call was cut off.
            err(
                "Error: interrupted; state is as the last completed write left it. Run `vapiops plan` to see it."
            )
            ctx.exit(130)
        except Exception as exc:  # a bug: still one line unless --debug
            if _debugging(ctx):
                traceback.print_exc()
            err(
                f"Error: unexpected {type(exc).__name__}: {exc} (run with --debug for the traceback; please report it)"
            )
        ctx.exit(EXIT_ERROR)


def _exit_now_if_calls_linger(code: int) -> None:
    """An interrupted apply abandoned calls still in flight (their results are not recorded, their
    creates are adopted by the next run): exit without waiting for their HTTP timeouts."""
    if any(t.name.startswith("vapiops-apply") and t.is_alive() for t in threading.enumerate()):
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)


def _usage_exit_code(exc: click.UsageError) -> click.UsageError:
    # Click exits 2 on a usage error, but 2 is Terraform's "changes pending" (--detailed-exitcode):
    # a CI drift check with a mistyped option must fail, not report drift.
    # exit_code is a class attribute in newer click: set it on this instance only.
    setattr(exc, "exit_code", EXIT_ERROR)  # noqa: B010
    return exc


def format_option(formats: Iterable[str], help: str) -> Callable:
    """`--format` (into the parameter `fmt`), text by default, choosing among a registry's formats."""
    return click.option(
        "--format", "fmt", type=click.Choice(list(formats)), default="text", show_default=True, help=help
    )


def target_option() -> Callable:
    """`--target ADDR` (repeatable, into `targets`): limit the command to these addresses."""
    return click.option(
        "--target", "targets", multiple=True, metavar="ADDR", help="Only this address (repeatable)."
    )


def replace_option() -> Callable:
    """`--replace ADDR` (repeatable, into `replace`): re-create these resources although unchanged."""
    return click.option(
        "--replace",
        "replace",
        multiple=True,
        metavar="ADDR",
        help="Re-create this resource although unchanged (repeatable).",
    )
