"""The traced `multiprocessing` context keeps the promises of the standard one that a
lesson's code relies on: its defaults, its names, its arguments, what a child sees of
itself, and that a run's processes never keep the server from exiting."""

from __future__ import annotations

import multiprocessing as std_multiprocessing
import os
import signal
import subprocess
import sys
import threading as std_threading
import time as std_time
from collections.abc import Callable, Iterator
from concurrent.futures.process import BrokenProcessPool
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from app.timeline import FINAL_STATES as FINAL
from app.timeline import Event, Kind, LaneKind
from app.traced import multiprocessing
from app.traced import print as traced_print
from app.traced.child import StoppedTask
from app.tracing import Recorder, Stop, bind
from tests.helpers import wait_until
from tests.proc_helpers import alive, children, state

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def no_children_left():  # type: ignore[no-untyped-def]
    before = children()
    yield
    assert children() - before == set()


def say_who(first: int, second: int = 0) -> None:
    traced_print(f"{std_multiprocessing.current_process().name} {first} {second}")


def who_am_i(x: int) -> str:
    return f"{std_multiprocessing.current_process().name} {x}"


def test_objects_made_without_a_name_are_numbered_per_run_and_a_given_name_is_kept() -> None:
    rec = Recorder()
    with bind(rec, "main", LaneKind.MAIN):
        ctx = multiprocessing.get_context("forkserver")
        made = [ctx.Queue(), ctx.Queue(name="jobs"), *ctx.Pipe(), *ctx.Pipe(name="line")]
        made += [
            ctx.Value("i"),
            ctx.Value("i", name="count"),
            ctx.Array("i", 2),
            ctx.Array("i", 2, name="cells"),
        ]
        made += [ctx.Lock(), ctx.Lock(name="printer")]
        names = [thing.name for thing in made]
    rec.finalize()
    assert names == [
        *["Queue-1", "jobs", "Pipe-1", "Pipe-1", "line", "line"],
        *["Value-1", "count", "Array-1", "cells", "Lock-1", "printer"],
    ]


def test_defaults_are_the_standard_ones() -> None:
    rec = Recorder()
    with bind(rec, "main", LaneKind.MAIN):
        ctx = multiprocessing.get_context("forkserver")
        queue = ctx.Queue()  # unbounded
        for i in range(3):
            queue.put(i, block=False)
        assert ctx.Value("i").peek() == 0
        with pytest.raises(ValueError, match="size"):  # a new block needs a size, as in the standard one
            ctx.SharedMemory(create=True)
        block = ctx.SharedMemory(create=True, size=8)
        block.buf[0] = 42
        attached = ctx.SharedMemory(block.name)  # by name: attach, not create
        assert attached.buf[0] == 42
        attached.close()
    rec.finalize()


def test_a_pipe_is_one_way_from_its_sending_end_to_its_receiving_end() -> None:
    """A lesson's Pipe is drawn as one channel from a sender to a receiver."""
    rec = Recorder()
    with bind(rec, "main", LaneKind.MAIN):
        receiving, sending = multiprocessing.get_context("forkserver").Pipe()
        sending.send("hello")
        assert receiving.recv() == "hello"
        with pytest.raises(OSError, match="read-only"):
            receiving.send("back")
    rec.finalize()


def test_a_shared_memory_block_made_without_a_name_says_whose_it_is() -> None:
    """In /dev/shm an operator can tell this server's blocks by their name; a name the
    program gives is kept."""
    rec = Recorder()
    with bind(rec, "main", LaneKind.MAIN):
        ctx = multiprocessing.get_context("forkserver")
        unnamed = ctx.SharedMemory(create=True, size=8)
        named = ctx.SharedMemory(f"interleave_test_{os.getpid()}", create=True, size=8)
        names = [unnamed.name, named.name]
    rec.finalize()  # unlinks both
    assert names[0].startswith(f"interleave_{os.getpid()}_")
    assert names[1] == f"interleave_test_{os.getpid()}"


