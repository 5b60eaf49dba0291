"""The local backend: state as files beside the project (snapshot, journal, backup) under an OS-level lock."""

from __future__ import annotations

import contextlib
import json
import logging
import os
import threading
from collections.abc import Iterator
from pathlib import Path

from vapiops import fsio
from vapiops.errors import StateError
from vapiops.state.backend import LockInfo, new_lock_info
from vapiops.state.fileio import append_whole
from vapiops.state.locallock import FileLock
from vapiops.state.model import State, intent_from_dict, record_line, resource_from_dict, typed

log = logging.getLogger(__name__)

# Journal lines: one reused C encoder (json.dumps with options builds a new encoder per call);
# key order is irrelevant to the loader, and sorting every object cost more than the rest.
_encode = json.JSONEncoder(ensure_ascii=False, separators=(", ", ": ")).encode


class _Record:
    """One journal line waiting for its append, and how its thread is woken (see record)."""

    __slots__ = ("serial", "data", "wake", "turn", "error")

    def __init__(self, serial: int, data: bytes):
        self.serial = serial
        self.data = data
        self.wake = threading.Lock()
        self.wake.acquire()  # held until the thread that settles this record releases it
        self.turn = False  # set (before the release) when this record's thread is to write next
        self.error: BaseException | None = None


