"""Import: adopt one existing live object into an environment's state under an address."""

from __future__ import annotations

from vapiops.errors import ApiError, VapiopsError, did_you_mean
from vapiops.flows.context import Context, client_for
from vapiops.kinds import KINDS
from vapiops.model import Address
from vapiops.planning.graph import is_uuid
from vapiops.project.manifest import load_manifests
from vapiops.project.template import in_environment
from vapiops.state import ResourceState


def check_address(address: str) -> tuple[str, str]:
    """KIND and NAME of `address`, or a VapiopsError when it is not KIND/NAME of a known kind."""
    try:
        kind_name, name = Address.parse(address)
    except ValueError:
        kind_name, name = "", ""
    if kind_name not in KINDS:
        raise VapiopsError(
            f"{address!r} is not an address",
            hint=f"write KIND/NAME, KIND one of {', '.join(KINDS)}; "
            "a name starts with a letter or digit, then letters, digits, '.', '_' or '-'",
        )
    return kind_name, name


def import_object(ctx: Context, address: str, object_id: str, *, sandbox: bool) -> None:
    """Record the live object `object_id` as `address`, after checking it exists and is not managed yet."""
    kind_name, name = check_address(address)
    # An address with no manifest would be imported, then deleted by the next apply: refuse it.
    declared = {r.address for r in load_manifests(ctx.project) if in_environment(r, ctx.env.name)}
    if address not in declared:
        raise VapiopsError(
            f"{address}{did_you_mean(address, declared)} has no manifest in environment {ctx.env.name!r}; "
            "the next apply would delete the imported object",
            hint="write its manifest first, then import",
        )
    if not is_uuid(object_id):
        # Vapi's IDs are UUIDs: anything else is a mistake (a name, a pasted URL), caught before any request.
        raise VapiopsError(
            f"{object_id!r} is not a Vapi ID",
            where=address,
            hint="pass the object's ID, a UUID such as 72f7c1fe-d17a-4f28-b791-05a7ae92fdfe (`vapiops export` lists them)",
        )
    with ctx.backend.lock(who="import"), client_for(ctx, sandbox) as client:
        state = ctx.backend.load()
        if address in state.resources:
            raise VapiopsError(
                f"{address} is already managed (id {state.resources[address].id})",
                hint="use `vapiops state rm` first to re-import",
            )
        other = state.address_of_id(object_id)
        if other:
            raise VapiopsError(
                f"{object_id} is already managed as {other}", hint="use `vapiops state mv` to rename"
            )
        try:
            client.get(KINDS[kind_name], object_id)
        except ApiError as exc:
            if exc.status == 404:
                exc.hint = (
                    f"no {kind_name} with this ID in environment {ctx.env.name!r}: check the ID, "
                    "its kind and --env"
                )
            raise
        state.resources[address] = ResourceState(
            kind=kind_name, name=name, id=object_id, applied={}, secrets={}
        )
        ctx.backend.save(state)
