"""Bodies known to pass their DTO's schema, remembered across runs so an unchanged manifest is not re-checked."""

from __future__ import annotations

import contextlib
import functools
import hashlib
import os
import tempfile
from collections.abc import Iterable
from pathlib import Path

from vapiops.vapispec.cache import cache_dir, prune_unused, spec_key


class CheckedBodies:
    """Digests of (kind, body, allowed extra fields) that the schema check found clean: no error,
    no warning. Only clean results are kept, so a hit means "nothing to report" and a body with
    any problem is always checked (and reported) again.

    The file is per project (root) and per repaired spec (its cache key), in the user's cache
    directory; it holds exactly the clean bodies of the last run (all its environments), so it
    never grows beyond the project. Unreadable or unwritable means no cache, silently.
    """

    def __init__(self, root: Path):
        self.path: Path | None = None
        self.known: set[str] = set()
        self.clean: set[str] = set()  # clean digests seen by this process
        with contextlib.suppress(OSError, ValueError):
            project = hashlib.sha256(str(root.resolve()).encode()).hexdigest()[:16]
            self.path = cache_dir() / f"checked-{project}-{_spec_key()}.txt"
            self.known = set(self.path.read_text("ascii").split())
            os.utime(self.path)  # its last use, for prune_unused

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
        if self.path is None or self.clean == self.known:
            return
        with contextlib.suppress(OSError):
            self.path.parent.mkdir(parents=True, exist_ok=True)
            fd, temp = tempfile.mkstemp(dir=self.path.parent, prefix=".tmp-", suffix=".txt")
            try:
                with os.fdopen(fd, "w", encoding="ascii") as out:
                    out.write("\n".join(sorted(self.clean)))
                os.replace(temp, self.path)
            except OSError:
                with contextlib.suppress(OSError):
                    os.unlink(temp)
                raise
            self.known = set(self.clean)
            prune_unused(self.path, "checked-*.txt")  # projects long gone (a deleted checkout, a temp dir)


@functools.cache
def _spec_key() -> str:
    return spec_key()


@functools.cache
def for_project(root: Path) -> CheckedBodies:
    """One record per project root and process, shared by every environment validated in it."""
    return CheckedBodies(root)