def test_a_stopped_run_starts_no_process_or_pool_and_makes_no_shared_memory_block() -> None:
    rec = Recorder()
    with bind(rec, "main", LaneKind.MAIN):
        ctx = multiprocessing.get_context("forkserver")
        mine = f"interleave_{os.getpid()}_*"
        before = set(Path("/dev/shm").glob(mine))
        rec.stop("stopped by a test")
        with pytest.raises(Stop):
            ctx.SharedMemory(create=True, size=8)
        with pytest.raises(Stop):
            ctx.Pool(2)
        with pytest.raises(Stop):
            ctx.Process(target=abs, args=(-1,)).start()
        made = set(Path("/dev/shm").glob(mine)) - before
    rec.finalize()
    assert made == set()
    assert not [e for e in rec.take() if e.worker.startswith(("PoolWorker", "Process"))]


@pytest.mark.usefixtures("no_children_left")
def test_a_child_gets_its_arguments_and_knows_itself_by_its_lanes_name() -> None:
    rec = Recorder()
    with bind(rec, "main", LaneKind.MAIN):
        ctx = multiprocessing.get_context("forkserver")
        proc = ctx.Process(target=say_who, args=(1,), kwargs={"second": 2})
        proc.start()
        proc.join()
        named = ctx.Process(target=say_who, args=(3,), name="producer")
        named.start()
        named.join()
    rec.finalize()
    events = rec.take()
    said = {e.worker: e.detail for e in events if e.kind is Kind.PRINT}
    assert said == {"Process-1": "Process-1 1 2", "producer": "producer 3 0"}


@pytest.mark.usefixtures("no_children_left")
def test_a_pool_worker_knows_itself_by_its_lanes_name() -> None:
    rec = Recorder()
    with bind(rec, "main", LaneKind.MAIN), multiprocessing.get_context("forkserver").Pool(1) as pool:
        assert pool.map(who_am_i, [7]) == ["PoolWorker-1 7"]
    rec.finalize()


def test_a_pool_of_one_process_is_a_pool_and_of_none_is_an_error() -> None:
    rec = Recorder()
    with bind(rec, "main", LaneKind.MAIN):
        ctx = multiprocessing.get_context("forkserver")
        with pytest.raises(ValueError, match="at least 1"):
            ctx.Pool(0)
        with ctx.Pool(1) as pool:
            assert pool.map(abs, [-1, -2]) == [1, 2]
    rec.finalize()


@pytest.mark.usefixtures("no_children_left")
def test_joining_a_child_costs_the_parent_no_cpu_while_it_waits() -> None:
    """`join` sleeps until the child exits (in slices, to see a stop), not a busy loop
    that would take a core from the lesson it is drawing."""
    rec = Recorder()
    with bind(rec, "main", LaneKind.MAIN):
        proc = multiprocessing.get_context("forkserver").Process(target=std_time.sleep, args=(0.5,))
        proc.start()
        cpu = std_time.thread_time()
        proc.join()
        cpu = std_time.thread_time() - cpu
    rec.finalize()
    assert cpu < 0.1  # a loop polling the exit code would use most of the 0.5 s


# A server (here a bare interpreter) that exits, or dies, while its run's processes
# still run: multiprocessing ends daemonic children at exit, but would wait forever
# for the others.
EXIT_WITH_PROCESSES_RUNNING = """
from app.timeline import LaneKind
from app.traced import multiprocessing, time
from app.tracing import Recorder, bind
rec = Recorder()
with bind(rec, "main", LaneKind.MAIN):
    ctx = multiprocessing.get_context("forkserver")
    proc = ctx.Process(target=time.sleep, args=(60,))
    proc.start()
    pool = ctx.Pool(1)
    assert pool.map(abs, [-1]) == [1]  # its worker is up
    seen = []
    while not any(e.worker == "Process-1" and e.kind == "run" for e in seen):  # so is the child
        seen += rec.take()
        time.sleep(0.01)
    print(proc.pid, flush=True)
"""


def test_the_server_exits_even_while_a_runs_processes_are_still_running() -> None:
    ran = subprocess.run(
        [sys.executable, "-c", EXIT_WITH_PROCESSES_RUNNING],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=30,  # the child would sleep 60 s, the pool's worker wait forever
    )
    assert ran.returncode == 0, ran.stderr
    assert not alive(int(ran.stdout))


# --- Pool ------------------------------------------------------------------------------
def chunks(events: list[Event], lane: str) -> list[list[str]]:
    """The tasks `lane` ran, grouped by the chunk they came in (a worker waits on
    "tasks" between chunks)."""
    grouped: list[list[str]] = []
    for e in events:
        if e.worker == lane and e.kind is Kind.WAIT and e.obj == "tasks":
            grouped.append([])
        elif e.worker == lane and e.kind is Kind.RUN and e.obj:
            grouped[-1].append(e.obj)
    return [chunk for chunk in grouped if chunk]


