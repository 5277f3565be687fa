"""How a run ends, as the page and the API report it: done with its result, failed with
the program's error, stopped with the first reason given; and what a run leaves behind
(its finalizers, its place in the kept-runs budget)."""

from __future__ import annotations

import asyncio
import gc
import re
import threading as std_threading
import time as std_time
import weakref
from collections.abc import Callable

import pytest

from app.columns import EventColumns
from app.config import Settings
from app.runner import SHUTTING_DOWN, Run, RunManager, RunStatus, stop_all_runs
from app.scenarios.base import Params, Result, Scenario
from app.timeline import Event, Kind
from app.traced import print as traced_print
from app.traced import threading
from app.tracing import Recorder, bind, here

pytestmark = pytest.mark.anyio


def scenario(main: Callable[[Params], Result]) -> Scenario:
    return Scenario(slug="test", title="test", group="Tests", notice="", params=Params, main=main)


async def run_to_end(main: Callable[[Params], Result], settings: Settings | None = None):  # type: ignore[no-untyped-def]
    manager = RunManager(settings or Settings(max_run_seconds=10, stop_grace_seconds=5))
    try:
        run = manager.start(scenario(main), Params())
        async for _ in run.follow(0, 10_000):
            pass
        return run
    finally:
        await manager.close()


def parked(
    release: std_threading.Event, started: std_threading.Event | None = None
) -> Callable[[Params], Result]:
    """A program that says it has started, then waits untraced (no stop reaches it)
    until the test releases it: the run stays running as long as the test needs."""

    def program(p: Params) -> Result:
        if started is not None:
            started.set()
        release.wait(30)
        return Result("done")

    return program


def stored_run(run_id: str, events: int = 0) -> Run:
    """A finished run as read back from the history, with `events` events."""
    log = EventColumns()
    log.extend([Event(i, "main", Kind.PRINT, "", str(i)) for i in range(events)])
    return Run(id=run_id, scenario=scenario(parked), params=Params(), status=RunStatus.DONE, events=log)


def lane(run, worker: str):  # type: ignore[no-untyped-def]
    return [e for e in run.events if e.worker == worker]


async def test_a_program_that_returns_ends_done_with_its_result_and_duration() -> None:
    def program(p: Params) -> Result:
        traced_print("hi")
        return Result("said hi", {"lines": 1})

    run = await run_to_end(program)
    assert run.status is RunStatus.DONE
    assert run.result == Result("said hi", {"lines": 1})
    assert (run.error, run.reason) == (None, None)
    assert run.duration_ns > 0
    summary = run.summary()
    assert summary["status"] == "done"
    assert summary["result"] == {"summary": "said hi", "values": {"lines": 1}, "notice": "", "focus": None}
    assert summary["events"] == len(run.events)
    assert [e.kind for e in lane(run, "main")] == [Kind.START, Kind.RUN, Kind.PRINT, Kind.DONE]


async def test_a_program_that_raises_ends_failed_with_its_error_and_no_result() -> None:
    def program(p: Params) -> Result:
        raise ValueError("no such account")

    run = await run_to_end(program)
    assert run.status is RunStatus.FAILED
    assert run.error == "ValueError: no such account"
    assert (run.result, run.reason) == (None, None)
    assert run.summary()["error"] == "ValueError: no such account"
    assert (lane(run, "main")[-1].kind, lane(run, "main")[-1].detail) == (
        Kind.CRASH,
        "ValueError: no such account",
    )


async def test_a_program_that_forgets_a_blocked_thread_is_stopped_and_keeps_its_result() -> None:
    def program(p: Params) -> Result:
        never = threading.Event(name="never")
        threading.Thread(target=never.wait).start()  # never joined, never set
        return Result("main finished")

    run = await run_to_end(program)
    assert run.status is RunStatus.STOPPED
    assert run.reason == "the program ended while threads were still running"
    assert run.result == Result("main finished")  # what main computed is still shown
    assert lane(run, "main")[-1].kind is Kind.DONE
    assert lane(run, "Thread-1")[-1].kind is Kind.DONE
    assert lane(run, "Thread-1")[-1].detail == "stopped: the program ended while threads were still running"
    summary = run.summary()
    assert summary["result"] == {"summary": "main finished", "values": {}, "notice": "", "focus": None}
    assert summary["reason"] == run.reason


