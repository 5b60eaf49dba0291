"""Bodies known to pass their DTO's schema, remembered across runs (and projects) so an unchanged manifest is not re-checked."""

from __future__ import annotations

import contextlib
import functools
import hashlib
import time
from collections.abc import Iterable
from pathlib import Path

from vapiops.fsio import atomic_write
from vapiops.vapispec.cache import cache_dir, prune_unused, spec_key


class CheckedBodies:
    """Digests of (kind, body, allowed extra fields) that the schema check found clean: no error,
    no warning. Only clean results are kept, so a hit means "nothing to report" and a body with
    any problem is always checked (and reported) again.

    One file per repaired spec (its cache key) in the user's cache directory, shared by every
    project: a digest is of the body itself, so the same manifest in another checkout, worktree or
    temporary copy is not checked again either. Each digest carries the day it was last found
    clean; one unused for KEEP_DAYS is dropped when the file is next written, so the file holds
    about what was validated in that time. Unreadable or unwritable means no cache, silently.
    """

    KEEP_DAYS = 30

    def __init__(self, today: int | None = None):
        self.path: Path | None = None
        self.today = today if today is not None else int(time.time() // 86400)
        self.known: dict[str, int] = {}  # digest -> the day it was last found clean
        self.clean: set[str] = set()  # clean digests seen by this process
        with contextlib.suppress(OSError, ValueError):
            self.path = cache_dir() / f"checked-{_spec_key()}.txt"
            for line in self.path.read_text("ascii").splitlines():
                digest, _, day = line.partition(" ")
                self.known[digest] = int(day or 0)

    @staticmethod
    def digest(kind: str, body: dict, allow_extra: Iterable[str]) -> str:
        # repr of plain JSON values is deterministic for one dict order; another order only misses.
        text = repr((kind, sorted(allow_extra), body))
        return hashlib.blake2b(text.encode("utf-8", "surrogatepass"), digest_size=16).hexdigest()

    def is_clean(self, digest: str) -> bool:
        if digest in self.known:
            self.clean.add(digest)
            return True
        return False

    def remember(self, digest: str) -> None:
        self.clean.add(digest)

    def save(self) -> None:
        """Write the file when this run found a body clean that it lacks or has not dated today
        (so at most once a day for an unchanged project), dropping digests unused for KEEP_DAYS."""
        if self.path is None or all(self.known.get(d) == self.today for d in self.clean):
            return
        kept = {d: day for d, day in self.known.items() if self.today - day < self.KEEP_DAYS}
        kept.update(dict.fromkeys(self.clean, self.today))
        with contextlib.suppress(OSError):
            text = "\n".join(f"{d} {day}" for d, day in sorted(kept.items()))
            atomic_write(self.path, text, what="schema-check cache", durable=False)
            self.known = kept
            prune_unused(self.path, "checked-*.txt")  # other specs' (versions long unused)


@functools.cache
def _spec_key() -> str:
    return spec_key()


@functools.cache
def shared() -> CheckedBodies:
    """The one record of this process, shared by every project and environment validated in it."""
    return CheckedBodies()