@pytest.mark.usefixtures("no_children_left")
def test_pool_map_hands_out_its_input_in_chunks_as_the_standard_pool_does() -> None:
    rec = Recorder()
    with bind(rec, "main", LaneKind.MAIN):
        ctx = multiprocessing.get_context("forkserver")
        with ctx.Pool(1) as pool:
            assert pool.map(abs, [-1, -2, -3, -4, -5], chunksize=2) == [1, 2, 3, 4, 5]
            assert pool.map(abs, [-6, -7], chunksize=1) == [6, 7]
        with ctx.Pool(2) as pool:  # by default about four chunks a worker: here 10 // 8, rounded up
            assert pool.map(abs, range(10)) == list(range(10))
        with ctx.Pool(1) as pool:  # 8 // 4, nothing to round
            assert pool.map(abs, range(8)) == list(range(8))
    rec.finalize()
    events = rec.take()
    assert chunks(events, "PoolWorker-1") == [
        *[["abs(-1)", "abs(-2)"], ["abs(-3)", "abs(-4)"], ["abs(-5)"]],
        *[["abs(-6)"], ["abs(-7)"]],
    ]
    default = chunks(events, "PoolWorker-2") + chunks(events, "PoolWorker-3")
    assert sorted(len(chunk) for chunk in default) == [2] * 5
    assert [len(chunk) for chunk in chunks(events, "PoolWorker-4")] == [2] * 4


@pytest.mark.usefixtures("no_children_left")
def test_pool_map_and_join_are_drawn_as_waits_that_end() -> None:
    rec = Recorder()
    with bind(rec, "main", LaneKind.MAIN):
        pool = multiprocessing.get_context("forkserver").Pool(2)
        assert pool.map(abs, [-1, -2]) == [1, 2]
        with pytest.raises(ValueError, match="still running"):
            pool.join()  # the standard Pool's rule: close (or terminate) first
        pool.close()
        pool.join()
    rec.finalize()
    events = rec.take()
    main = [(e.kind, e.obj) for e in events if e.worker == "main" and e.obj in ("pool.map", "pool.join")]
    assert main == [
        (Kind.WAIT, "pool.map"),
        (Kind.RUN, "pool.map"),
        (Kind.WAIT, "pool.join"),
        (Kind.RUN, "pool.join"),
    ]
    # closed, the workers finished by themselves: nobody had to end them
    ends = {
        e.worker: (e.kind, e.detail) for e in events if e.worker.startswith("PoolWorker") and e.kind in FINAL
    }
    assert ends == {"PoolWorker-1": (Kind.DONE, None), "PoolWorker-2": (Kind.DONE, None)}
    assert rec.stop_reason is None


@pytest.mark.usefixtures("no_children_left")
def test_leaving_a_pools_with_block_terminates_its_workers_as_the_standard_one_does() -> None:
    rec = Recorder()
    with bind(rec, "main", LaneKind.MAIN), multiprocessing.get_context("forkserver").Pool(2) as pool:
        assert pool.map(abs, [-1, -2]) == [1, 2]
    rec.finalize()
    events = rec.take()
    ends = {e.worker: (e.kind, e.detail) for e in events if e.kind in FINAL}
    terminated = (Kind.DONE, "ended by the parent: killed by signal SIGTERM (exit code -15)")
    assert ends["PoolWorker-1"] == ends["PoolWorker-2"] == terminated
    # main waited for them to exit, and the lanes say so
    terminating = [e.kind for e in events if e.worker == "main" and e.obj == "pool.terminate"]
    assert terminating == [Kind.WAIT, Kind.RUN]
    assert rec.stop_reason is None  # the run's end found no process to stop


@contextmanager
def a_pool_with_an_idle_worker(rec: Recorder, *, mapped_once: bool = True) -> Iterator[tuple[Any, int]]:
    """A traced Pool(2) of a run bound to main, which has mapped once unless told
    otherwise: the pool, and the pid of one of its workers, idle. Bounded: a pool that
    lost a task for good would wait forever, so the run is stopped after 20 s."""
    with bind(rec, "main", LaneKind.MAIN):
        stopper = std_threading.Timer(20, rec.stop, args=("the pool never finished",))
        stopper.start()
        try:
            before = children()
            with multiprocessing.get_context("forkserver").Pool(2) as pool:
                if mapped_once:
                    assert pool.map(abs, [-1, -2]) == [1, 2]
                yield pool, min(children() - before)
        finally:
            stopper.cancel()


