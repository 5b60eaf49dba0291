"""The local backend's lock: an OS-level flock held for the whole run, and the holder record beside it.

The flock is the truth: the kernel drops it when its process dies, however it dies, so a killed
run never leaves a lock behind, and two processes never both hold it. The holder file only names
who holds it (for the error a waiting run prints); it is written atomically after the flock is
taken, so a stale, empty or unreadable one never blocks anybody.
"""

from __future__ import annotations

import fcntl
import json
import logging
import os
import time
from pathlib import Path

from vapiops import fsio
from vapiops.errors import StateError
from vapiops.state.backend import LockInfo, locked_error, lost_lock_error

log = logging.getLogger(__name__)

LOCK_POLL_SECONDS = 0.1


class FileLock:
    """`<state>.lock` (flocked, never removed: removing a flocked file lets two runs lock two files)
    and `<state>.lock.holder` (who holds it, JSON of LockInfo)."""

    def __init__(self, lock_path: Path, environment: str):
        self.path = lock_path
        self.holder_path = lock_path.with_name(lock_path.name + ".holder")
        self.environment = environment
        self._fd: int | None = None
        self._mine: LockInfo | None = None

    def acquire(self, info: LockInfo, timeout: float) -> None:
        try:
            self._acquire(info, timeout)
        except OSError as exc:
            # A full disk, a read-only checkout, a lost mount: nothing was locked, nothing was sent.
            raise StateError(
                f"cannot lock state: {exc.strerror or exc}",
                where=str(self.path),
                hint="free disk space or make the state folder writable, then run the command again",
            ) from None

    def _acquire(self, info: LockInfo, timeout: float) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        deadline = time.monotonic() + timeout
        try:
            while not _try_flock(fd):
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise locked_error(self.environment, self.holder(), str(self.path))
                time.sleep(min(LOCK_POLL_SECONDS, remaining))
            fsio.atomic_write(self.holder_path, json.dumps(info.to_dict(), indent=2), what="lock holder")
        except BaseException:
            os.close(fd)  # closing drops the flock, if we took it
            raise
        self._fd, self._mine = fd, info

    def release(self) -> None:
        if self._fd is None:
            return
        held = self.holder()
        if held is not None and self._mine is not None and held.id == self._mine.id:
            self.holder_path.unlink(missing_ok=True)
        os.close(self._fd)
        self._fd, self._mine = None, None

    def check_held(self) -> None:
        """LockLost when this run's hold was revoked by `state unlock` (its holder record is gone)."""
        if self._fd is None or self._mine is None:
            return  # not locked by this object (callers that lock elsewhere, tests): nothing to check
        held = self.holder()
        if held is None or held.id != self._mine.id:
            raise lost_lock_error(self.environment, str(self.path))

    def holder(self) -> LockInfo | None:
        try:
            return LockInfo.from_dict(json.loads(self.holder_path.read_bytes()))
        except (OSError, ValueError):
            return None

    def unlock(self, lock_id: str) -> str:
        """Force-release the hold named `lock_id`; returns what happened, for the user."""
        held = self.holder()
        if held is None or held.id != lock_id:
            current = f"it is held under ID {held.id}" if held is not None else "no holder is recorded"
            raise StateError(
                f"state for env {self.environment} is not locked under ID {lock_id} ({current})",
                where=str(self.path),
                hint="copy the lock ID from the lock error",
            )
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            free = _try_flock(fd)
            self.holder_path.unlink(missing_ok=True)
        finally:
            os.close(fd)
        if free:
            return f"Removed the holder record of lock {lock_id}; its run was already gone."
        log.warning("pid %s still holds the OS lock of %s", held.pid, self.path)
        return (
            f"Revoked lock {lock_id}: pid {held.pid} on {held.host} still runs; it stops writing state at its "
            "next call, and the lock is free when it exits."
        )


def _try_flock(fd: int) -> bool:
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    except OSError as exc:
        raise StateError(f"cannot lock the state: {exc.strerror or exc}") from exc
    return True
