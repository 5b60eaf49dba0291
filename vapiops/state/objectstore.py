"""The StateBackend over an object store with conditional writes (S3, GCS): snapshot, journal objects, lock object."""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections.abc import Iterator
from typing import Protocol

from vapiops.errors import StateError
from vapiops.state.backend import LockInfo
from vapiops.state.journaled import (
    LOCK_POLL_SECONDS,
    apply_record,
    decode_snapshot,
    encode_holder,
    encode_record,
    encode_snapshot,
    locked_error,
    lost_lock_error,
    new_holder,
    parse_holder,
)
from vapiops.state.model import State

log = logging.getLogger(__name__)

SERIAL_DIGITS = 12  # journal object names sort by serial as text


class ObjectStore(Protocol):
    """The few operations of a bucket the backend needs. A version is the store's token for one
    write of an object (S3: its ETag; GCS: its generation); conditional writes compare it atomically.
    Every other failure is a StateError naming the object."""

    def get(self, key: str) -> tuple[bytes, str] | None:
        """The object's bytes and version; None when there is none."""
        ...

    def version(self, key: str) -> str | None: ...

    def put(
        self, key: str, data: bytes, *, if_absent: bool = False, if_version: str | None = None
    ) -> str | None:
        """Write the object; returns its new version, or None when the condition failed."""
        ...

    def delete(self, key: str, *, if_version: str | None = None) -> bool:
        """Delete the object (gone already counts as done); False when the condition failed."""
        ...

    def delete_many(self, keys: list[str]) -> None: ...

    def keys(self, prefix: str) -> list[str]: ...

    def url(self, key: str) -> str:
        """Where the object is, for messages (s3://bucket/key)."""
        ...


