"""The repaired spec kept on disk in the user's cache directory, keyed by everything it is made from."""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import time
from collections.abc import Callable
from importlib import resources
from pathlib import Path

import vapiops
from vapiops.fsio import atomic_write

# What the repaired spec is made from: Vapi's spec, the catalogue, and the code that merges and
# repairs (hashed as source, so editing a repair never meets a stale cache, released or not).
_DATA_FILES = ("data/openapi.json.gz", "data/catalogue.json", "data/legacy_fields.json")
_PREFIX = "spec-"
# Other versions (other checkouts, older releases) are kept this long after their last use, so two
# projects on different vapiops versions do not evict each other's cache on every command.
_KEEP_UNUSED_SECONDS = 30 * 24 * 3600


def cache_dir() -> Path:
    """`$XDG_CACHE_HOME/vapiops`, else `~/.cache/vapiops`: the user's, never the project's."""
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "vapiops"


def spec_key() -> str:
    """A hash of the vendored spec, the catalogue, the vapispec code and vapiops' version."""
    digest = hashlib.sha256(vapiops.__version__.encode())
    package = resources.files("vapiops")
    for name in _DATA_FILES:
        digest.update(name.encode() + b"\0" + package.joinpath(name).read_bytes())
    code = package.joinpath("vapispec")
    for source in sorted(code.iterdir(), key=lambda p: p.name):
        if source.name.endswith(".py"):
            digest.update(source.name.encode() + b"\0" + source.read_bytes())
    return digest.hexdigest()[:32]


def cached_spec(build: Callable[[], dict]) -> dict:
    """The repaired spec from the cache, or `build()` and keep it there for the next command.

    Repairing walks the whole spec (about 0.3 s of CPU on every command); reading the cached
    result is a single json.loads (about 0.03 s). A cache that cannot be read or written (a
    read-only home, a full disk, a damaged file) is ignored: the spec is built, as without one.
    """
    try:
        path = cache_dir() / f"{_PREFIX}{spec_key()}.json"
    except OSError:
        return build()
    with contextlib.suppress(OSError, ValueError):
        doc = json.loads(path.read_bytes())
        if isinstance(doc, dict) and "components" in doc:
            os.utime(path)  # its last use, for the pruning in _store
            return doc
    doc = build()
    with contextlib.suppress(OSError, TypeError, ValueError):
        _store(path, json.dumps(doc, ensure_ascii=False, separators=(",", ":")).encode("utf-8"))
    return doc


def _store(path: Path, data: bytes) -> None:
    """Write the cache file whole (a temp file renamed into place); drop versions long unused."""
    atomic_write(path, data, what="spec cache", durable=False)
    prune_unused(path, f"{_PREFIX}*.json")


def prune_unused(current: Path, pattern: str) -> None:
    """Delete the files matching `pattern` beside `current` that were not used for 30 days."""
    now = time.time()
    for old in current.parent.glob(pattern):
        with contextlib.suppress(OSError):
            if old != current and now - old.stat().st_mtime > _KEEP_UNUSED_SECONDS:
                old.unlink()
