"""Which of a plan's steps may start next (dependency counters, a ready queue) and which calls finished: O(degree) per step."""

from __future__ import annotations

import heapq
import queue
from collections.abc import Iterable
from concurrent.futures import Future

from vapiops.model import Step


class Schedule:
    """The steps of one plan, released as their dependencies succeed.

    Each step keeps a count of the dependencies it still waits for; a success decrements the
    counts of its dependents only, so finishing a step costs O(its dependents), not O(pending).
    Ready steps leave in the plan's own order (a heap of plan positions), so a run is as
    deterministic as the plan: among the steps that may start, the earliest in the plan starts
    first. A dependency that is not a step of this plan is never satisfied (as before: such a
    step is reported as skipped, never run out of order).
    """

    def __init__(self, steps: Iterable[Step]):
        self._steps: dict[str, Step] = {}
        self._position: dict[str, int] = {}
        self._waiting: dict[str, int] = {}  # step key -> dependencies not yet succeeded
        self._dependents: dict[str, list[str]] = {}
        self._ready: list[tuple[int, str]] = []
        self.done: set[str] = set()
        for position, step in enumerate(steps):
            self._steps[step.key] = step
            self._position[step.key] = position
            needs = set(step.after)
            self._waiting[step.key] = len(needs)
            for dependency in needs:
                self._dependents.setdefault(dependency, []).append(step.key)
            if not needs:
                self._ready.append((position, step.key))
        heapq.heapify(self._ready)

    def has_ready(self) -> bool:
        return bool(self._ready)

    def take(self) -> Step:
        """The earliest ready step in plan order; it is no longer pending."""
        _, key = heapq.heappop(self._ready)
        del self._waiting[key]
        return self._steps[key]

    def succeeded(self, key: str) -> None:
        """Mark a step done and release every dependent whose last dependency this was."""
        if key in self.done:
            return
        self.done.add(key)
        for dependent in self._dependents.get(key, ()):
            left = self._waiting.get(dependent)
            if left is None:
                continue  # already taken (cannot happen for a real dependent; kept safe)
            self._waiting[dependent] = left - 1
            if left == 1:
                heapq.heappush(self._ready, (self._position[dependent], dependent))

    def pending(self) -> list[str]:
        """Keys of the steps never taken, ready or not."""
        return list(self._waiting)

    def __bool__(self) -> bool:
        return bool(self._waiting)


def finished_calls(completed: queue.SimpleQueue[Future[None]], timeout: float) -> list[Future[None]]:
    """The calls that finished: waits up to `timeout` for the first, then takes every other one
    already there."""
    try:
        out = [completed.get(timeout=timeout)]
    except queue.Empty:
        return []
    while True:
        try:
            out.append(completed.get_nowait())
        except queue.Empty:
            return out
