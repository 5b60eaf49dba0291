"""Which of a plan's steps may start next (dependency counters, a ready queue), the threads that make the calls, and which calls finished: O(degree) per step."""

from __future__ import annotations

import heapq
import queue
import threading
from collections.abc import Callable, Iterable
from typing import TypeVar

from vapiops.model import Step

T = TypeVar("T")
Finished = tuple[Step, BaseException | None]  # a call that ended, and what it raised


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


class Workers:
    """Up to `size` threads that run `call(step)` for each step given to `start`, and put
    (step, what it raised) on `finished` when it ends; threads are started as calls need them.

    What concurrent.futures did for apply, without a Future, a done-callback and a work item per
    call: a step goes in one queue and comes out of another.
    """

    def __init__(self, call: Callable[[Step], None], size: int, name: str):
        self._call = call
        self._size = size
        self._name = name
        self._todo: queue.SimpleQueue[Step | None] = queue.SimpleQueue()
        self.finished: queue.SimpleQueue[Finished] = queue.SimpleQueue()
        self._threads: list[threading.Thread] = []
        self._busy = 0  # steps given and not yet taken off `finished` by done()

    def start(self, step: Step) -> None:
        self._busy += 1
        if self._busy > len(self._threads) and len(self._threads) < self._size:
            thread = threading.Thread(target=self._work, name=f"{self._name}_{len(self._threads)}")
            self._threads.append(thread)
            thread.start()
        self._todo.put(step)

    def done(self, count: int = 1) -> None:
        """The caller took `count` calls off `finished`: their threads are free again."""
        self._busy -= count

    def shutdown(self, wait: bool) -> None:
        """Let every thread exit after its current call; with `wait`, until they have."""
        for _ in self._threads:
            self._todo.put(None)
        if wait:
            for thread in self._threads:
                thread.join()

    def _work(self) -> None:
        while (step := self._todo.get()) is not None:
            try:
                self._call(step)
            except BaseException as exc:  # noqa: BLE001 - the run reports every outcome
                self.finished.put((step, exc))
            else:
                self.finished.put((step, None))


def finished_calls(completed: queue.SimpleQueue[T], timeout: float) -> list[T]:
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
