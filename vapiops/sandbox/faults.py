"""Failures on purpose: latency, random 429/5xx from a seeded RNG, and faults queued by tests."""

from __future__ import annotations

import random
import threading
import time
from dataclasses import dataclass


@dataclass
class Fault:
    """An error response to give instead of (or after carrying out) a request."""

    status: int
    retry_after: float | None = None
    after_effect: bool = False  # carry the request out, then answer with the error anyway


@dataclass
class _Queued:
    method: str
    path_prefix: str
    fault: Fault
    times: int


class Faults:
    def __init__(self, *, latency_ms: int = 0, fault_rate: float = 0.0, seed: int | None = None):
        if not 0.0 <= fault_rate <= 1.0:
            raise ValueError(f"fault_rate must be between 0 and 1, got {fault_rate}")
        if latency_ms < 0:
            raise ValueError(f"latency_ms must not be negative, got {latency_ms}")
        self.latency_ms = latency_ms
        self.fault_rate = fault_rate
        self._rng = random.Random(seed)
        self._queue: list[_Queued] = []
        self._lock = threading.Lock()

    def inject(
        self,
        method: str,
        path_prefix: str,
        status: int,
        times: int = 1,
        retry_after: float | None = None,
        after_effect: bool = False,
    ) -> None:
        """Queue a fault for the next `times` requests matching method ("*" = any) and path prefix."""
        if times < 1:
            raise ValueError(f"times must be at least 1, got {times}")
        if not 400 <= status <= 599:
            raise ValueError(f"status must be an HTTP error status, got {status}")
        with self._lock:
            self._queue.append(
                _Queued(method.upper(), path_prefix, Fault(status, retry_after, after_effect), times)
            )

    def delay(self) -> None:
        if self.latency_ms:
            time.sleep(self.latency_ms / 1000)

    def pick(self, method: str, path: str) -> Fault | None:
        """The fault for this request, if any: the oldest matching queued one first, then chance."""
        with self._lock:
            for queued in self._queue:
                if queued.method in ("*", method.upper()) and path.startswith(queued.path_prefix):
                    queued.times -= 1
                    if queued.times == 0:
                        self._queue.remove(queued)
                    return queued.fault
            # The RNG is drawn only when fault_rate is set, so a seed reproduces the same sequence.
            if self.fault_rate and self._rng.random() < self.fault_rate:
                status = self._rng.choice((429, 500, 503))
                return Fault(status, retry_after=0 if status == 429 else None)
        return None
