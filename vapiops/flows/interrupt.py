"""SIGINT and SIGTERM during a run: turned into a request to stop that the applier honours between calls."""

from __future__ import annotations

import contextlib
import signal
import threading
from collections.abc import Iterator
from types import FrameType

# How long in-flight calls may take to finish after a stop request before the run abandons them
# (their creates stay recorded as intents, which the next run adopts). CI runners kill a cancelled
# job a few seconds after SIGTERM (GitHub Actions: 7.5 s after SIGINT), so this stays short.
GRACE_SECONDS = 5.0


class Interrupted(BaseException):
    """The run stopped on a signal; `message` says truthfully what was recorded. Exit 128 + signum."""

    def __init__(self, signum: int, message: str = ""):
        super().__init__(message or f"interrupted by {signal.Signals(signum).name}")
        self.signum = signum
        self.message = str(self)

    @property
    def exit_code(self) -> int:
        return 128 + self.signum  # 130 for SIGINT, 143 for SIGTERM, as shells report them


class StopRequest:
    """Set by SIGINT/SIGTERM. While an applier is running (`polled`), it only asks it to stop;
    otherwise (planning, asking) the signal raises Interrupted at once, before any write."""

    def __init__(self) -> None:
        self.event = threading.Event()
        self.signum: int | None = None
        self.count = 0
        self.polled = False

    def handle(self, signum: int, _frame: FrameType | None) -> None:
        self.count += 1
        self.signum = self.signum or signum
        self.event.set()
        if not self.polled:
            raise Interrupted(signum)

    def is_set(self) -> bool:
        return self.event.is_set()

    def urgent(self) -> bool:
        """A second signal: abandon in-flight calls without waiting out the grace period."""
        return self.count > 1


@contextlib.contextmanager
def stop_on_signals() -> Iterator[StopRequest]:
    """Route SIGINT and SIGTERM to a StopRequest for the block (main thread only; else a request never set)."""
    request = StopRequest()
    if threading.current_thread() is not threading.main_thread():
        yield request
        return
    previous = {s: signal.signal(s, request.handle) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield request
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)