async def test_a_run_stopped_by_a_viewer_keeps_that_reason_even_as_its_threads_are_reaped() -> None:
    started = std_threading.Event()

    def program(p: Params) -> Result:
        never = threading.Event(name="never")
        t = threading.Thread(target=never.wait)
        t.start()
        started.set()
        t.join()
        traced_print("after the join")  # a traced call: the stop ends main here
        return Result("unreachable")

    manager = RunManager(Settings(max_run_seconds=10))
    try:
        run = manager.start(scenario(program), Params())
        assert await _wait(started)
        manager.stop(run, "stopped by a viewer")
        async for _ in run.follow(0, 10_000):
            pass
    finally:
        await manager.close()
    assert run.status is RunStatus.STOPPED
    assert run.reason == "stopped by a viewer"
    assert run.result is None
    [mark] = [e for e in run.events if e.kind is Kind.MARK] or [None]
    assert mark is None  # a viewer's stop is not the watchdog's: no mark on the lanes


async def _wait(event: std_threading.Event) -> bool:
    import anyio

    return await anyio.to_thread.run_sync(event.wait, 10)


async def test_threads_stuck_where_no_stop_reaches_them_cost_the_run_one_grace_period_in_all() -> None:
    """Four threads the program forgot, each parked in an untraced wait (no traced call:
    the stop cannot end them). The run waits for them one grace period *in all*, then
    ends with its own result; it is not left behind, which would take twice the grace
    and the time to reap processes, and would drop the result."""
    release = std_threading.Event()  # the real Event: a wait no stop reaches

    def program(p: Params) -> Result:
        for _ in range(4):
            threading.Thread(target=release.wait, args=(60,)).start()
        return Result("main finished")

    grace_s = 0.2  # four stuck threads at one second each would outlast the patience
    try:
        run = await run_to_end(program, Settings(max_run_seconds=10, stop_grace_seconds=grace_s))
    finally:
        release.set()
    assert run.status is RunStatus.STOPPED
    assert run.reason == "the program ended while threads were still running"
    assert run.result == Result("main finished")


def test_the_first_stop_reason_wins_and_each_stop_hook_hears_it_once() -> None:
    rec = Recorder()
    heard: list[str] = []
    rec.on_stop(heard.append)
    rec.stop("deadlock: A -> B")
    rec.stop("stopped by a viewer")
    assert rec.stop_reason == "deadlock: A -> B"
    assert heard == ["deadlock: A -> B"]
    late: list[str] = []
    rec.on_stop(late.append)  # registered after the stop: told at once
    assert late == ["deadlock: A -> B"]


def test_finalizers_run_last_added_first_once_and_all_of_them_even_if_one_fails() -> None:
    rec = Recorder()
    ran: list[str] = []

    def failing() -> None:
        ran.append("pool")
        raise OSError("could not reap")

    rec.add_finalizer(lambda: ran.append("shared memory"))  # created first: released last
    rec.add_finalizer(failing)
    rec.add_finalizer(lambda: ran.append("processes"))
    with pytest.raises(OSError, match="could not reap"):
        rec.finalize()
    assert ran == ["processes", "pool", "shared memory"]
    rec.finalize()
    assert ran == ["processes", "pool", "shared memory"]  # once


def test_the_first_of_several_finalizer_errors_is_the_one_raised() -> None:
    rec = Recorder()

    def fail(text: str) -> Callable[[], None]:
        def finalizer() -> None:
            raise RuntimeError(text)

        return finalizer

    rec.add_finalizer(fail("added first"))
    rec.add_finalizer(fail("added last"))
    with pytest.raises(RuntimeError, match="added last"):
        rec.finalize()