def lost_tasks(events: list[Event]) -> list[Event]:
    return [e for e in events if e.kind is Kind.MARK and e.obj == "lost task"]


@pytest.mark.usefixtures("no_children_left")
def test_a_pool_replaces_a_worker_that_died_between_tasks() -> None:
    rec = Recorder()
    with a_pool_with_an_idle_worker(rec) as (pool, idle):
        os.kill(idle, signal.SIGKILL)
        # Until the OS has told the parent (for a forkserver child: until the forkserver
        # has reaped it and reported its exit), the dead worker looks alive, and map
        # could finish on the other worker before it knew; the pool replaces a worker
        # it knows is dead at its next look.
        wait_until(
            lambda: idle not in {p.pid for p in std_multiprocessing.active_children()},
            timeout=10,
            what="the parent to know the worker died",
        )
        assert pool.map(abs, [-3, -4, -5, -6]) == [3, 4, 5, 6]
    rec.finalize()
    events = rec.take()
    # (Whether the new worker gets a chunk before the one left computes them all is
    # up to the OS: it must be started, and map must finish.)
    replacement = [e.kind for e in events if e.worker == "PoolWorker-3"]
    assert replacement[:1] == [Kind.START], "no worker took PoolWorker-1's place"
    assert not lost_tasks(events)  # it held none


@pytest.mark.usefixtures("no_children_left")
@pytest.mark.parametrize("mapped_once", [True, False], ids=["after-a-first-chunk", "before-any"])
def test_a_chunk_sent_to_a_worker_that_dies_before_taking_it_is_computed_by_another(
    mapped_once: bool,
) -> None:
    """A worker can die idle with a chunk already on its pipe (sent just before it
    died, or while it was frozen): it never took it, so, like a task still in the
    standard Pool's queue, another worker computes it. Only a chunk a worker took is
    lost with it. The same for a worker that has not had a chunk yet."""
    rec = Recorder()
    with a_pool_with_an_idle_worker(rec, mapped_once=mapped_once) as (pool, frozen):
        os.kill(frozen, signal.SIGSTOP)  # it takes nothing more
        # Killed while map waits for the chunk sent to it (whenever the kill comes,
        # the chunk must be computed).
        killer = std_threading.Timer(0.5, os.kill, args=(frozen, signal.SIGKILL))
        killer.start()
        try:
            assert pool.map(abs, [-3, -4, -5, -6]) == [3, 4, 5, 6]
        finally:
            killer.join()
    rec.finalize()
    assert not lost_tasks(rec.take())


def test_a_stopped_run_hands_out_no_more_tasks() -> None:
    rec = Recorder()
    with bind(rec, "main", LaneKind.MAIN):
        ctx = multiprocessing.get_context("forkserver")
        pool, executor = ctx.Pool(1), ctx.ProcessPoolExecutor(1)
        rec.stop("stopped by a test")
        with pytest.raises(Stop):
            pool.map(abs, [-1])
        with pytest.raises(Stop):
            executor.submit(abs, -1)
        with pytest.raises(Stop):
            ctx.ProcessPoolExecutor(1)
    rec.finalize()
    assert not [e for e in rec.take() if e.kind is Kind.RUN and str(e.obj).startswith("abs(")]


# --- ProcessPoolExecutor -------------------------------------------------------------
def objects_of(events: list[Event], lane: str, *objects: str) -> list[tuple[Kind, str]]:
    return [(e.kind, e.obj) for e in events if e.worker == lane and e.obj in objects]