class LocalBackend:
    """The StateBackend of files: one environment's state file, its `.backup`, `.journal` and `.lock`.

    All sit in the same directory. Saves are atomic (os.replace); each call is one fsynced
    journal line; the lock is a flock (see locallock.py), so it holds across the processes of
    one machine and vanishes with a killed run.

    `mutex` (reentrant) serialises writes within this process; threads that change a State
    shared with others should hold it while they change and save.
    """

    def __init__(self, path: Path, environment: str):
        self.path = Path(path)
        self.environment = environment
        self.backup_path = self.path.with_name(self.path.name + ".backup")
        # Per-call records between two snapshots (see record()); replayed by load().
        self.journal_path = self.path.with_name(self.path.name + ".journal")
        self.lock_path = self.path.with_name(self.path.name + ".lock")
        self.file_lock = FileLock(self.lock_path, environment)
        self.mutex = threading.RLock()
        self.warnings: list[str] = []  # what load() recovered from (a torn last journal line)
        # Group commit (see record): records waiting for the next append, and whether an append
        # (or the hand-over to the record that writes next) is under way; save() waits for it.
        self._queue: list[_Record] = []
        self._writing = False
        self._written = threading.Condition(self.mutex)
        # Whether the snapshot is known to exist (a record asks before each line; load() asks the disk again).
        self._snapshot = False

    def exists(self) -> bool:
        return self.path.exists()

    def describe(self) -> str:
        return str(self.path)

    # -- reading ------------------------------------------------------------------------------

    def load(self) -> State:
        """The saved state with its journal replayed; an empty State (new lineage) when there is none."""
        self._snapshot = False
        try:
            text = self.path.read_text(encoding="utf-8")
        except FileNotFoundError:
            self._refuse_lost_snapshot()
            return State(environment=self.environment)
        except UnicodeDecodeError as exc:
            raise self._corrupt(f"state file is not UTF-8 text ({exc.reason})") from exc
        except OSError as exc:
            raise StateError(f"cannot read state file: {exc.strerror or exc}", where=str(self.path)) from exc
        return self.parse(text)

    def parse(self, text: str) -> State:
        try:
            data = json.loads(text)
        except ValueError as exc:
            raise self._corrupt(f"state file is not valid JSON ({exc})") from exc
        if not isinstance(data, dict):
            raise self._corrupt("state file does not hold a JSON object")
        try:
            state = State.from_dict(data)
        except StateError as exc:
            if "malformed" in exc.message:
                raise self._corrupt(exc.message) from exc  # names the .backup to restore from
            exc.where = str(self.path)
            raise
        if state.environment != self.environment:
            raise StateError(
                f"state file belongs to environment {state.environment!r}, not {self.environment!r}",
                where=str(self.path),
                hint="check --env and state_dir in vapiops.yaml",
            )
        self._replay(state)
        return state

    def _refuse_lost_snapshot(self) -> None:
        """No snapshot, yet its journal or backup exists: the snapshot was moved or deleted.

        Starting a new lineage here would create every resource a second time, and neither file
        alone is the lost snapshot (the backup predates the records the lost snapshot folded in).
        """
        left = [p for p in (self.journal_path, self.backup_path) if p.exists()]
        if not left:
            return
        raise StateError(
            f"the state file is missing, but {' and '.join(p.name for p in left)} beside it exist: "
            "the state was moved or deleted, and starting anew would create every resource again",
            where=str(self.path),
            hint=(
                "restore the state file (from where it was moved, or version control); as a last resort "
                f"copy {self.backup_path.name} to {self.path.name} and check the next plan's creates against "
                "the live org (see docs/state.md)"
            ),
        )

    def _replay(self, state: State) -> None:
        """Apply the journal's records (serial after the snapshot's) to `state`.

        A torn last line (a crash mid-append) is skipped with a warning: its call's effect is
        found again by the create-intent lookup. A malformed line before the last one is not
        a crash's trace; guessing past it could lose a record, so it is an error naming it.
        """
        try:
            raw = self.journal_path.read_bytes()
        except FileNotFoundError:
            return
        except OSError as exc:
            raise self._corrupt(f"cannot read state journal {self.journal_path}: {exc}") from exc
        lines = raw.split(b"\n")
        torn_tail = lines.pop()  # b"" when the file ends with a newline, as every complete append does
        for number, line_bytes in enumerate(lines, 1):
            try:
                line = json.loads(line_bytes.decode("utf-8"))
                if typed(line["serial"], int) <= state.serial:
                    continue  # already folded into the snapshot (a crash between save and unlink)
                address = typed(line["address"], str)
                entry = None if line["resource"] is None else resource_from_dict(line["resource"])
                intent = None if line["intent"] is None else intent_from_dict(line["intent"])
            except (ValueError, KeyError, TypeError, AttributeError) as exc:
                raise StateError(
                    f"record {number} of the state journal is malformed ({type(exc).__name__}: {exc}), "
                    "and later records follow it",
                    where=f"{self.journal_path}:{number}",
                    hint=(
                        f"back up {self.journal_path.name}, then delete line {number} only (keep every other "
                        "line: deleting the journal would create its resources again) and run `vapiops plan`; "
                        "see docs/state.md"
                    ),
                ) from exc
            if entry is None:
                state.resources.pop(address, None)
            else:
                state.resources[address] = entry
            if intent is None:
                state.intents.pop(address, None)
            else:
                state.intents[address] = intent
            state.serial = line["serial"]
        if torn_tail:
            warning = (
                f"{self.journal_path}:{len(lines) + 1}: skipped a torn last record "
                "(an interrupted write); its create, if any, is found again by its intent"
            )
            log.warning(warning)
            self.warnings.append(warning)

    # -- writing ------------------------------------------------------------------------------

    def record(self, state: State, address: str) -> None:
        """Durably record what `state` now holds for one address, in O(1): a fsynced journal line.

        Rewriting the whole snapshot after every API call made a 1,000-resource apply spend
        most of its time (about 40 of 43 s) serialising state; load() replays the journal, and
        the next save() folds it into a new snapshot.

        Group commit: the line (its serial fixed now, in call order) is queued, then this thread
        waits until a write holding it is fsynced, by itself when no write is under way (taking
        every line queued by then along), else by the thread writing or the one after it. So the
        parallel calls of an apply share one append and one fsync, and a record still returns
        only once durable. Each waiting thread is woken once, by name: when its line is durable
        (or failed), or when it is its turn to write (no thread wakes only to wait again).
        """
        with self.mutex:
            if not self._snapshot and not self.path.exists():
                self.file_lock.check_held()
                self.save(state)  # a journal needs a snapshot (and its lineage) to apply to
                return
            self._snapshot = True
            state.serial += 1
            line = record_line(
                state.serial, address, state.resources.get(address), state.intents.get(address)
            )
            me = _Record(state.serial, (_encode(line) + "\n").encode("utf-8"))
            if self._writing:
                self._queue.append(me)
            else:
                self._writing = True
                me.turn = True
        if not me.turn:
            me.wake.acquire()  # released once: our line is durable or failed, or it is our turn to write
            if not me.turn:
                if me.error is not None:
                    raise me.error
                return
        self._write_queued(state, me)

    def _write_queued(self, state: State, me: _Record) -> None:
        """This thread's turn: append its line with every line queued by now, then wake their
        threads and hand the next turn to the first line queued meanwhile."""
        with self.mutex:
            # In call order: a successor heads the queue; a first writer precedes what queued since.
            batch = self._queue if self._queue and self._queue[0] is me else [me, *self._queue]
            self._queue = []
        error: BaseException | None = None
        try:
            self._append(batch)
        except BaseException as exc:  # each record of the batch raises it in its own thread
            error = exc
        with self.mutex:
            if error is not None and state.serial == batch[-1].serial:
                state.serial = batch[0].serial - 1  # nothing recorded after them: the serials are free again
            successor = self._queue[0] if self._queue else None
            if successor is None:
                self._writing = False
                self._written.notify_all()  # a save waiting for the append may fold now
            else:
                successor.turn = True
        for each in batch:
            if each is not me:
                each.error = error
                each.wake.release()
        if successor is not None:
            successor.wake.release()
        if error is not None:
            raise error

    def _append(self, batch: list[_Record]) -> None:
        """One fsynced append of the batch's lines (whole, or not at all), under a lock still ours."""
        self.file_lock.check_held()
        try:
            append_whole(self.journal_path, b"".join(each.data for each in batch))
        except OSError as exc:
            raise StateError(
                f"cannot write state journal: {exc}",
                where=str(self.journal_path),
                hint="free disk space or fix permissions, then run apply again: it carries on",
            ) from exc

    def save(self, state: State) -> None:
        """Write state atomically (serial += 1), keeping the previous file as `<name>.backup`.

        A crash at any point leaves the old file or the new one, never a torn one.
        """
        with self.mutex:
            while self._writing:  # a journal append under way lands before the fold that deletes it
                self._written.wait()
            self.file_lock.check_held()
            state.serial += 1
            try:
                text = json.dumps(state.to_dict(), indent=2, sort_keys=True, ensure_ascii=False) + "\n"
                self.path.parent.mkdir(parents=True, exist_ok=True)
                try:
                    previous = self.path.read_bytes()
                except FileNotFoundError:
                    previous = None
                if previous is not None:
                    fsio.atomic_write(self.backup_path, previous, what="state backup")
                fsio.atomic_write(self.path, text.encode("utf-8"), what="state file")
                # The snapshot now holds everything the journal did.
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(self.journal_path)
            except BaseException as exc:
                state.serial -= 1  # not saved: the next save must reuse this serial
                if isinstance(exc, OSError):
                    raise StateError(f"cannot write state file: {exc}", where=str(self.path)) from exc
                raise

    def _corrupt(self, message: str) -> StateError:
        if self.backup_path.exists():
            hint = f"restore it from {self.backup_path} (the previous save)"
        else:
            hint = "restore it from version control or a backup"
        return StateError(message, where=str(self.path), hint=hint)

    # -- the lock -----------------------------------------------------------------------------

    @contextlib.contextmanager
    def lock(self, *, who: str | None = None, timeout: float = 0.0) -> Iterator[LockInfo]:
        """Hold the environment's flock for one run; released on exit, even on exceptions."""
        info = new_lock_info(who)
        with self.mutex:
            self.file_lock.acquire(info, timeout)
        try:
            yield info
        finally:
            with self.mutex:
                self.file_lock.release()

    def unlock(self, lock_id: str) -> None:
        """Force-release the hold named `lock_id`: see FileLock.unlock."""
        log.warning(self.file_lock.unlock(lock_id))