def test_a_finalized_recorder_calls_no_more_stop_hooks() -> None:
    rec = Recorder()
    heard: list[str] = []
    rec.on_stop(heard.append)
    rec.finalize()
    rec.stop("late")
    assert heard == []


async def test_finalizers_run_after_the_program_and_its_threads_are_over() -> None:
    seen: list[str] = []

    def program(p: Params) -> Result:
        rec, _ = here()
        rec.add_finalizer(lambda: seen.append("finalizer"))
        worker = threading.Thread(target=lambda: seen.append("thread"))
        worker.start()
        worker.join()
        seen.append("main")
        return Result("ok")

    run = await run_to_end(program)
    assert run.status is RunStatus.DONE
    assert seen == ["thread", "main", "finalizer"]


def test_bind_restores_the_previous_binding_even_when_the_block_raises() -> None:
    rec = Recorder()
    with bind(rec, "main"):
        assert here() == (rec, "main")
        seen: list[tuple[Recorder, str]] = []

        def inner() -> None:
            with bind(rec, "Thread-1"):
                seen.append(here())
                raise KeyError("x")

        with pytest.raises(KeyError):
            inner()
        assert seen == [(rec, "Thread-1")]
        assert here() == (rec, "main")
    with pytest.raises(RuntimeError, match="not bound to a run"):
        here()


# --- what the server keeps -----------------------------------------------------------------
async def test_old_runs_are_forgotten_beyond_the_event_budget_but_never_a_running_one() -> None:
    release = std_threading.Event()

    def chatty(p: Params) -> Result:
        for i in range(600):
            traced_print(i)
        return Result("printed")

    def waiting(p: Params) -> Result:
        release.wait(30)  # untraced: the test decides when it ends
        for i in range(600):
            traced_print(i)
        return Result("waited")

    manager = RunManager(Settings())
    manager.settings.kept_events = 1_000
    try:
        held = manager.start(scenario(waiting), Params())
        first = manager.start(scenario(chatty), Params())
        async for _ in first.follow(0, 10_000):
            pass
        second = manager.start(scenario(chatty), Params())
        async for _ in second.follow(0, 10_000):
            pass
        # Starting a third: ~1200 events kept, over the budget. The oldest run is still
        # running and stays whatever the budget; the oldest finished one goes, and that
        # is enough.
        third = manager.start(scenario(chatty), Params())
        assert manager.get(held.id) is held
        assert manager.get(first.id) is None
        assert manager.get(second.id) is second
        async for _ in third.follow(0, 10_000):
            pass
        release.set()
        async for _ in held.follow(0, 10_000):
            pass
        fourth = manager.start(scenario(chatty), Params())
        # ~1800 kept: the two oldest finished runs go, in order, until it fits
        assert [r.id for r in manager.runs.values()] == [third.id, fourth.id]
        async for _ in fourth.follow(0, 10_000):
            pass
    finally:
        release.set()
        await manager.close()


async def test_runs_read_back_from_the_history_count_in_the_kept_runs_budget() -> None:
    """Runs a viewer opened from the history are kept in memory like any other, and go
    oldest first once more are kept than the server allows."""
    manager = RunManager(Settings(kept_runs=2))
    for i in range(3):
        manager.remember(stored_run(f"stored{i}"))
    assert list(manager.runs) == ["stored1", "stored2"]
    await manager.close()


async def test_the_kept_events_budget_keeps_runs_up_to_exactly_its_size() -> None:
    manager = RunManager(Settings(kept_events=1_000))
    manager.remember(stored_run("first", 600))
    manager.remember(stored_run("second", 400))
    assert list(manager.runs) == ["first", "second"]  # 1,000 of 1,000: all kept
    manager.remember(stored_run("third", 1))
    assert list(manager.runs) == ["second", "third"]
    await manager.close()