@pytest.mark.usefixtures("no_children_left")
def test_leaving_an_executors_with_block_runs_every_task_submitted_then_waits_for_the_workers() -> None:
    """As the standard executor: `shutdown(wait=True)` lets the tasks already submitted
    finish (none is cancelled), and main is drawn waiting while the workers exit."""
    rec = Recorder()
    with bind(rec, "main", LaneKind.MAIN):
        with multiprocessing.get_context("forkserver").ProcessPoolExecutor(1) as executor:
            futures = [executor.submit(std_time.sleep, 0.05) for _ in range(4)]
        assert [future.cancelled() for future in futures] == [False] * 4
        assert all(future.done() and future.result() is None for future in futures)
    rec.finalize()
    events = rec.take()
    assert objects_of(events, "main", "executor.shutdown") == [
        (Kind.WAIT, "executor.shutdown"),
        (Kind.RUN, "executor.shutdown"),
    ]
    [waited] = [
        e for e in events if e.worker == "main" and e.obj == "executor.shutdown" and e.kind is Kind.WAIT
    ]
    [worker_end] = [e for e in events if e.worker == "PoolWorker-1" and e.kind in FINAL]
    assert (worker_end.kind, worker_end.detail) == (Kind.DONE, None)  # it exited by itself
    assert rec.lane_cpu["PoolWorker-1"] > 0  # and its last message said its lane's CPU time
    assert waited.t_ns < worker_end.t_ns  # main waited while it exited


@pytest.mark.usefixtures("no_children_left")
def test_waiting_for_a_futures_result_is_drawn_and_a_stop_ends_it() -> None:
    rec = Recorder(stop_grace_s=0.3)
    with bind(rec, "main", LaneKind.MAIN):
        executor = multiprocessing.get_context("forkserver").ProcessPoolExecutor(1)
        assert list(executor.map(abs, [-1, -2])) == [1, 2]
        executor.submit(abs, -3).result(timeout=30)  # the worker is up: what follows waits on the task alone
        never = executor.submit(std_time.sleep, 60)
        std_threading.Timer(0.3, rec.stop, args=("stopped by a test",)).start()
        began = std_time.monotonic()
        with pytest.raises(Stop):
            multiprocessing.result_of(never)
        assert std_time.monotonic() - began < 10  # at the stop, not when the task ends
    rec.finalize()
    events = rec.take()
    assert objects_of(events, "main", "future")[:2] == [(Kind.WAIT, "future"), (Kind.RUN, "future")]


@pytest.mark.usefixtures("no_children_left")
def test_main_is_drawn_asking_the_os_while_it_starts_processes() -> None:
    rec = Recorder()
    with bind(rec, "main", LaneKind.MAIN):
        ctx = multiprocessing.get_context("forkserver")
        proc = ctx.Process(target=abs, args=(-1,))
        proc.start()
        proc.join()
    rec.finalize()
    main = [(e.kind, e.obj) for e in rec.take() if e.worker == "main"]
    started = main.index((Kind.IO, "start Process-1"))
    assert main[started + 1] == (Kind.RUN, "")


def map_until_stopped(rec: Recorder, meanwhile: Callable[[], None]) -> float:
    """`Pool(1).map(time.sleep, [60])` on main (untraced: the worker sleeps on through
    a stop) while `meanwhile` runs in a thread of its own and stops the run: the
    seconds map took to end with `Stop`."""
    helper = std_threading.Thread(target=meanwhile)
    with bind(rec, "main", LaneKind.MAIN):
        pool = multiprocessing.get_context("forkserver").Pool(1)
        helper.start()
        began = std_time.monotonic()
        with pytest.raises(Stop):
            pool.map(std_time.sleep, [60])
        stopped_after = std_time.monotonic() - began
    helper.join()
    rec.finalize()  # the hub ends the worker after the grace period
    return stopped_after


def seen_by(rec: Recorder, seen: list[Event], predicate: Callable[[Event], bool]) -> Callable[[], bool]:
    """For `wait_until`: has an event matching `predicate` been recorded? (Keeps
    everything taken from `rec` in `seen`.)"""

    def check() -> bool:
        seen.extend(rec.take())
        return any(predicate(e) for e in seen)

    return check


def computing_the_task(e: Event) -> bool:
    return e.worker == "PoolWorker-1" and e.obj == "sleep(60)"


