"""The state backend interface: where one environment's State is kept, and how a run locks it.

The planner, the applier and the CLI use state only through this interface, so a backend
(local files, an object store, a database) can be swapped without touching them. What every
backend shares (who holds a lock, the lock errors) is built here, so they all say it alike.
"""

from __future__ import annotations

import getpass
import os
import socket
import sys
import uuid
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

from vapiops.errors import StateError
from vapiops.state.model import State
from vapiops.timestamps import now_iso


@dataclass(frozen=True)
class LockInfo:
    """Who holds an environment's lock: what a run that finds it held is told."""

    id: str  # names this one hold (unique per acquisition): what `vapiops state unlock` takes
    who: str  # the operation ("apply", "state rm") or the holder's command line
    user: str
    host: str
    pid: int
    since: str  # ISO 8601 UTC with ms, when the lock was taken
    ci_run: str | None = None  # the CI run's URL when the holder runs in CI (GitHub Actions, GitLab)

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "who": self.who,
            "user": self.user,
            "host": self.host,
            "pid": self.pid,
            "since": self.since,
            "ci_run": self.ci_run,
        }

    @classmethod
    def from_dict(cls, d: Any) -> LockInfo | None:
        """The holder a backend stored; None when it is not one (a torn or foreign record)."""
        if not isinstance(d, dict):
            return None
        texts = [d.get(k) for k in ("id", "who", "user", "host", "since")]
        pid, ci_run = d.get("pid"), d.get("ci_run")
        if not all(isinstance(v, str) for v in texts) or type(pid) is not int:
            return None
        id_, who, user, host, since = (str(v) for v in texts)
        return cls(id_, who, user, host, pid, since, ci_run if isinstance(ci_run, str) else None)

    def describe(self) -> str:
        """'alice@laptop pid 42 since 2026-05-01T12:00:00.000Z (running: apply)', plus the CI run."""
        text = f"{self.user}@{self.host} pid {self.pid} since {self.since} (running: {self.who})"
        return text + (f", CI run {self.ci_run}" if self.ci_run else "")


def new_lock_info(who: str | None) -> LockInfo:
    """The holder record of a lock this process is about to take, with a fresh unique ID."""
    return LockInfo(
        id=str(uuid.uuid4()),
        who=who if who is not None else " ".join(sys.argv),
        user=_user(),
        host=socket.gethostname(),
        pid=os.getpid(),
        since=now_iso(),
        ci_run=ci_run_url(),
    )


def ci_run_url(environ: dict[str, str] | None = None) -> str | None:
    """The URL of the CI run this process belongs to, when it can tell (GitHub Actions, GitLab CI)."""
    env = os.environ if environ is None else environ
    if env.get("GITHUB_RUN_ID") and env.get("GITHUB_REPOSITORY"):
        server = env.get("GITHUB_SERVER_URL", "https://github.com")
        return f"{server}/{env['GITHUB_REPOSITORY']}/actions/runs/{env['GITHUB_RUN_ID']}"
    return env.get("CI_JOB_URL") or env.get("CI_PIPELINE_URL") or None


def locked_error(environment: str, holder: LockInfo | None, where: str) -> StateError:
    """The error of a run that finds the lock held (after waiting --lock-timeout): the holder and the way out."""
    if holder is None:
        return StateError(
            f"state for env {environment} is locked by a run whose holder record cannot be read",
            where=where,
            hint="wait for that run to finish, or pass --lock-timeout SECONDS to wait",
        )
    return StateError(
        f"state for env {environment} is locked by {holder.describe()}, lock ID {holder.id}",
        where=where,
        hint=(
            "wait for it (--lock-timeout SECONDS), or, only if that run is surely gone, "
            f"`vapiops state unlock {holder.id}`"
        ),
    )


class LockLost(StateError):
    """This run's lock was released or taken by another (e.g. `state unlock`): it must write nothing more."""


def lost_lock_error(environment: str, where: str) -> LockLost:
    return LockLost(
        f"this run lost the lock on the state of env {environment} (released or taken over by another run); "
        "it stopped writing",
        where=where,
        hint="run `vapiops plan` to see what is left: the next apply adopts what this run created",
    )


def _user() -> str:
    try:
        return getpass.getuser()
    except Exception:  # no login name in some containers
        return "unknown"


@runtime_checkable
class StateBackend(Protocol):
    """One environment's state, wherever it is kept.

    Every method raises StateError (never a backend's own exception type) when the state
    cannot be read or written, with `where` naming the place and a hint for the user.
    """

    def load(self) -> State:
        """The latest durable state: the snapshot with every record() since it applied.

        No state yet: an empty State with a new lineage (nothing is written). A state of
        another environment, of an unknown format version, or unreadable: StateError.
        """
        ...

    def record(self, state: State, address: str) -> None:
        """Make what `state` now holds for `address` (its entry and its create intent) durable.

        Called once per API call, so it must be cheap (O(1) in the size of the state). When it
        returns, a crash at any later point still loses nothing: the next load() sees this
        record. Records are applied in call order; a record torn by a crash is dropped whole.
        A write that does not complete is a StateError (the run stops). Increments
        `state.serial`. Callers hold the lock; a backend that can tell this run no longer
        holds it raises LockLost (a StateError) and writes nothing. State-wide fields
        (lineage, org_id) are made durable by save(), not by record().
        """
        ...

    def save(self, state: State) -> None:
        """Fold `state` (and every record so far) into one new snapshot, atomically.

        A crash at any point leaves the previous snapshot or the new one, never a mix; the
        previous one is kept for recovery where the backend can. Increments `state.serial`
        (restored if the save fails). Callers hold the lock; LockLost as for record().
        """
        ...

    def lock(self, *, who: str | None = None, timeout: float = 0.0) -> AbstractContextManager[LockInfo]:
        """Hold the environment's lock for one run; released on exit, even on exceptions.

        While held, no other run (any process, any machine sharing the backend) holds it, so
        load, record and save of one run never interleave with another's. `who` describes the
        operation (default: this process's command line); build the holder with
        new_lock_info(). Held by another run: wait up to `timeout` seconds, then the
        locked_error() naming the holder and its lock ID. A lock left by a run that is
        provably gone may be taken over. Yields the LockInfo of this hold.
        """
        ...

    def unlock(self, lock_id: str) -> None:
        """Force-release the lock whose LockInfo.id is `lock_id` (a run that died holding it).

        Not locked, or locked under another ID: StateError, nothing released. The run that
        held it (if alive after all) gets LockLost at its next record() or save() where the
        backend can tell.
        """
        ...

    def exists(self) -> bool:
        """Whether any state has been saved yet (False: load() would give a new, empty State)."""
        ...

    def describe(self) -> str:
        """Where the state lives, for messages (a path, a URL, a table): never a secret."""
        ...