async def test_a_program_may_start_at_most_the_servers_workers_per_run() -> None:
    def program(p: Params) -> Result:
        for _ in range(5):
            t = threading.Thread(target=lambda: None)
            t.start()
            t.join()
        return Result("unreachable")

    run = await run_to_end(program, Settings(max_run_seconds=10, max_workers_per_run=3))
    assert run.status is RunStatus.FAILED
    assert "this run may start at most 3 workers" in str(run.error)
    assert {e.worker for e in run.events} == {"main", "Thread-1", "Thread-2", "Thread-3"}  # the 4th refused


async def test_a_run_is_driven_by_a_task_named_after_it_that_the_manager_lets_go_once_it_ends() -> None:
    """A task dump of a busy server says which run each task drives; an ended run's
    task is not kept (a server that ran thousands of runs holds none of their tasks)."""
    release = std_threading.Event()
    manager = RunManager(Settings())
    try:
        run = manager.start(scenario(parked(release)), Params())
        [task] = [t for t in asyncio.all_tasks() if t.get_name() == f"run-{run.id}"]
        ended = weakref.ref(task)
        del task
        release.set()
        async for _ in run.follow(0, 10_000):
            pass
        await asyncio.sleep(0)  # the task's done callbacks run in the loop's next step
        gc.collect()
        assert ended() is None
    finally:
        release.set()
        await manager.close()


async def test_a_run_leaves_no_sampler_behind() -> None:
    """Each run samples its lanes' CPU from a thread of its own; once the run ends the
    thread is gone (a server running lessons all day would otherwise gather them)."""
    before = set(std_threading.enumerate())
    started, release = std_threading.Event(), std_threading.Event()
    manager = RunManager(Settings())
    try:
        run = manager.start(scenario(parked(release, started)), Params())
        assert await _wait(started)
        samplers = [t for t in set(std_threading.enumerate()) - before if t.name == "interleave-sampler"]
        assert len(samplers) == 1
        release.set()
        async for _ in run.follow(0, 10_000):
            pass
        assert not samplers[0].is_alive()
    finally:
        release.set()
        await manager.close()


async def test_a_run_beyond_the_concurrent_limit_is_refused_and_a_slot_frees_when_one_ends() -> None:
    from app.runner import TooManyRuns

    release = std_threading.Event()

    def waiting(p: Params) -> Result:
        release.wait(30)
        return Result("waited")

    manager = RunManager(Settings(max_concurrent_runs=1))
    try:
        held = manager.start(scenario(waiting), Params())
        assert manager.active == 1
        with pytest.raises(TooManyRuns, match="1 runs are already running"):
            manager.start(scenario(waiting), Params())
        release.set()
        async for _ in held.follow(0, 10_000):
            pass
        assert manager.active == 0
        another = manager.start(scenario(waiting), Params())
        async for _ in another.follow(0, 10_000):
            pass
        assert another.status is RunStatus.DONE
    finally:
        release.set()
        await manager.close()


async def test_a_viewer_reads_a_run_in_batches_of_at_most_the_asked_size_from_where_it_asks() -> None:
    def program(p: Params) -> Result:
        for i in range(6):
            traced_print(i)
        return Result("printed")

    run = await run_to_end(program)
    assert len(run.events) == 9  # start, run, 6 prints, done
    batches = [(first, stop - first) async for first, stop in run.follow(0, 4)]
    assert batches == [(0, 4), (4, 4), (8, 1)]
    resumed = [
        (first, [e.detail for e in run.events[first:stop]]) async for first, stop in run.follow(5, 100)
    ]
    assert resumed == [(5, ["3", "4", "5", None])]
    assert [b async for b in run.follow(9, 100)] == []  # nothing after the end


async def test_a_run_has_a_short_hex_id_and_its_summary_gives_the_duration_in_milliseconds() -> None:
    run = await run_to_end(lambda p: Result("nothing"))
    assert re.fullmatch(r"[0-9a-f]{12}", run.id)
    assert run.summary()["duration_ms"] == round(run.duration_ns / 1e6, 3)


