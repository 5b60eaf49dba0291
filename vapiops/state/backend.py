"""The state backend interface: where one environment's State is kept, and how a run locks it.

The planner, the applier and the CLI use state only through this interface, so a backend
(local files today; object stores or a database later) can be swapped without touching them.
"""

from __future__ import annotations

from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

from vapiops.state.model import State


@dataclass(frozen=True)
class LockInfo:
    """Who holds an environment's lock: what a run that finds it held is told."""

    id: str  # names this one hold (unique per acquisition): what a forced unlock would name
    who: str  # the operation ("apply", "state rm") or the holder's command line
    user: str
    host: str
    pid: int
    since: str  # ISO 8601 UTC with ms, when the lock was taken


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
        Increments `state.serial`. Callers hold the lock.
        """
        ...

    def save(self, state: State) -> None:
        """Fold `state` (and every record so far) into one new snapshot, atomically.

        A crash at any point leaves the previous snapshot or the new one, never a mix; the
        previous one is kept for recovery where the backend can. Increments `state.serial`
        (restored if the save fails). Callers hold the lock.
        """
        ...

    def lock(self, *, who: str | None = None, timeout: float = 0.0) -> AbstractContextManager[LockInfo]:
        """Hold the environment's lock for one run; released on exit, even on exceptions.

        While held, no other run (any process, any machine sharing the backend) holds it, so
        load, record and save of one run never interleave with another's. `who` describes the
        operation (default: this process's command line). Held by another run: wait up to
        `timeout` seconds, then StateError naming the holder. A lock left by a run that is
        provably gone may be taken over. Yields the LockInfo of this hold.
        """
        ...

    def exists(self) -> bool:
        """Whether any state has been saved yet (False: load() would give a new, empty State)."""
        ...

    def describe(self) -> str:
        """Where the state lives, for messages (a path, a URL, a table): never a secret."""
        ...