@pytest.mark.usefixtures("no_children_left")
def test_a_pool_worker_killed_mid_task_is_drawn_dead_at_once_and_a_stop_ends_the_wait_for_its_task() -> None:
    """The standard Pool.map waits forever for a task whose worker died; here a stop
    ends that wait. Until then the lanes tell what happened as it happens: the worker's
    lane ends when it dies (not at the run's end), main's lane says the task is lost."""
    rec = Recorder(stop_grace_s=5)
    seen: list[Event] = []

    def kill_it_mid_task_then_stop() -> None:
        wait_until(seen_by(rec, seen, computing_the_task), timeout=30, what="the task")
        pid = next(int(str(e.detail)[4:]) for e in seen if e.worker == "PoolWorker-1" and e.kind is Kind.RUN)
        os.kill(pid, signal.SIGKILL)
        died = seen_by(rec, seen, lambda e: e.worker == "PoolWorker-1" and e.kind is Kind.CRASH)
        wait_until(died, timeout=10, what="its end")
        # Main notices the death on its own next look at the pool, which under load can
        # come after the drain has drawn it: a stop before then would end the wait first.
        lost = seen_by(rec, seen, lambda e: e.kind is Kind.MARK and e.obj == "lost task")
        wait_until(lost, timeout=10, what="main saying the task is lost")
        rec.stop("stopped by a test")

    stopped_after = map_until_stopped(rec, kill_it_mid_task_then_stop)
    seen.extend(rec.take())
    [end] = [e for e in seen if e.worker == "PoolWorker-1" and e.kind in FINAL]
    assert (end.kind, end.detail) == (Kind.CRASH, "killed by signal SIGKILL (exit code -9)")
    assert [e.obj for e in seen if e.kind is Kind.MARK] == ["lost task"]
    assert stopped_after < 4  # at the stop: not when the hub ends what is left, 5 s later


@pytest.mark.usefixtures("no_children_left")
def test_a_stop_ends_pool_map_at_once_while_its_worker_computes_where_it_cannot_see_the_stop() -> None:
    rec = Recorder(stop_grace_s=3)
    seen: list[Event] = []

    def stop_mid_task() -> None:
        wait_until(seen_by(rec, seen, computing_the_task), timeout=30, what="the task")
        rec.stop("stopped by a test")

    assert (
        map_until_stopped(rec, stop_mid_task) < 2
    )  # main saw the stop itself, before the hub ended the worker


@pytest.mark.usefixtures("no_children_left")
def test_an_executor_workers_lane_waits_for_tasks_and_tells_how_long_a_queued_task_was_on_its_way() -> None:
    """The executor pickles a task as it queues it for the workers, ahead of time: the
    second task here was pickled while the only worker still computed the first, and
    its label says how long it then waited to be unpickled."""
    rec = Recorder()
    ctx = multiprocessing.get_context
    with bind(rec, "main", LaneKind.MAIN), ctx("forkserver").ProcessPoolExecutor(1) as executor:
        first, second = executor.submit(std_time.sleep, 0.3), executor.submit(abs, -1)
        assert (first.result(timeout=30), second.result(timeout=30)) == (None, 1)
    rec.finalize()
    worker = [e for e in rec.take() if e.worker == "PoolWorker-1" and e.kind is not Kind.GIL]
    assert [e.kind for e in worker[:3]] == [Kind.START, Kind.RUN, Kind.WAIT]  # started, then waits for tasks
    assert worker[2].obj == "tasks"
    [queued] = [e for e in worker if e.kind is Kind.RUN and e.obj == "abs(-1)"]
    transit_ms = float(str(queued.detail).removeprefix("abs(-1): pickled by the parent ").split(" ms")[0])
    assert 200 <= transit_ms < 10_000  # ~300 ms: the first task's sleep
    assert (worker[-1].kind, worker[-1].detail) == (Kind.DONE, None)


@pytest.mark.usefixtures("no_children_left")
def test_an_idle_pool_worker_sees_a_stop_at_once() -> None:
    """A worker waiting for its next chunk looks at the run's stop flag every
    `child.POLL_S`: a stop ends it well inside the grace period, by itself."""
    rec = Recorder(stop_grace_s=30)
    seen: list[Event] = []
    with bind(rec, "main", LaneKind.MAIN):
        pool = multiprocessing.get_context("forkserver").Pool(1)
        assert pool.map(abs, [-1]) == [1]
        wait_until(seen_by(rec, seen, lambda e: e.worker == "PoolWorker-1" and e.obj == "tasks"), timeout=10)
        stopped = std_time.monotonic()
        rec.stop("stopped by a test")
        ended = seen_by(rec, seen, lambda e: e.worker == "PoolWorker-1" and e.kind in FINAL)
        wait_until(ended, timeout=10, what="the worker to end")
        took = std_time.monotonic() - stopped
    rec.finalize()
    [end] = [e for e in seen if e.worker == "PoolWorker-1" and e.kind in FINAL]
    assert (end.kind, end.detail) == (Kind.DONE, "stopped: the run was stopped")
    assert took < 0.4  # a look every 50 ms, then its last batch (the grace is 30 s)


