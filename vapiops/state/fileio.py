"""Journal appends for the local backend: a record is appended whole and fsynced, or not at all.

(Atomic replacement of whole files is vapiops.fsio.atomic_write.)
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path


def append_whole(path: Path, data: bytes) -> None:
    """Append `data` as one complete record, fsynced, or raise OSError leaving the file as it was.

    A previous append torn by a crash (the file does not end in a newline) is cut off first, so
    this record never fuses with a fragment into one unreadable line in the middle of the file.
    A short write (a full disk) is undone by truncating back to where the append began.
    """
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        start = os.lseek(fd, 0, os.SEEK_END)
        if start > 0 and os.pread(fd, 1, start - 1) != b"\n":
            start = _end_of_last_whole_line(fd, start)
            os.ftruncate(fd, start)
        written = 0
        try:
            while written < len(data):
                n = os.pwrite(fd, data[written:], start + written)
                if n <= 0:
                    raise OSError(f"short write: {written} of {len(data)} bytes")
                written += n
            os.fsync(fd)
        except OSError:
            with contextlib.suppress(OSError):
                os.ftruncate(fd, start)
            raise
    finally:
        os.close(fd)


def _end_of_last_whole_line(fd: int, size: int) -> int:
    chunk = 4096
    end = size
    while end > 0:
        begin = max(0, end - chunk)
        data = os.pread(fd, end - begin, begin)
        newline = data.rfind(b"\n")
        if newline >= 0:
            return begin + newline + 1
        end = begin
    return 0
