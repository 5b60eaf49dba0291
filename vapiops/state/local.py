"""The local backend: state as files beside the project (snapshot, journal, backup) and a lock file."""

from __future__ import annotations

import contextlib
import getpass
import json
import logging
import os
import socket
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import asdict
from pathlib import Path
from typing import Any

from vapiops import fsio
from vapiops.errors import StateError
from vapiops.state.backend import LockInfo
from vapiops.state.model import (
    State,
    intent_from_dict,
    resource_from_dict,
    typed,
)
from vapiops.timestamps import now_iso

log = logging.getLogger(__name__)

LOCK_POLL_SECONDS = 0.2


class LocalBackend:
    """The StateBackend of files: one environment's state file, its `.backup`, `.journal` and `.lock`.

    All sit in the same directory. Atomic saves use os.replace; the lock is a file created
    with O_EXCL, so it holds across processes on one machine (and on shared file systems
    that honour O_EXCL), and a lock of a dead process on this host is taken over.

    `mutex` (reentrant) serialises saves within this process; threads that change a State
    shared with others should hold it while they change and save.
    """

    def __init__(self, path: Path, environment: str):
        self.path = Path(path)
        self.environment = environment
        self.backup_path = self.path.with_name(self.path.name + ".backup")
        # Per-call records between two snapshots (see record()); replayed by load().
        self.journal_path = self.path.with_name(self.path.name + ".journal")
        self.lock_path = self.path.with_name(self.path.name + ".lock")
        self.mutex = threading.RLock()

    def exists(self) -> bool:
        return self.path.exists()

    def describe(self) -> str:
        return str(self.path)

    # -- reading and writing ------------------------------------------------------------------

    def load(self) -> State:
        """The saved state; an empty State (new lineage) when there is no file yet."""
        try:
            text = self.path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return State(environment=self.environment)
        except UnicodeDecodeError as exc:
            raise self._corrupt(f"state file is not UTF-8 text ({exc.reason})") from exc
        except OSError as exc:
            raise StateError(f"cannot read state file: {exc.strerror or exc}", where=str(self.path)) from exc
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

    def record(self, state: State, address: str) -> None:
        """Durably record what `state` now holds for one address, in O(1).

        Rewriting the whole snapshot after every API call made a 1,000-resource apply spend
        most of its time (about 40 of 43 s) serialising state. Instead each call appends one
        line to a journal beside the snapshot and fsyncs it; load() replays the journal, and
        the next save() folds it into a new snapshot. A torn last line (a crash mid-append)
        is ignored: its call's effect is then found again by the create-intent lookup.
        """
        with self.mutex:
            if not self.path.exists():
                self.save(state)  # a journal needs a snapshot (and its lineage) to apply to
                return
            state.serial += 1
            entry = state.resources.get(address)
            intent = state.intents.get(address)
            line = {
                "serial": state.serial,
                "address": address,
                "resource": asdict(entry) if entry is not None else None,
                "intent": asdict(intent) if intent is not None else None,
            }
            data = (json.dumps(line, sort_keys=True, ensure_ascii=False) + "\n").encode("utf-8")
            try:
                fd = os.open(self.journal_path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
                try:
                    os.write(fd, data)
                    os.fsync(fd)
                finally:
                    os.close(fd)
            except OSError as exc:
                state.serial -= 1
                raise StateError(f"cannot write state journal: {exc}", where=str(self.journal_path)) from exc

    def _replay(self, state: State) -> None:
        try:
            text = self.journal_path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return
        except (OSError, UnicodeDecodeError) as exc:
            raise self._corrupt(f"cannot read state journal {self.journal_path}: {exc}") from exc
        for number, raw in enumerate(text.splitlines(), 1):
            try:
                line = json.loads(raw)
                if line["serial"] <= state.serial:
                    continue  # already folded into the snapshot (a crash between save and unlink)
                address = typed(line["address"], str)
                if line["resource"] is None:
                    state.resources.pop(address, None)
                else:
                    state.resources[address] = resource_from_dict(line["resource"])
                if line["intent"] is None:
                    state.intents.pop(address, None)
                else:
                    state.intents[address] = intent_from_dict(line["intent"])
                state.serial = line["serial"]
            except (ValueError, KeyError, TypeError, AttributeError) as exc:
                if number == len(text.splitlines()):
                    break  # a torn last line: the append never completed
                raise self._corrupt(f"state journal line {number} is malformed ({exc})") from exc

    def save(self, state: State) -> None:
        """Write state atomically (serial += 1), keeping the previous file as `<name>.backup`.

        A crash at any point leaves the old file or the new one, never a torn one.
        """
        with self.mutex:
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
        """Hold `<state>.lock` for one run; released on exit, even on exceptions.

        `who` describes the holder's command (e.g. "apply"); default: this process's argv.
        Another live holder: wait up to `timeout` seconds, then StateError naming it.
        """
        host, pid, since = socket.gethostname(), os.getpid(), now_iso()
        info = LockInfo(
            id=f"{host}:{pid}:{since}",
            who=who if who is not None else " ".join(sys.argv),
            user=_user(),
            host=host,
            pid=pid,
            since=since,
        )
        mine = self._acquire(info, timeout)
        try:
            yield info
        finally:
            self._release(mine)

    def _acquire(self, info: LockInfo, timeout: float) -> bytes:
        mine = json.dumps(
            {
                "pid": info.pid,
                "host": info.host,
                "user": info.user,
                "started_at": info.since,
                "command": info.who,
            },
            indent=2,
            sort_keys=True,
        ).encode("utf-8")
        deadline = time.monotonic() + timeout
        self.lock_path.parent.mkdir(parents=True, exist_ok=True)
        while True:
            try:
                fd = os.open(self.lock_path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600)
            except FileExistsError:
                held, holder = self._read_lock()
                if held is None:
                    continue  # released between our open and our read: try again at once
                if holder is not None and self._is_stale(holder):
                    self._take_over(held, holder)
                    continue
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise self._locked(holder) from None
                time.sleep(min(LOCK_POLL_SECONDS, remaining))
                continue
            with os.fdopen(fd, "wb") as f:
                f.write(mine)
                f.flush()
                os.fsync(f.fileno())
            return mine

    def _release(self, mine: bytes) -> None:
        # Remove the lock only if it is still ours (never another run's that took over).
        with contextlib.suppress(FileNotFoundError):
            if self.lock_path.read_bytes() == mine:
                self.lock_path.unlink()

    def _read_lock(self) -> tuple[bytes | None, dict[str, Any] | None]:
        """The lock file's bytes (None: gone) and its holder (None: unreadable, e.g. being written)."""
        try:
            held = self.lock_path.read_bytes()
        except FileNotFoundError:
            return None, None
        except OSError:
            return b"", None  # present but unreadable (permissions): held by someone we cannot name
        try:
            holder = json.loads(held)
        except ValueError:
            return held, None
        return held, holder if isinstance(holder, dict) else None

    def _is_stale(self, holder: dict[str, Any]) -> bool:
        """Left by a process that is gone: only provable for a pid on this host."""
        pid = holder.get("pid")
        if holder.get("host") != socket.gethostname() or not isinstance(pid, int) or isinstance(pid, bool):
            return False
        return not _pid_alive(pid)

    def _take_over(self, held: bytes, holder: dict[str, Any]) -> None:
        """Remove a stale lock without removing one another run has just put in its place."""
        aside = self.lock_path.with_name(f"{self.lock_path.name}.stale.{os.getpid()}")
        try:
            os.replace(self.lock_path, aside)
        except FileNotFoundError:
            return  # someone else cleared it first
        try:
            if aside.read_bytes() != held:
                # Another run replaced the stale lock between our read and our rename: put its
                # live lock back (link fails harmlessly if yet another run holds the path now).
                with contextlib.suppress(OSError):
                    os.link(aside, self.lock_path)
            else:
                log.warning(
                    "taking over the stale lock %s of pid %s (no longer running)",
                    self.lock_path,
                    holder.get("pid"),
                )
        finally:
            aside.unlink(missing_ok=True)

    def _locked(self, holder: dict[str, Any] | None) -> StateError:
        hint = f"wait for that run to finish, or remove {self.lock_path} if that process is gone"
        if holder is None:
            return StateError(
                f"state for env {self.environment} is locked (the lock file {self.lock_path} cannot be read)",
                hint=hint,
            )
        message = (
            f"state for env {self.environment} is locked by {holder.get('user', '?')}@{holder.get('host', '?')} "
            f"pid {holder.get('pid', '?')} since {holder.get('started_at', '?')}"
        )
        if holder.get("command"):
            message += f" (running: {holder['command']})"
        return StateError(message, hint=hint)


def _atomic_write(target: Path, data: bytes) -> None:
    """Write a temp file in the target's directory (mode 0600), fsync it, then os.replace it in."""
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, target)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    _fsync_dir(target.parent)


def _fsync_dir(directory: Path) -> None:
    """Make the rename itself durable; not every platform can open a directory, which is fine."""
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _pid_alive(pid: int) -> bool:
    if pid <= 0:
        return False  # not a real process id (and kill(0) would signal our own group)
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:
        return True  # e.g. PermissionError: it exists but belongs to someone else
    return True


def _user() -> str:
    try:
        return getpass.getuser()
    except Exception:  # no login name in some containers
        return "unknown"