@pytest.mark.usefixtures("no_children_left")
def test_pool_map_raises_the_first_error_a_task_raised() -> None:
    rec = Recorder()
    with bind(rec, "main", LaneKind.MAIN), multiprocessing.get_context("forkserver").Pool(2) as pool:
        with pytest.raises(ValueError, match="invalid literal"):
            pool.map(int, ["1", "x", "3"])
        assert pool.map(int, ["4"]) == [4]  # the pool goes on
        pool.close()
        pool.join()
    rec.finalize()
    assert rec.lane_cpu["PoolWorker-1"] > 0  # each worker's last message said its lane's CPU time


def idle_between_tasks(events: list[Event], lane: str, first: str, second: str) -> list[Event]:
    """`lane`'s events after the result of task `first` and before task `second` ran."""
    mine = [e for e in events if e.worker == lane]
    start = next(i for i, e in enumerate(mine) if e.kind is Kind.RESULT and e.obj == first)
    end = next(i for i, e in enumerate(mine) if e.kind is Kind.RUN and e.obj == second)
    return mine[start + 1 : end]


@pytest.mark.usefixtures("no_children_left")
def test_idle_workers_are_drawn_waiting_for_tasks_not_for_a_core() -> None:
    """Between tasks a worker is blocked (on its pipe, or the executor's queue): the
    sampler must not draw that time as waiting for a CPU core or the interpreter.
    (Before and after that wait it may truly wait for a core, on a busy machine.)"""
    rec = Recorder()
    with bind(rec, "main", LaneKind.MAIN):
        ctx = multiprocessing.get_context("forkserver")
        with ctx.Pool(1) as pool, ctx.ProcessPoolExecutor(1) as executor:
            assert pool.map(abs, [-1]) == [1]
            assert executor.submit(abs, -1).result(timeout=30) == 1
            std_time.sleep(0.3)  # both workers idle
            assert pool.map(abs, [-2]) == [2]
            assert executor.submit(abs, -2).result(timeout=30) == 2
    rec.finalize()
    events = rec.take()
    for worker in ("PoolWorker-1", "PoolWorker-2"):
        idle = idle_between_tasks(events, worker, "abs(-1)", "abs(-2)")
        [waiting] = [i for i, e in enumerate(idle) if e.kind is Kind.WAIT]
        assert idle[waiting].obj == "tasks", idle
        assert waiting + 1 == len(idle) or idle[waiting + 1].kind is Kind.RUN, idle  # nothing drawn inside it


@pytest.mark.usefixtures("no_children_left")
def test_a_task_that_reaches_a_worker_after_the_stop_is_not_run() -> None:
    rec = Recorder(stop_grace_s=2)  # the first task's 0.3 s fit in it
    with bind(rec, "main", LaneKind.MAIN):
        executor = multiprocessing.get_context("forkserver").ProcessPoolExecutor(1)
        executor.submit(abs, -1).result(timeout=30)  # the worker is up
        first, second = executor.submit(std_time.sleep, 0.3), executor.submit(abs, -2)
        seen: list[Event] = []
        wait_until(seen_by(rec, seen, lambda e: e.obj == "sleep(0.3)"), timeout=30, what="the first task")
        rec.stop("stopped by a test")  # the second is queued behind the first, already pickled
        assert first.result(timeout=30) is None  # an untraced sleep: it ran on
        with pytest.raises(StoppedTask, match="the run was stopped"):
            second.result(timeout=30)
    rec.finalize()
    assert not [e for e in seen + rec.take() if e.obj == "abs(-2)"]


def compute(seconds: float) -> float:
    """CPU-bound work for `seconds` of this process's CPU time (untraced)."""
    until = std_time.process_time() + seconds
    while std_time.process_time() < until:
        pass
    return seconds


