"""Carry out a Plan's steps in dependency order, in parallel, recording state after every call."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from typing import Any

from vapiops import paths
from vapiops.client import VapiClient
from vapiops.errors import ApiError, VapiopsError
from vapiops.kinds import KINDS, is_secret_path
from vapiops.model import Phase, Plan, Step, address, name_of
from vapiops.paths import copy_json
from vapiops.planning.diff import owned_equal
from vapiops.planning.graph import is_uuid
from vapiops.planning.recovery import deposed_address
from vapiops.state import Intent, ResourceState, State, StateBackend, hash_secret, secret_key
from vapiops.timestamps import now_iso

Progress = Callable[[str], None]


@dataclass
class ApplyResult:
    done: list[str] = field(default_factory=list)  # step keys that succeeded
    failed: dict[str, str] = field(default_factory=dict)  # step key -> error message
    skipped: list[str] = field(default_factory=list)  # step keys never started

    @property
    def ok(self) -> bool:
        return not self.failed and not self.skipped


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
    ):
        self.plan = plan
        self.client = client
        self.store = store
        self.state = state
        self.parallelism = max(1, parallelism)
        self.progress = progress
        self._lock = threading.Lock()  # guards self.state and the save that follows a change
        self.ids: dict[str, str] = {a: r.id for a, r in state.resources.items()}
        # IDs of replaced objects: a delete step that does not record is the old copy of a replace.
        self._replaced = {s.id for s in plan.steps if s.phase is Phase.DELETE_DEPOSED and s.id}
        self.names: dict[str, str] = {a: r.name for a, r in state.resources.items()}

    def run(self) -> ApplyResult:
        result = ApplyResult()
        self._refresh_recorded()
        pending = {s.key: s for s in self.plan.steps}
        running: dict[Future[None], Step] = {}
        failed = False
        interrupted: BaseException | None = None  # Ctrl-C inside a call: stop, save, then re-raise
        with ThreadPoolExecutor(max_workers=self.parallelism, thread_name_prefix="vapiops-apply") as pool:
            while pending or running:
                if not failed:
                    for step in [s for s in pending.values() if all(a in result.done for a in s.after)]:
                        if len(running) >= self.parallelism:
                            break
                        del pending[step.key]
                        running[pool.submit(self._run_step, step)] = step
                if not running:
                    break  # nothing can start: a failure upstream, or (a planner bug) unsatisfiable order
                finished, _ = wait(list(running), return_when=FIRST_COMPLETED)
                for fut in finished:
                    step = running.pop(fut)
                    error = fut.exception()
                    if error is None:
                        result.done.append(step.key)
                        continue
                    failed = True
                    if not isinstance(error, Exception):
                        interrupted = interrupted or error
                    message = str(error) or type(error).__name__
                    result.failed[step.key] = message
                    self.progress(f"{step.address}: {step.phase.value} failed: {message}")
        result.skipped = sorted(pending)
        with self._lock:
            self.store.save(self.state)  # fold the per-call journal into one snapshot
        if interrupted is not None:
            raise interrupted
        return result

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
            if dirty:
                self.store.save(self.state)

    # -- one step ---------------------------------------------------------------------------

    def _run_step(self, step: Step) -> None:
        kind = KINDS[step.kind]
        started = time.monotonic()
        if step.phase is Phase.CREATE:
            obj_id = self._create(step)
            detail = f" (id {obj_id})"
        elif step.phase.method == "PATCH":
            target = step.id or self.ids[step.address]
            self.client.update(kind, target, self._resolve(step))
            self._record(step, target)
            detail = ""
        else:
            assert step.id is not None, f"delete step {step.key} without an id"
            self.client.delete(kind, step.id)
            with self._lock:
                # The address's own entry, or the old copy of a replaced one kept under its own address.
                for addr in [a for a, e in self.state.resources.items() if e.id == step.id]:
                    del self.state.resources[addr]
                    self.store.record(self.state, addr)
            detail = f" (id {step.id})"
        self.progress(f"{step.address}: {step.phase.past}{detail} [{time.monotonic() - started:.2f}s]")

    def _create(self, step: Step) -> str:
        kind = KINDS[step.kind]
        body = self._resolve(step)
        started_at = now_iso()
        stored, sensitive = self._hash_secrets(body, step.address)
        with self._lock:
            old = self._set_aside(step.address)
            self.state.intents[step.address] = Intent(
                address=step.address, kind=step.kind, started_at=started_at, body=stored, sensitive=sensitive
            )
            self.store.record(self.state, step.address)
        set_paths = kind.set_fields

        def is_ours(live: dict[str, Any]) -> bool:
            # An object another address already owns is never "the one this POST created",
            # even when two manifests declare identical bodies.
            with self._lock:
                taken = set(self.ids.values())
            return live.get("id") not in taken and owned_equal(body, live, set_paths=set_paths)

        try:
            obj = self.client.create(kind, body, match=is_ours, started_at=started_at)
        except ApiError as exc:
            # A 4xx means Vapi created nothing (after any uncertain attempt the client looked for the
            # object first): the address keeps what it had, as if this step never started.
            if exc.status is not None and 400 <= exc.status < 500:
                with self._lock:
                    if old is not None:
                        self._put_back(step.address, old)
                    else:
                        self.state.intents.pop(step.address, None)
                        self.store.record(self.state, step.address)
            raise
        obj_id = str(obj["id"])
        with self._lock:
            self.ids[step.address] = obj_id
            self.state.intents.pop(step.address, None)
        self._record(step, obj_id)
        return obj_id

    def _set_aside(self, addr: str) -> ResourceState | None:
        """Before creating an address that state still holds (a replace, or a re-create of an object
        deleted outside vapiops), take its entry out, so that a crash after the POST leaves the intent
        to adopt the new object by. The old copy of a replace stays in state under its own address
        until its delete succeeds (a later plan deletes it if this run stops first); an object already
        gone is simply forgotten. Returns the entry taken out. Caller holds the lock."""
        old = self.state.resources.pop(addr, None)
        if old is not None and old.id in self._replaced:
            kept = deposed_address(addr, old.id)
            self.state.resources[kept] = ResourceState(
                kind=old.kind, name=name_of(kept), id=old.id, applied=old.applied, secrets=old.secrets
            )
            self.store.record(self.state, kept)
        # The intent recorded next writes this address's journal line (entry gone, intent present).
        return old

    def _put_back(self, addr: str, old: ResourceState) -> None:
        """Undo _set_aside after a create that surely made nothing. Caller holds the lock."""
        kept = deposed_address(addr, old.id)
        if self.state.resources.pop(kept, None) is not None:
            self.store.record(self.state, kept)
        self.state.resources[addr] = old
        self.state.intents.pop(addr, None)
        self.store.record(self.state, addr)

    def _record(self, step: Step, obj_id: str) -> None:
        """Remember what this address now has applied; saved at once (atomic write)."""
        if not step.phase.records:
            return
        name = name_of(step.address)
        with self._lock:
            self.state.resources[step.address] = ResourceState(
                kind=step.kind,
                name=name,
                id=obj_id,
                applied=copy_json(self.plan.applied.get(step.address, {})),
                secrets=dict(self.plan.secrets.get(step.address, {})),
            )
            self.store.record(self.state, step.address)

    def _resolve(self, step: Step) -> dict[str, Any]:
        """The step's body with every reference name swapped for that resource's current ID."""
        body = copy_json(step.body)
        for ref in KINDS[step.kind].references:
            for path, value in list(paths.find(body, ref.pattern)):
                if not isinstance(value, str) or is_uuid(value):
                    continue
                target = address(ref.target, value)
                with self._lock:
                    target_id = self.ids.get(target)
                if target_id is None:
                    raise VapiopsError(
                        f"{paths.format_path(path)} refers to {target}, which has no ID yet",
                        where=step.address,
                        hint="this is a bug in vapiops' ordering; please report it with the plan",
                    )
                paths.set_(body, path, target_id)
        return body

    def _hash_secrets(self, body: dict[str, Any], addr: str) -> tuple[dict[str, Any], list[str]]:
        """A copy of a create body fit for the state file: secret values replaced by their hashes."""
        stored = copy_json(body)
        secret_paths = set(self.plan.secrets.get(addr, {}))
        sensitive: list[str] = []
        for path, value in list(paths.find(stored, "**")):
            dotted = paths.format_path(path)
            if (
                path
                and (dotted in secret_paths or is_secret_path(path))
                and not isinstance(value, (dict, list))
            ):
                paths.set_(
                    stored, path, hash_secret(value, secret_key(self.client.derive_key, self.state.lineage))
                )
                sensitive.append(dotted)
        return stored, sensitive
