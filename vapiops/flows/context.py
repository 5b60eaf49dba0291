"""One environment of one project: its state backend, its API client (or a sandbox's), its live objects."""

from __future__ import annotations

import contextlib
import os
import threading
from collections.abc import Collection, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

from vapiops.client import VapiClient
from vapiops.errors import ApiError, Problem, VapiopsError
from vapiops.kinds import KINDS, Kind
from vapiops.planning.planner import Desired
from vapiops.project.config import Environment, Project, load_project
from vapiops.project.manifest import load_manifests
from vapiops.project.validate import desired_resources
from vapiops.state import LocalBackend, State, StateBackend, open_backend


@dataclass
class Context:
    """Everything one command needs about one environment of one project."""

    project: Project
    env: Environment
    backend: StateBackend
    strict: bool = False  # --strict: properties in no schema are errors
    warnings: list[Problem] = field(
        default_factory=list
    )  # from the last desired(): located, for stderr and the plan

    @classmethod
    def open(
        cls, root: Path | str, env_name: str | None, *, strict: bool = False, sandbox: bool = False
    ) -> Context:
        """With `sandbox`, state lives under .vapiops/sandbox/state/ (always local files), never in the
        environment's own backend: the sandbox's IDs mean nothing in the real org, and writing them over
        the real state would orphan every real object."""
        project = load_project(root)
        env = project.environment(env_name)
        if sandbox:
            return cls(
                project, env, LocalBackend(sandbox_state_file(project, env.name), env.name), strict=strict
            )
        return cls(project, env, open_backend(project, env.name), strict=strict)

    def client(self, base_url: str | None = None) -> VapiClient:
        return VapiClient(base_url or self.env.resolved_base_url(), self.env.api_key())

    def desired(self) -> list[Desired]:
        self.warnings = []
        return desired_resources(
            self.project, load_manifests(self.project), self.env, strict=self.strict, warnings=self.warnings
        )


def refuse_empty(ctx: Context, desired: list[Desired], state: State) -> None:
    """plan/apply with no manifests and nothing in state is a wrong PATH, not "No changes"."""
    if desired or state.resources:
        return
    roots = ", ".join(str(r) for r in ctx.project.resource_roots)
    raise VapiopsError(
        f"no manifests found under {roots} for environment {ctx.env.name!r}",
        hint="check PATH (or `resources:` in vapiops.yaml); `vapiops init` starts a project",
    )


def sandbox_state_file(project: Project, env_name: str) -> Path:
    return project.root / ".vapiops" / "sandbox" / "state" / f"{env_name}.json"


@contextlib.contextmanager
def client_for(ctx: Context, sandbox: bool) -> Iterator[VapiClient]:
    """A VapiClient for the environment, or for an in-process sandbox under .vapiops/."""
    if not sandbox:
        try:
            with ctx.client() as client:
                yield client
        except ApiError as exc:
            if exc.status in (401, 403):
                # The client cannot know which variable its key came from; this environment does.
                exc.hint = (
                    f"Vapi rejected the API key of environment {ctx.env.name!r}: check "
                    f"{ctx.env.api_key_env} (a private key of the right org)"
                )
            raise
        return
    from vapiops.sandbox import SandboxServer  # only the --sandbox path needs it

    data = ctx.project.root / ".vapiops" / "sandbox" / "data.json"
    data.parent.mkdir(parents=True, exist_ok=True)
    server = SandboxServer(
        data_file=data, allow_fields={k: list(v) for k, v in ctx.project.allow_fields.items()}
    )
    url = server.start()
    key = os.environ.get(ctx.env.api_key_env) or f"sandbox-{ctx.env.name}"
    try:
        with VapiClient(url, key) as client:
            yield client
    finally:
        server.stop()


def read_live(
    client: VapiClient,
    kinds: Iterable[Kind] = KINDS.values(),
    attached: Collection[str] | None = None,
    stop: threading.Event | None = None,
) -> dict[str, list[dict]]:
    """Every live object of each kind, one listing per kind (read concurrently), then their attached
    sets (read_attached). Once `stop` is set no further list request is sent (listing.Abandoned)."""
    kinds = list(kinds)
    return read_attached(client, kinds, list_kinds(client, kinds, stop), attached)


