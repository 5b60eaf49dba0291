"""Carry out a Plan's steps in dependency order, in parallel, recording state after every call."""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from vapiops import paths, redact
from vapiops.client import VapiClient
from vapiops.errors import ApiError, VapiopsError
from vapiops.flows import calls
from vapiops.flows.interrupt import GRACE_SECONDS, Interrupted, StopRequest
from vapiops.flows.outcome import ApplyResult, stopped_message
from vapiops.flows.schedule import Schedule, Workers, finished_calls
from vapiops.kinds import KINDS, is_secret_path
from vapiops.model import Phase, Plan, Step, address, name_of
from vapiops.paths import copy_json
from vapiops.planning.diff import owned_equal
from vapiops.planning.graph import is_uuid, names_literals
from vapiops.planning.readback import ReadBack, read_back
from vapiops.planning.recovery import deposed_address
from vapiops.state import Intent, ResourceState, State, StateBackend, hash_secret, secret_key
from vapiops.timestamps import now_iso

Progress = Callable[[str], None]

POLL_SECONDS = 0.1  # how often the run loop looks for a stop request while calls are in flight


class Abandoned(Exception):
    """Raised in a call's thread that a stopped run gave up on: it must write nothing more."""


class Applier:
    """Runs the steps of one plan against one environment. State is saved after each success.

    A create records an Intent (and saves) before its POST, so a run that dies mid-call leaves
    enough behind for the next plan to adopt the object instead of creating it twice.
    """

    def __init__(
        self,
        plan: Plan,
        client: VapiClient,
        store: StateBackend,
        state: State,
        *,
        parallelism: int = 8,
        progress: Progress = lambda _line: None,
        stop: StopRequest | None = None,
        root: Path | None = None,
    ):
        self.plan = plan
        self.root = root if root is not None else Path.cwd()  # where an upload's path is relative to
        self.client = client
        self.store = store
        self.state = state
        self.parallelism = max(1, parallelism)
        self.progress = progress
        self.stop = stop if stop is not None else StopRequest()
        self._closed = False  # set when a stop abandons in-flight calls: their threads record nothing more
        self._lock = threading.Lock()  # guards self.state (changes, and the saves that read all of it)
        # Records are written outside self._lock (see _changing); these count the writes in flight,
        # so that a stop waits for them before its final save and no write lands after it.
        self._writing = 0
        self._writes_idle = threading.Condition(self._lock)
        # Looked-up objects are referenced by their live ID, never recorded in state.
        self.ids: dict[str, str] = {a: r.id for a, r in state.resources.items()} | plan.lookups
        # IDs of replaced objects: a delete step that does not record is the old copy of a replace.
        self._replaced = {s.id for s in plan.steps if s.phase is Phase.DELETE_DEPOSED and s.id}
        self.names: dict[str, str] = {a: r.name for a, r in state.resources.items()}
        # address -> what references to it hold when that is not its ID (Kind.referenced_by): as
        # the plan's listing showed it, or as this run's create returned it.
        self.referenced: dict[str, str] = dict(plan.referenced)
        self.readback: list[ReadBack] = []

    def run(self) -> ApplyResult:
        result = ApplyResult()
        self._refresh_recorded()
        pending = Schedule(self.plan.steps)
        running: dict[str, Step] = {}  # key -> step in flight
        failed = False
        interrupted: BaseException | None = None  # Ctrl-C inside a call: stop, save, then re-raise
        grace_ends: float | None = None  # set once a stop is requested: in-flight calls may finish until then
        # Each call's outcome lands on workers.finished when it ends: the loop takes what finished in
        # O(1) per call.
        workers = Workers(self._run_step, self.parallelism, "vapiops-apply")
        self.stop.polled = True
        try:
            while pending or running:
                if self.stop.is_set() and grace_ends is None:
                    grace_ends = time.monotonic() + GRACE_SECONDS
                    self.progress(
                        f"Stopping: waiting for {len(running)} call(s) in flight; starting no more."
                    )
                if not failed and grace_ends is None:
                    while pending.has_ready() and len(running) < self.parallelism:
                        step = pending.take()
                        running[step.key] = step
                        workers.start(step)
                if not running:
                    break  # nothing can start: a failure upstream, a stop, or (a planner bug) unsatisfiable order
                if grace_ends is not None and (time.monotonic() >= grace_ends or self.stop.urgent()):
                    self._abandon(running, workers, result)
                    break
                finished = finished_calls(workers.finished, POLL_SECONDS)
                workers.done(len(finished))
                for step, error in finished:
                    key = step.key
                    del running[key]
                    if error is None:
                        result.done.append(key)
                        pending.succeeded(key)
                        continue
                    failed = True
                    if not isinstance(error, Exception):
                        interrupted = interrupted or error
                    message = str(error) or type(error).__name__
                    result.failed[key] = message
                    self.progress(f"{step.address}: {step.phase.value} failed: {message}")
        finally:
            self.stop.polled = False
            workers.shutdown(wait=not result.abandoned)
        result.skipped = sorted(pending.pending())
        result.readback = list(self.readback)
        with self._lock:
            self.store.save(self.state)  # fold the per-call journal into one snapshot
        if self.stop.is_set() and self.stop.signum is not None:
            raise Interrupted(self.stop.signum, stopped_message(self.stop.signum, result))
        if interrupted is not None:
            raise interrupted
        return result

    def _abandon(self, running: dict[str, Step], workers: Workers, result: ApplyResult) -> None:
        """Give up on calls still in flight after the grace period: from now on their threads write
        nothing (a create's intent stays recorded, so the next run adopts what its POST made)."""
        with self._lock:
            self._closed = True
            while self._writing:  # a record already under way completes (as it did under the lock)
                self._writes_idle.wait()
        for step, error in finished_calls(workers.finished, 0):
            if error is None:
                result.done.append(step.key)
                del running[step.key]
        result.abandoned.extend(running)
        running.clear()

    def _refresh_recorded(self) -> None:
        """State bookkeeping that needs no API call: forget what is gone, and record what is declared
        for resources that need no write (so a later removal of such a field is seen)."""
        stepped = {s.address for s in self.plan.steps}
        with self._lock:
            dirty = False
            for addr in self.plan.forget:
                dirty |= self.state.resources.pop(addr, None) is not None
            for addr, applied in self.plan.applied.items():
                entry = self.state.resources.get(addr)
                if addr in stepped or entry is None:
                    continue
                secrets = self.plan.secrets.get(addr, {})
                if entry.applied != applied or entry.secrets != secrets:
                    entry.applied, entry.secrets = copy_json(applied), dict(secrets)
                    dirty = True
            # A first record with no snapshot yet saves the whole state; made here, before any call
            # runs, no record ever reads all of self.state while another thread changes it.
            if dirty or (self.plan.steps and not self.store.exists()):
                self.store.save(self.state)

    # -- one step ---------------------------------------------------------------------------

    def _run_step(self, step: Step) -> None:
        try:
            self._call_step(step)
        except ApiError as exc:
            if exc.status != 409:
                raise
            raise self._pinned(step, exc) from exc

    def _pinned(self, step: Step, exc: ApiError) -> VapiopsError:
        """A 409: another object pins a version of this one (Vapi's versioning). The pinning
        objects' IDs are shown with their addresses where vapiops manages them; state is untouched,
        so the next plan lists the same call again."""
        text = exc.api_message
        with self._lock:
            known = {e.id: a for a, e in self.state.resources.items() if e.id}
        for obj_id, addr in known.items():
            text = text.replace(obj_id, f"{addr} ({obj_id})")
        return VapiopsError(
            f"{step.phase.value} refused: it is pinned: {text}",
            where=step.address,
            hint="remove the version pin (e.g. the assistant's model.toolRefs entry) and apply again, "
            "or keep its manifest",
        )

    def _call_step(self, step: Step) -> None:
        kind = KINDS[step.kind]
        started = time.monotonic()
        if step.phase is Phase.CREATE:
            obj_id = self._create(step)
            detail = f" (id {obj_id})"
        elif step.phase.method == "PATCH":
            target = step.id or self.ids[step.address]
            resolved = self._resolve(step)
            sent = calls.json_part(kind, resolved)
            returned = self.client.update(kind, target, sent, step.query) if sent else None
            calls.sync_attached(self.client, kind, target, resolved)
            self._record(step, target)
            if returned is not None:
                self._read_back(step, sent, returned, declared=self.plan.applied.get(step.address, {}))
            detail = ""
        else:
            assert step.id is not None, f"delete step {step.key} without an id"
            self.client.delete(kind, step.id)
            with self._changing(step.address) as changed:
                # The address's own entry, or the old copy of a replaced one kept under its own address.
                for addr in [a for a, e in self.state.resources.items() if e.id == step.id]:
                    del self.state.resources[addr]
                    changed.append(addr)
            detail = f" (id {step.id})"
        self.progress(f"{step.address}: {step.phase.past}{detail} [{time.monotonic() - started:.2f}s]")

    def _create(self, step: Step) -> str:
        kind = KINDS[step.kind]
        body = self._resolve(step)
        started_at = now_iso()
        stored, sensitive = self._hash_secrets(body, step.address)
        # The intent is durable when this block ends, before the POST below is sent.
        with self._changing(step.address) as changed:
            old = self._set_aside(step.address, changed)
            self.state.intents[step.address] = Intent(
                address=step.address, kind=step.kind, started_at=started_at, body=stored, sensitive=sensitive
            )
            changed.append(step.address)
        set_paths = kind.set_fields

        def is_ours(live: dict[str, Any]) -> bool:
            # An object another address already owns is never "the one this POST created",
            # even when two manifests declare identical bodies.
            with self._lock:
                taken = set(self.ids.values())
            return live.get("id") not in taken and owned_equal(looks, live, set_paths=set_paths)

        looks = kind.match_body(body)
        try:
            if kind.upload is not None:
                obj = calls.upload(self.client, kind, body, self.root, match=is_ours, started_at=started_at)
            else:
                obj = self.client.create(
                    kind, calls.json_part(kind, body), match=is_ours, started_at=started_at
                )
        except ApiError as exc:
            # A 4xx means Vapi created nothing (after any uncertain attempt the client looked for the
            # object first): the address keeps what it had, as if this step never started.
            if exc.status is not None and 400 <= exc.status < 500:
                with self._changing(step.address) as changed:
                    if old is not None:
                        self._put_back(step.address, old, changed)
                    else:
                        self.state.intents.pop(step.address, None)
                        changed.append(step.address)
            raise
        obj_id = str(obj["id"])
        org = obj.get("orgId")
        if isinstance(org, str) and org and self.state.org_id not in (None, org):
            # Only an empty org hides its identity from the listing the plan checked: the first POST shows it.
            raise VapiopsError(
                f"created {obj_id} in org {org}, but this environment's state was made in org {self.state.org_id}; "
                "stopped",
                where=step.address,
                hint=f"delete {obj_id} in org {org} if it was a mistake, and check the environment's API key",
            )
        self._record(step, obj_id, created=True, org=org if isinstance(org, str) and org else None)
        if kind.referenced_by != "id" and isinstance(obj.get(kind.referenced_by), str):
            with self._lock:
                self.referenced[step.address] = obj[kind.referenced_by]
        self._read_back(step, calls.json_part(kind, body), obj, declared=None)
        calls.sync_attached(self.client, kind, obj_id, body, fresh=True)
        return obj_id

    def _read_back(
        self, step: Step, sent: dict[str, Any], returned: dict[str, Any], declared: dict[str, Any] | None
    ) -> None:
        """Note each declared value the API's response does not hold as sent (docs/state.md)."""
        found = read_back(
            step.address,
            sent,
            returned,
            declared=declared,
            set_paths=KINDS[step.kind].set_fields,
            sensitive=[paths.parse_path(p) for p in self.plan.secrets.get(step.address, {})],
        )
        if found:
            with self._lock:
                self.readback.extend(found)

    def _set_aside(self, addr: str, changed: list[str]) -> ResourceState | None:
        """Before creating an address that state still holds (a replace, or a re-create of an object
        deleted outside vapiops), take its entry out, so that a crash after the POST leaves the intent
        to adopt the new object by. The old copy of a replace stays in state under its own address
        until its delete succeeds (a later plan deletes it if this run stops first); an object already
        gone is simply forgotten. Returns the entry taken out. Caller is inside _changing."""
        old = self.state.resources.pop(addr, None)
        if old is not None and old.id in self._replaced:
            kept = deposed_address(addr, old.id)
            self.state.resources[kept] = ResourceState(
                kind=old.kind, name=name_of(kept), id=old.id, applied=old.applied, secrets=old.secrets
            )
            changed.append(kept)  # recorded before the address's own record, which drops the entry
        # The intent recorded next writes this address's journal line (entry gone, intent present).
        return old

    def _put_back(self, addr: str, old: ResourceState, changed: list[str]) -> None:
        """Undo _set_aside after a create that surely made nothing. Caller is inside _changing."""
        kept = deposed_address(addr, old.id)
        if self.state.resources.pop(kept, None) is not None:
            changed.append(kept)
        self.state.resources[addr] = old
        self.state.intents.pop(addr, None)
        changed.append(addr)

    def _record(self, step: Step, obj_id: str, *, created: bool = False, org: str | None = None) -> None:
        """Remember what this address now has applied (and, after a create, its ID instead of its
        intent), durable at once. One change: a stop never sees the intent gone without the entry."""
        with self._changing(step.address) as changed:
            if created:
                self.ids[step.address] = obj_id
                self.state.intents.pop(step.address, None)
                if self.state.org_id is None and org is not None:
                    self.state.org_id = org  # the org this state is bound to from now on (saved by the fold)
            if not step.phase.records:
                if created:
                    changed.append(step.address)
                return
            name = name_of(step.address)
            self.state.resources[step.address] = ResourceState(
                kind=step.kind,
                name=name,
                id=obj_id,
                applied=copy_json(self.plan.applied.get(step.address, {})),
                secrets=dict(self.plan.secrets.get(step.address, {})),
            )
            changed.append(step.address)

    def _check_open(self, addr: str) -> None:
        """Before changing state: refuse once this run abandoned its in-flight calls (its final save
        is made or being made; this thread's result is left for the next run to find). Caller holds the lock."""
        if self._closed:
            raise Abandoned(f"{addr}: not recorded (the run stopped)")

    @contextlib.contextmanager
    def _changing(self, addr: str) -> Iterator[list[str]]:
        """Change self.state under the lock (refused once the run stopped), then make durable, with
        store.record, each address the block appended, in that order, before returning.

        The records are written after the lock is released, so the calls of other threads do not
        queue behind this one's network round trip and a backend can write concurrent records
        together (the object stores do). The guarantees still hold:
        - durable before the next call: this returns only when every record is durable, and each
          caller's next API call (the POST after its intent, a dependent step, which starts only
          once this step's future is done) comes after that return;
        - consistent records: a record holds one address's entry and intent, and only one step of
          an address runs at a time (a plan's steps of one address depend on each other), so what
          the backend reads for it is what this block left; other threads change other keys,
          under the lock, each change one atomic dict operation; records of different addresses
          commute, and one thread's records (a replace's old copy, then the address) keep their order;
        - nothing written after a stop: _abandon sets _closed under the lock and then waits for
          the writes counted here, so every record either started before (and completes before
          the final save) or is refused by _check_open.
        """
        changed: list[str] = []
        with self._lock:
            self._check_open(addr)
            yield changed
            self._writing += 1
        try:
            for each in changed:
                self.store.record(self.state, each)
        finally:
            with self._lock:
                self._writing -= 1
                self._writes_idle.notify_all()

    def _resolve(self, step: Step) -> dict[str, Any]:
        """The step's body with every reference name swapped for that resource's current ID (or, for a
        kind referenced by another field, that field's current value)."""
        body = copy_json(step.body)
        for ref, path, value in KINDS[step.kind].find_references(body):
            if not isinstance(value, str) or is_uuid(value):
                continue
            target = address(ref.target, value)
            with self._lock:
                target_id = self.ids.get(target)
            if target_id is None and names_literals(ref.target):
                continue  # no manifest of that name: the provider's own ID, sent as written
            if target_id is None:
                raise VapiopsError(
                    f"{paths.format_path(path)} refers to {target}, which has no ID yet",
                    where=step.address,
                    hint="this is a bug in vapiops' ordering; please report it with the plan",
                )
            paths.set_(body, path, self._referenced_value(ref.target, target, target_id))
        return body

    def _referenced_value(self, kind_name: str, target: str, target_id: str) -> str:
        """What a reference to `target` holds: its ID, or its Kind.referenced_by field (as the plan's
        listing or this run's create gave it: never a GET per target)."""
        field = KINDS[kind_name].referenced_by
        if field == "id":
            return target_id
        with self._lock:
            known = self.referenced.get(target)
        if known is None:
            raise VapiopsError(f"{target} has no {field} to reference it by", where=target)
        return known

    def _hash_secrets(self, body: dict[str, Any], addr: str) -> tuple[dict[str, Any], list[str]]:
        """A copy of a create body fit for the state file: secret values replaced by their hashes.

        The plan knows the secret paths of what state will record, which leaves out ignoreChanges
        paths; a create still sends those, so a value holding any secret of the run (the redaction
        layer knows each one) is hashed too, wherever it sits.
        """
        stored = copy_json(body)
        secret_paths = set(self.plan.secrets.get(addr, {}))
        secret_texts = redact.registered()
        sensitive: list[str] = []
        for path, value in list(paths.find(stored, "**")):
            dotted = paths.format_path(path)
            holds_secret = isinstance(value, str) and any(text in value for text in secret_texts)
            if (
                path
                and (dotted in secret_paths or is_secret_path(path) or holds_secret)
                and not isinstance(value, (dict, list))
            ):
                paths.set_(
                    stored, path, hash_secret(value, secret_key(self.client.derive_key, self.state.lineage))
                )
                sensitive.append(dotted)
        return stored, sensitive
