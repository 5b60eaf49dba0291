"""The `vapiops sandbox` command: serve the local stand-in for the Vapi API."""

from __future__ import annotations

from pathlib import Path

import click

from vapiops.cli.options import debug_option, err
from vapiops.kinds import KINDS


def _ignored_fields(
    _ctx: click.Context, _param: click.Parameter, values: tuple[str, ...]
) -> dict[str, list[str]]:
    """KIND:PATH options as {kind: [dotted paths]}; a malformed one is a usage error naming it."""
    out: dict[str, list[str]] = {}
    for value in values:
        kind, sep, path = value.partition(":")
        if not sep or not path or kind not in KINDS:
            raise click.BadParameter(
                f"{value!r} is not KIND:PATH (KIND one of {', '.join(KINDS)}; e.g. assistant:silenceTimeoutSeconds)"
            )
        out.setdefault(kind, []).append(path)
    return out


@click.command()
@click.option(
    "--port", default=8787, show_default=True, type=click.IntRange(1, 65535), help="Port on 127.0.0.1."
)
@click.option("--data", type=click.Path(path_type=Path), help="Keep data in this JSON file.")
@click.option("--latency-ms", default=0, type=click.IntRange(0, 600_000), help="Delay every response.")
@click.option(
    "--fault-rate", default=0.0, type=click.FloatRange(0, 1), help="Share of requests failing (429/5xx)."
)
@click.option(
    "--echo-errors",
    is_flag=True,
    help="Quote the request body in every error message (to test that vapiops scrubs secrets).",
)
@click.option(
    "--list-order",
    type=click.Choice(["desc", "asc"]),
    help="Order of assistant, tool and squad lists: newest (desc, the default) or oldest (asc) first.",
)
@click.option(
    "--page-cap",
    type=click.IntRange(1, 1000),
    help="Answer at most this many items per list call whatever `limit` asks (default 1000, the documented maximum).",
)
@click.option("--mask-secrets", is_flag=True, help='Answer secret fields as "****", as the real API does.')
@click.option(
    "--ignore-field",
    "ignore_fields",
    multiple=True,
    metavar="KIND:PATH",
    callback=_ignored_fields,
    help="Accept this dotted path and do not store it, as the real API does with some fields (repeatable).",
)
@click.option(
    "--strict-real",
    is_flag=True,
    help="Every real-API behaviour at once: --mask-secrets and lists oldest first (unless --list-order).",
)
@debug_option
def sandbox(
    port: int,
    data: Path | None,
    latency_ms: int,
    fault_rate: float,
    echo_errors: bool,
    list_order: str | None,
    page_cap: int | None,
    mask_secrets: bool,
    ignore_fields: dict[str, list[str]],
    strict_real: bool,
    debug: bool,
) -> None:
    """Serve a local stand-in for the Vapi API on 127.0.0.1 (Ctrl-C stops it)."""
    from vapiops.sandbox import SandboxServer

    server = SandboxServer(
        data_file=data,
        latency_ms=latency_ms,
        fault_rate=fault_rate,
        log=err,
        echo_errors=echo_errors,
        list_order=list_order,
        page_cap=page_cap,
        mask_secrets=mask_secrets,
        ignore_fields=ignore_fields,
        strict_real=strict_real,
    )
    err(f"Then: export VAPI_BASE_URL=http://127.0.0.1:{port} (any VAPI_API_KEY works; each key is an org)")
    server.serve_forever(port)