def list_kinds(
    client: VapiClient, kinds: Iterable[Kind] = KINDS.values(), stop: threading.Event | None = None
) -> dict[str, list[dict]]:
    """Every live object of each kind, as its listing has it: one listing per kind, read concurrently."""
    kinds = list(kinds)
    with ThreadPoolExecutor(max_workers=len(kinds) or 1) as pool:
        results = list(pool.map(lambda kind: client.list(kind, stop), kinds))
    return {k.name: objs for k, objs in zip(kinds, results, strict=True)}


def read_attached(
    client: VapiClient, kinds: Iterable[Kind], live: dict[str, list[dict]], attached: Collection[str] | None
) -> dict[str, list[dict]]:
    """`live` with its attached sets filled in.

    Attached sets (Kind.attached_sets) are not in listings: each is read with one GET per object,
    concurrently, for the objects whose IDs are in `attached` (every object when None), and set as
    that field of the object (a list of target IDs, as a reference array holds them).
    """
    reads = [
        (kind, aset, obj)
        for kind in kinds
        for aset in kind.attached_sets
        for obj in live[kind.name]
        if attached is None or obj.get("id") in attached
    ]
    if reads:
        with ThreadPoolExecutor(max_workers=min(8, len(reads))) as pool:
            found = list(pool.map(lambda r: client.attached(r[0], str(r[2]["id"]), r[1]), reads))
        for (_kind, aset, obj), ids in zip(reads, found, strict=True):
            obj[aset.field] = ids
    return live


def attached_to_read(state: State, desired: Iterable[Desired] = ()) -> set[str]:
    """IDs of the managed objects whose attached sets a plan compares: declared now or when last applied."""
    declared = {d.address: d.spec for d in desired}
    out = set()
    for addr, entry in state.resources.items():
        kind = KINDS.get(entry.kind)
        if kind is None or not entry.id:
            continue
        for aset in kind.attached_sets:
            if aset.field in declared.get(addr, {}) or aset.field in (entry.applied or {}):
                out.add(entry.id)
    return out


class LiveListing:
    """list_kinds in a background thread: plan lists (I/O) while it loads and validates (CPU).
    The attached sets, which depend on state and manifests, are read after (read_attached).

    Only GETs: a run that stops before result() (an invalid manifest) sends no write and took no
    lock; abandon() then stops the listing before its next request. `started_at` is when the
    listing began, the moment the live objects are known to be at least as new as.
    """

    def __init__(self, client: VapiClient):
        self.started_at = datetime.now(timezone.utc)
        self._stop = threading.Event()
        self._live: dict[str, list[dict]] = {}
        self._error: BaseException | None = None
        # A daemon thread: an invalid manifest ends the run after the requests in flight, not the listing.
        self._thread = threading.Thread(target=self._read, args=(client,), name="vapiops-list", daemon=True)
        self._thread.start()

    def _read(self, client: VapiClient) -> None:
        try:
            self._live = list_kinds(client, stop=self._stop)
        except BaseException as exc:  # re-raised by result(), in the thread that plans
            self._error = exc

    def result(self) -> dict[str, list[dict]]:
        """The listed objects of every kind, or the listing's error (an ApiError, as list_kinds raises it)."""
        self._thread.join()
        if self._error is not None:
            raise self._error
        return self._live

    def abandon(self) -> None:
        """No further request; wait (briefly) for those in flight, so the client is not closed under them."""
        self._stop.set()
        self._thread.join(timeout=ABANDON_WAIT)


ABANDON_WAIT = 2.0  # seconds: a request in flight normally ends well within this


@contextlib.contextmanager
def reading_ahead(ctx: Context) -> Iterator[tuple[VapiClient | None, LiveListing | None]]:
    """The environment's client with its live listing started, for `plan` to validate meanwhile;
    (None, None) when the key is not set (that error comes after validation's, as it always did).
    The listing is abandoned when the block ends, whether or not it was used."""
    try:
        has_key = bool(ctx.env.api_key())
    except VapiopsError:
        has_key = False
    if not has_key:
        yield None, None
        return
    with client_for(ctx, sandbox=False) as client:
        listing = LiveListing(client)
        try:
            yield client, listing
        finally:
            listing.abandon()