async def test_stopping_every_run_at_shutdown_stops_the_running_ones_with_that_reason() -> None:
    release = std_threading.Event()

    def waiting(p: Params) -> Result:
        release.wait(30)
        traced_print("after the wait")  # the stop ends main here
        return Result("waited")

    manager = RunManager(Settings())
    try:
        finished = await _finished(manager, lambda p: Result("quick"))
        running = manager.start(scenario(waiting), Params())
        stop_all_runs()
        release.set()
        async for _ in running.follow(0, 10_000):
            pass
        assert (running.status, running.reason) == (RunStatus.STOPPED, SHUTTING_DOWN)
        assert (finished.status, finished.reason) == (RunStatus.DONE, None)
        assert finished.recorder.stop_reason is None  # a finished run is left alone
    finally:
        release.set()
        await manager.close()


async def _finished(manager: RunManager, main: Callable[[Params], Result]):  # type: ignore[no-untyped-def]
    run = manager.start(scenario(main), Params())
    async for _ in run.follow(0, 10_000):
        pass
    return run


async def test_a_viewer_receives_events_and_their_start_time_while_the_run_is_still_running() -> None:
    printed = std_threading.Event()
    release = std_threading.Event()

    def program(p: Params) -> Result:
        traced_print("first")
        printed.set()
        release.wait(30)  # untraced: the run stays running until the test lets it go
        return Result("done")

    manager = RunManager(Settings())
    try:
        run = manager.start(scenario(program), Params())
        assert await _wait(printed)
        seen: list[str] = []
        async for first, stop in run.follow(0, 10_000):
            seen.extend(str(e.detail) for e in run.events[first:stop] if e.kind is Kind.PRINT)
            if seen:
                break  # it arrived live: the run has not ended
        assert seen == ["first"]
        assert run.status is RunStatus.RUNNING
        # the page's clock counts from the program's start: known with its first events
        assert run.summary()["started_at"] == run.recorder.t0_wall is not None
        release.set()
        async for _ in run.follow(0, 10_000):
            pass
        assert run.status is RunStatus.DONE
    finally:
        release.set()
        await manager.close()


async def test_a_run_summary_names_its_scenario_for_the_page() -> None:
    run = await run_to_end(lambda p: Result("nothing"))
    summary = run.summary()
    assert (summary["scenario"], summary["title"], summary["expects_stop"]) == ("test", "test", False)
    assert summary["params"] == {}
    assert summary["created_at"] == run.created_at


async def test_closing_the_manager_stops_its_running_runs_and_waits_for_them_to_end() -> None:
    def program(p: Params) -> Result:
        threading.Event(name="never").wait()  # traced: ends at the stop
        return Result("unreachable")

    manager = RunManager(Settings())
    run = manager.start(scenario(program), Params())
    await manager.close()
    assert run.finished  # close() returned only once the run had ended
    assert (run.status, run.reason) == (RunStatus.STOPPED, SHUTTING_DOWN)


async def test_closing_the_manager_gives_a_run_its_grace_period_to_unwind() -> None:
    """A program busy where no stop reaches it (an untraced sleep) for a moment after
    the shutdown's stop: close() waits for it, so the run ends, keeping its result,
    before the server goes (its processes reaped, its history written)."""
    started = std_threading.Event()

    def program(p: Params) -> Result:
        started.set()
        std_time.sleep(0.3)  # untraced: the stop cannot cut it short
        return Result("unwound")

    manager = RunManager(Settings(stop_grace_seconds=1.0))
    run = manager.start(scenario(program), Params())
    assert await _wait(started)
    await manager.close()
    assert run.finished
    assert (run.status, run.reason, run.result) == (RunStatus.STOPPED, SHUTTING_DOWN, Result("unwound"))


async def test_a_run_is_directed_from_a_daemon_thread_so_a_stuck_program_cannot_hold_the_server() -> None:
    started, release = std_threading.Event(), std_threading.Event()
    manager = RunManager(Settings())
    try:
        run = manager.start(scenario(parked(release, started)), Params())
        assert await _wait(started)
        [director] = [t for t in std_threading.enumerate() if t.name == f"interleave-run-{run.id}"]
        assert director.daemon
    finally:
        release.set()
        await manager.close()
