"""Atomic file writes: a file is either its old content or its new content, never half, never a stray temp."""

from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path

from vapiops.errors import VapiopsError


class WriteError(VapiopsError, OSError):
    """A file that could not be written: a located VapiopsError that is still an OSError to callers."""

    def __init__(self, message: str, errno: int | None = None):
        VapiopsError.__init__(self, message)
        self.errno = errno


def check_writable_file(path: Path | str, what: str = "file") -> Path:
    """Refuse, before any work is done, a path that cannot become a file (a directory, say)."""
    path = Path(path)
    if path.is_dir() or str(path).endswith(("/", os.sep)):
        raise VapiopsError(f"{what} {str(path)!r} is a directory", hint="name a file inside it")
    if path.parent.exists() and not path.parent.is_dir():
        raise VapiopsError(
            f"{what} {str(path)!r}: {str(path.parent)!r} is not a directory", hint="name another file"
        )
    return path


def atomic_write(path: Path | str, data: str | bytes, *, what: str = "file", durable: bool = True) -> None:
    """Write data to path atomically and durably: a temp file in the same directory, fsync, rename,
    fsync of the directory. The temp file is removed on any failure; a directory is refused.
    durable=False skips the fsyncs: for a cache, which may be lost but never read half-written."""
    path = check_writable_file(path, what)
    raw = data.encode("utf-8") if isinstance(data, str) else data
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    except OSError as exc:
        raise WriteError(f"cannot write {what} {str(path)!r}: {exc.strerror or exc}", exc.errno) from None
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(raw)
            if durable:
                fh.flush()
                os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException as exc:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        if isinstance(exc, OSError):
            raise WriteError(f"cannot write {what} {str(path)!r}: {exc.strerror or exc}", exc.errno) from None
        raise
    if durable:
        _fsync_dir(path.parent)


def _fsync_dir(directory: Path) -> None:
    # The rename is durable only once the directory is; not every platform can open a directory.
    with contextlib.suppress(OSError):
        fd = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
