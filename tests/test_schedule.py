"""The apply scheduler: steps start when their dependencies succeeded, earliest in the plan first."""

from __future__ import annotations

import time

import pytest
from conftest import time_budget

from vapiops.flows.schedule import Schedule
from vapiops.model import Phase, Step


def step(name: str, *after: str) -> Step:
    return Step(Phase.CREATE, f"tool/{name}", "tool", after=[f"create:tool/{a}" for a in after])


def run_order(
    steps: list[Step], fail: frozenset[str] | set[str] = frozenset()
) -> tuple[list[str], list[str]]:
    """Take every ready step one at a time (parallelism 1): the order run, and what stayed pending."""
    schedule = Schedule(steps)
    order = []
    while schedule.has_ready():
        taken = schedule.take()
        order.append(taken.address.split("/")[1])
        if order[-1] not in fail:
            schedule.succeeded(taken.key)
    return order, sorted(k.split("/")[1] for k in schedule.pending())


@pytest.mark.parametrize(
    ("steps", "fail", "order", "pending"),
    [
        # independent steps run in the plan's order
        ([step("c"), step("a"), step("b")], set(), ["c", "a", "b"], []),
        # a released dependent goes before later ready steps only if it comes earlier in the plan
        ([step("b", "a"), step("a"), step("c")], set(), ["a", "b", "c"], []),
        ([step("a"), step("c"), step("b", "a")], set(), ["a", "c", "b"], []),
        # a diamond: d waits for both b and c
        ([step("a"), step("b", "a"), step("c", "a"), step("d", "b", "c")], set(), ["a", "b", "c", "d"], []),
        # a dependency listed twice counts once
        ([step("a"), step("b", "a", "a")], set(), ["a", "b"], []),
        # a failed step holds back its dependents (transitively), not the others
        ([step("a"), step("b", "a"), step("c", "b"), step("d")], {"a"}, ["a", "d"], ["b", "c"]),
        # a dependency that is not a step of the plan is never satisfied
        ([step("a", "ghost"), step("b")], set(), ["b"], ["a"]),
    ],
)
def test_steps_start_when_dependencies_succeeded_in_plan_order(
    steps: list[Step], fail: set[str], order: list[str], pending: list[str]
) -> None:
    assert run_order(steps, fail) == (order, pending)


def test_a_step_is_released_by_its_last_dependency_only() -> None:
    schedule = Schedule([step("a"), step("b"), step("c", "a", "b")])
    first, second = schedule.take(), schedule.take()
    schedule.succeeded(first.key)
    assert not schedule.has_ready()
    schedule.succeeded(first.key)  # a repeated success releases nothing more
    assert not schedule.has_ready()
    schedule.succeeded(second.key)
    assert schedule.take().address == "tool/c"
    assert not schedule and schedule.done == {first.key, second.key}


def test_scheduling_is_linear_in_the_steps() -> None:
    """A chain and a wide fan-out of 40,000 steps each schedule in well under a second: a quadratic
    rescan of the pending steps (as apply once did) takes minutes at this size."""
    chain = [step("0")] + [step(str(i), str(i - 1)) for i in range(1, 40_000)]
    fan = [step("root")] + [step(str(i), "root") for i in range(40_000)]
    for steps in (chain, fan):
        started = time.process_time()
        order, pending = run_order(steps)
        assert len(order) == len(steps) and pending == []
        assert time.process_time() - started < time_budget(2.0)


def test_finished_calls_takes_every_call_that_finished_and_waits_for_none_otherwise() -> None:
    import queue
    from concurrent.futures import Future, ThreadPoolExecutor

    from vapiops.flows.schedule import finished_calls

    completed: queue.SimpleQueue[Future[None]] = queue.SimpleQueue()
    assert finished_calls(completed, 0.01) == []
    with ThreadPoolExecutor(max_workers=2) as pool:
        futures = [pool.submit(lambda: None) for _ in range(3)]
        for future in futures:
            future.add_done_callback(completed.put)
    got = finished_calls(completed, 1.0)
    assert sorted(map(id, got)) == sorted(map(id, futures))
    assert finished_calls(completed, 0.01) == []


def test_workers_run_each_step_once_on_at_most_size_threads_and_report_what_it_raised() -> None:
    import threading

    from vapiops.flows.schedule import Workers, finished_calls

    names: set[str] = set()

    def call(s: Step) -> None:
        names.add(threading.current_thread().name)
        time.sleep(0.01)
        if s.address == "tool/bad":
            raise KeyboardInterrupt  # a BaseException is reported too, not lost in the thread

    workers = Workers(call, 2, "test-workers")
    steps = [step(str(i)) for i in range(5)] + [step("bad")]
    for s in steps:
        workers.start(s)
    got: list[tuple[Step, BaseException | None]] = []
    while len(got) < len(steps):
        got += finished_calls(workers.finished, 1.0)
    workers.shutdown(wait=True)
    assert sorted(s.address for s, _ in got) == sorted(s.address for s in steps)
    assert [type(e).__name__ for s, e in got if e is not None] == ["KeyboardInterrupt"]
    assert names <= {"test-workers_0", "test-workers_1"}
    assert not any(t.name.startswith("test-workers") and t.is_alive() for t in threading.enumerate())
