"""The traced `multiprocessing` context keeps the promises of the standard one that a
lesson's code relies on: its defaults, its names, its arguments, what a child sees of
itself, and that a run's processes never keep the server from exiting."""

from __future__ import annotations

import multiprocessing as std_multiprocessing
import os
import subprocess
import sys
import time as std_time
from pathlib import Path

import pytest

from app.timeline import Kind, LaneKind
from app.traced import multiprocessing
from app.traced import print as traced_print
from app.tracing import Recorder, Stop, bind
from tests.proc_helpers import alive, children

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


def test_a_stopped_run_makes_no_new_pool_or_shared_memory_block() -> None:
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
        made = set(Path("/dev/shm").glob(mine)) - before
    rec.finalize()
    assert made == set()
    assert not [e for e in rec.take() if e.worker.startswith("PoolWorker")]


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