@pytest.mark.usefixtures("no_children_left")
def test_pool_workers_that_outnumber_the_cores_are_drawn_waiting_for_one() -> None:
    """The pool lesson's point about cores: with more workers computing than cores,
    each worker's lane shows the time it waited for a core (sampled in the worker)."""
    workers = len(os.sched_getaffinity(0)) + 2
    rec = Recorder()
    with bind(rec, "main", LaneKind.MAIN), multiprocessing.get_context("forkserver").Pool(workers) as pool:
        assert pool.map(compute, [0.3] * workers, chunksize=1) == [0.3] * workers
        pool.close()
        pool.join()
    rec.finalize()
    waits = [
        e for e in rec.take() if e.worker.startswith("PoolWorker") and e.kind is Kind.GIL and e.obj == "CPU"
    ]
    assert waits, "no worker drawn waiting for a core"


@pytest.mark.usefixtures("no_children_left")
def test_executor_shutdown_waits_by_default_and_cancels_what_has_not_started_when_asked() -> None:
    rec = Recorder()
    seen: list[Event] = []
    with bind(rec, "main", LaneKind.MAIN):
        executor = multiprocessing.get_context("forkserver").ProcessPoolExecutor(1)
        futures = [executor.submit(std_time.sleep, 0.3)] + [executor.submit(abs, -i) for i in range(1, 5)]
        wait_until(seen_by(rec, seen, lambda e: e.obj == "sleep(0.3)"), timeout=30, what="the first task")
        executor.shutdown(cancel_futures=True)  # as the standard one: wait=True by default
        assert all(future.done() for future in futures)
    rec.finalize()
    assert futures[-1].cancelled()  # queued behind the first: never started
    assert objects_of(seen + rec.take(), "main", "executor.shutdown") == [
        (Kind.WAIT, "executor.shutdown"),
        (Kind.RUN, "executor.shutdown"),
    ]


@pytest.mark.usefixtures("no_children_left")
def test_waiting_for_a_future_costs_main_no_cpu_and_the_run_leaves_no_executor_thread() -> None:
    """main sleeps while a task computes (in slices, to see a stop), and an executor
    the program never shut down is shut down by the run's end, its threads joined."""
    rec = Recorder(stop_grace_s=0.3)  # its idle worker is ended at the run's end
    before = set(std_threading.enumerate())
    with bind(rec, "main", LaneKind.MAIN):
        executor = multiprocessing.get_context("forkserver").ProcessPoolExecutor(1)
        executor.submit(abs, -1).result(timeout=30)  # the worker is up
        slow = executor.submit(std_time.sleep, 0.5)
        cpu = std_time.thread_time()
        multiprocessing.result_of(slow)
        cpu = std_time.thread_time() - cpu
    rec.finalize()
    assert cpu < 0.1  # a loop polling the future would use most of the 0.5 s
    assert [t.name for t in set(std_threading.enumerate()) - before if t.is_alive()] == []


@pytest.mark.usefixtures("no_children_left")
def test_pool_join_reaps_its_workers() -> None:
    """Spawned workers are this process's own children: once `join` returns they are
    gone, not zombies waiting for the run's end."""
    rec = Recorder()
    with bind(rec, "main", LaneKind.MAIN):
        before = children()
        pool = multiprocessing.get_context("spawn").Pool(1)
        assert pool.map(abs, [-1]) == [1]
        workers = children() - before
        pool.close()
        pool.join()
        left = {pid: state(pid) for pid in workers}
    rec.finalize()
    assert len(workers) == 1
    assert left == dict.fromkeys(workers, "")  # reaped: no longer in /proc at all


@pytest.mark.usefixtures("no_children_left")
def test_an_executor_worker_that_dies_is_drawn_dead_while_the_run_goes_on() -> None:
    rec = Recorder()
    seen: list[Event] = []
    with bind(rec, "main", LaneKind.MAIN):
        executor = multiprocessing.get_context("forkserver").ProcessPoolExecutor(1)
        with pytest.raises(BrokenProcessPool):
            executor.submit(os._exit, 3).result(timeout=30)
        # its pipe closed with it: the parent tells its story now, not at the run's end
        died = seen_by(rec, seen, lambda e: e.worker == "PoolWorker-1" and e.kind is Kind.CRASH)
        wait_until(died, timeout=10, what="the dead worker's lane to end")
        executor.shutdown()
    rec.finalize()
    [end] = [e for e in seen if e.worker == "PoolWorker-1" and e.kind is Kind.CRASH]
    assert end.detail == "exited with code 3 without reporting"