class ObjectStoreBackend:
    """One environment's state as objects under `prefix`: `<env>.json` (the snapshot), `<env>.json.backup`
    (the one before), `<env>.journal/<serial>.json` (one per recorded call since the snapshot) and
    `<env>.lock` (the lock: created only if absent, deleted only by the version that created it).

    A journal object is written with "only if absent", so a call costs O(1) requests and two runs can
    never both write the same serial. Records made at the same time (the applier's parallel calls) are
    written together (group commit): while one journal object is being written, the records that
    arrive queue, and the next object holds them all, one line each; every record() returns only once
    the object holding it is written. Before each object is written the lock object's version is
    checked against ours: a run whose lock was taken (`state unlock`) stops writing. The window that
    remains is the time between that check and the write landing (one request); a save is further
    fenced by writing the snapshot only if it is still the version this run read.
    """

    def __init__(self, store: ObjectStore, prefix: str, environment: str):
        self.store = store
        self.environment = environment
        self.snapshot_key = f"{prefix}{environment}.json"
        self.backup_key = f"{prefix}{environment}.json.backup"
        self.journal_prefix = f"{prefix}{environment}.journal/"
        self.lock_key = f"{prefix}{environment}.lock"
        self.mutex = threading.RLock()
        # Group commit (see record): records waiting to be written, whether a journal object is being
        # written, the highest serial known durable, and the error of each record whose write failed.
        self._queue: list[tuple[int, bytes]] = []
        self._writing = False
        self._durable = 0
        self._failed: dict[int, BaseException] = {}
        self._written = threading.Condition(self.mutex)
        self._lock_version: str | None = None  # set while this instance holds the lock
        self._snapshot: tuple[bytes, str] | None = None  # the snapshot as last read or written
        self._snapshot_known = False

    def describe(self) -> str:
        return self.store.url(self.snapshot_key)

    def exists(self) -> bool:
        return self.store.version(self.snapshot_key) is not None

    # -- reading and writing ------------------------------------------------------------------

    def load(self) -> State:
        with self.mutex:
            got = self.store.get(self.snapshot_key)
            self._snapshot, self._snapshot_known = got, True
            journal = sorted(self.store.keys(self.journal_prefix))
            if got is None:
                self._refuse_new_lineage(journal)
                return State(environment=self.environment)
            state = decode_snapshot(got[0], self.environment, self.describe())
            for key in journal:
                record = self.store.get(key)
                if record is None:  # folded and deleted by a save since we listed
                    continue
                for line in record[0].splitlines():  # one record per line, in serial order
                    if line.strip():
                        apply_record(state, line, self.store.url(key))
            return state

    def _refuse_new_lineage(self, journal: list[str]) -> None:
        """No snapshot, yet records or a backup of one: it was deleted. Starting afresh would forget
        every object it names (and re-create them all), so refuse and say how to restore it."""
        left = [self.store.url(k) for k in journal[:1]]
        if self.store.version(self.backup_key) is not None:
            left.append(self.store.url(self.backup_key))
        if left:
            raise StateError(
                f"the state snapshot is missing, but {' and '.join(left)} exist",
                where=self.describe(),
                hint=f"restore the snapshot (copy {self.store.url(self.backup_key)} to it, or an earlier "
                "object version), then re-run",
            )

    def record(self, state: State, address: str) -> None:
        """Queue the record (its serial and bytes are fixed now, in call order), then wait until the
        journal object holding it is written: by this thread, if no write is under way, taking every
        record queued by then along; else by the thread writing, or the one after it."""
        with self.mutex:
            if self._current_snapshot() is None:
                self.save(state)  # records apply to a snapshot (and its lineage)
                return
            state.serial += 1
            serial = state.serial
            self._queue.append((serial, encode_record(state, address)))
        while True:
            with self.mutex:
                while True:
                    if serial in self._failed:
                        raise self._failed.pop(serial)
                    if serial <= self._durable:
                        return
                    if not self._writing:
                        break
                    self._written.wait()
                batch, self._queue = self._queue, []
                self._writing = True
            error: BaseException | None = None
            try:
                self._write_records(batch)
            except BaseException as exc:  # each record of the batch raises it in its own thread
                error = exc
            with self.mutex:
                self._writing = False
                if error is None:
                    self._durable = max(self._durable, batch[-1][0])
                else:
                    # Serials are not reused: a failed write may have landed after all, and a gap
                    # between serials is harmless (load applies records in order, skipping none).
                    self._failed.update((each, error) for each, _ in batch)
                self._written.notify_all()

    def _write_records(self, batch: list[tuple[int, bytes]]) -> None:
        """One journal object, named by its first serial, holding the batch's records one per line."""
        self._check_lock()
        key = f"{self.journal_prefix}{batch[0][0]:0{SERIAL_DIGITS}d}.json"
        written = self.store.put(key, b"\n".join(data for _, data in batch) + b"\n", if_absent=True)
        if written is None:
            raise lost_lock_error(self.environment, self.store.url(key), "another run wrote this record")

    def save(self, state: State) -> None:
        with self.mutex:
            while self._writing:  # a journal object being written lands before the fold that deletes it
                self._written.wait()
            self._check_lock()
            previous = self._current_snapshot()
            state.serial += 1
            try:
                data = encode_snapshot(state)
                if previous is not None:
                    self.store.put(self.backup_key, previous[0])
                    version = self.store.put(self.snapshot_key, data, if_version=previous[1])
                else:
                    version = self.store.put(self.snapshot_key, data, if_absent=True)
                if version is None:
                    raise lost_lock_error(
                        self.environment, self.describe(), "the snapshot changed since this run read it"
                    )
            except BaseException:
                state.serial -= 1  # not saved: the next save must reuse this serial
                raise
            self._snapshot = (data, version)
            # The snapshot now holds every record: delete them (a crash here leaves records that the
            # next load skips by serial, and the next save deletes).
            self.store.delete_many(self.store.keys(self.journal_prefix))

    def _current_snapshot(self) -> tuple[bytes, str] | None:
        if not self._snapshot_known:
            self._snapshot, self._snapshot_known = self.store.get(self.snapshot_key), True
        return self._snapshot

    def _check_lock(self) -> None:
        if self._lock_version is None:
            return  # no lock taken by this process (a first empty save): the conditional writes fence it
        if self.store.version(self.lock_key) != self._lock_version:
            raise lost_lock_error(self.environment, self.store.url(self.lock_key), "its lock object changed")

    # -- the lock -----------------------------------------------------------------------------

    @contextlib.contextmanager
    def lock(self, *, who: str | None = None, timeout: float = 0.0) -> Iterator[LockInfo]:
        info, holder = new_holder(who)
        body = encode_holder(holder)
        deadline = time.monotonic() + timeout
        while True:
            version = self.store.put(self.lock_key, body, if_absent=True)
            if version is not None:
                break
            held = self.store.get(self.lock_key)
            if held is None:
                continue  # released between our write and our read: try again at once
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise locked_error(self.environment, parse_holder(held[0]), self.store.url(self.lock_key))
            time.sleep(min(LOCK_POLL_SECONDS, remaining))
        with self.mutex:
            self._lock_version = version
            self._snapshot_known = False  # another run may have saved since we last looked
        try:
            yield info
        finally:
            with self.mutex:
                self._lock_version = None
            if not self.store.delete(self.lock_key, if_version=version):
                log.warning(
                    "the lock %s was no longer ours; left it to its holder", self.store.url(self.lock_key)
                )

    def unlock(self, lock_id: str) -> None:
        """Force-release the lock if it is the hold `lock_id` (as a lock error names it)."""
        held = self.store.get(self.lock_key)
        if held is None:
            raise StateError(f"env {self.environment} is not locked", where=self.store.url(self.lock_key))
        holder = parse_holder(held[0]) or {}
        if holder.get("id") != lock_id:
            raise StateError(
                f"the lock of env {self.environment} is held under ID {holder.get('id', '?')}, not {lock_id}",
                where=self.store.url(self.lock_key),
                hint="copy the ID from the latest lock error",
            )
        if not self.store.delete(self.lock_key, if_version=held[1]):
            raise StateError(
                f"the lock of env {self.environment} changed while it was being released",
                where=self.store.url(self.lock_key),
                hint="run the command again to see who holds it now",
            )
