"""Traced `multiprocessing`: real processes, drawn on the same lanes as threads.

Scenario code reads like the tutorial::

    mp = multiprocessing.get_context("forkserver")
    procs = [mp.Process(target=print_numbers) for _ in range(3)]
    with mp.Pool(4) as pool: ...

Structure (the parent's side; children import only `child`, `ipc`, `shared_memory`):
- `get_context(method)` returns a `Context` bound to the run's `Hub`
  (`app.traced.supervisor`), which owns every process the run starts, ships their
  events into the run's recorder and ends them all when the run ends.
- `Process`, `Pool` and `ProcessPoolExecutor` draw one lane per process.
- The picklable IPC wrappers (`Queue`, `Pipe` ends, `Lock`, `Value`, `Array`) live in
  `app.traced.ipc`, `SharedMemory` in `app.traced.shared_memory`.

Start methods: spawn and forkserver only. Plain fork from the multi-threaded server
is unsafe (a child may inherit a lock held by another thread) and forkserver is fork
done right: forks from a single-threaded helper that preloaded the light modules.
"""

from __future__ import annotations

import contextlib
import os
import secrets
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent import futures as _futures
from concurrent.futures import process as _futures_process
from contextlib import contextmanager
from dataclasses import dataclass
from functools import partial
from multiprocessing import connection as _connection
from multiprocessing import shared_memory as _shared_memory
from multiprocessing.process import BaseProcess
from types import TracebackType
from typing import Any

from app.timeline import Kind, LaneKind, joining
from app.traced import child
from app.traced.ipc import Array, Connection, Queue, SharedLock, Value
from app.traced.shared_memory import SharedMemory, SharedView
from app.traced.supervisor import START_METHODS, Hub, describe_exit, run_context, wait_all_exited, warm_up
from app.traced.threading import wait_in_slices
from app.tracing import LimitExceeded, Stop, here

BrokenProcessPool = _futures_process.BrokenProcessPool
SHARED_MEMORY_PREFIX = "interleave_"


def get_context(method: str = "forkserver") -> Context:
    """The run's process context for `method` (spawn or forkserver)."""
    rec, _ = here()
    return Context(Hub.of(rec, method))


class Context:
    """`multiprocessing.get_context()`'s traced twin, bound to one run."""

    def __init__(self, hub: Hub) -> None:
        self._hub = hub

    def get_start_method(self) -> str:
        return self._hub.method

    def Process(
        self,
        target: Callable[..., object],
        args: Iterable[Any] = (),
        kwargs: dict[str, Any] | None = None,
        name: str | None = None,
    ) -> Process:
        return Process(self._hub, target, tuple(args), kwargs or {}, name)

    def Pool(self, processes: int) -> Pool:
        return Pool(self._hub, processes)

    def ProcessPoolExecutor(self, max_workers: int) -> ProcessPoolExecutor:
        return ProcessPoolExecutor(self._hub, max_workers)

    def Queue(self, maxsize: int = 0, *, name: str | None = None) -> Queue:
        rec, _ = here()
        return Queue(self._hub.ctx.Queue(maxsize), name or rec.new_name("Queue"))

    def Pipe(self, *, name: str | None = None) -> tuple[Connection, Connection]:
        rec, _ = here()
        reading, writing = self._hub.ctx.Pipe(duplex=False)
        pipe = name or rec.new_name("Pipe")
        return Connection(reading, pipe), Connection(writing, pipe)

    def Value(self, typecode: str, value: int = 0, *, name: str | None = None) -> Value:
        rec, _ = here()
        return Value(self._hub.ctx.Value(typecode, value), name or rec.new_name("Value"))

    def Array(self, typecode: str, size: int, *, name: str | None = None) -> Array:
        rec, _ = here()
        return Array(self._hub.ctx.Array(typecode, size), name or rec.new_name("Array"))

    def Lock(self, *, name: str | None = None) -> SharedLock:
        rec, _ = here()
        return SharedLock(self._hub.ctx.Lock(), name or rec.new_name("Lock"))

    def SharedMemory(
        self, name: str | None = None, create: bool = False, size: int = 0, *, label: str | None = None
    ) -> SharedMemory:
        """`multiprocessing.shared_memory.SharedMemory(name, create, size)` (same
        arguments; `label` names it on the lanes). Offered by the context because the
        run owns what it creates: a block created here is closed and unlinked when the
        run ends, after its children, even if the program forgot or was stopped.
        A block created without a name is named after this server process
        (`interleave_<pid>_<random>` in /dev/shm), so an operator can tell whose it is."""
        rec, _ = here()
        rec.check()
        if create and name is None:
            name = f"{SHARED_MEMORY_PREFIX}{os.getpid()}_{secrets.token_hex(4)}"
        block = SharedMemory(
            _shared_memory.SharedMemory(name, create, size), label or rec.new_name("SharedMemory")
        )
        if create:
            self._hub.on_close(block.release_block)
        return block


class Process:
    """`multiprocessing.Process` that draws a lane: `start` from just before the
    parent starts it until the child's first line runs (interpreter start-up
    included), then the child's own events, then `done` or `crash`."""

    def __init__(
        self,
        hub: Hub,
        target: Callable[..., object],
        args: tuple[Any, ...] = (),
        kwargs: dict[str, Any] | None = None,
        name: str | None = None,
    ) -> None:
        rec, _ = here()
        self._hub = hub
        self.name = rec.new_lane("Process", name)
        self._chan, self._writer = hub.channel(self.name)
        # Daemonic: if the server itself dies, multiprocessing's atexit ends these.
        self._process: BaseProcess = hub.ctx.Process(
            target=child.process_main,
            args=(self.name, self._writer, hub.stop_flag, rec.t0_ns, target, args, kwargs or {}),
            name=self.name,
            daemon=True,
        )
        self._chan.process = self._process

    def start(self) -> None:
        rec, _ = here()
        rec.check()
        self._hub.started(self.name, LaneKind.PROCESS)
        with asking_the_os(f"start {self.name}"):
            self._process.start()
        self._writer.close()  # the child has its copy; ours would hide its exit (EOF)

    def join(self, timeout: float | None = None) -> None:
        rec, me = here()
        obj = joining(self.name)
        waited = self._process.exitcode is None
        ends = lambda s: exited(self._process, s)  # noqa: E731
        if waited and not wait_in_slices(rec, me, obj, ends, timeout, can_deadlock=False):
            return
        # Its last batch (or the parent's verdict on a silent death) lands first.
        self._hub.wait_closed(self._chan, 1.0)
        if waited:
            rec.emit(me, Kind.RUN, obj, link=self.name)

    @property
    def exitcode(self) -> int | None:
        return self._process.exitcode

    @property
    def pid(self) -> int | None:
        return self._process.pid

    def is_alive(self) -> bool:
        return self._process.is_alive()

    def terminate(self) -> None:
        self._hub.end(self._process, self._process.terminate)

    def kill(self) -> None:
        self._hub.end(self._process, self._process.kill)


def exited(process: BaseProcess, wait_s: float) -> bool:
    """Wait up to `wait_s` for `process` to exit: has it?"""
    process.join(wait_s)
    return process.exitcode is not None


@dataclass
class _Worker:
    """One process of a traced `Pool`: its lane, and the pipe it takes chunks on."""

    lane: str
    process: BaseProcess
    tasks: Any  # the parent's end of a duplex multiprocessing Connection
    chunk: tuple[int, list[Any]] | None = None  # (first index, items) sent to it
    took: bool = False  # it said it took `chunk`: if it dies now, the chunk is lost


class Pool:
    """`multiprocessing.Pool`: one `pool-worker` lane per process, each task a `run`
    segment labelled with its input, `wait` on "tasks" between them.

    Built on traced processes with one duplex pipe per worker, not on the standard
    Pool: that one cannot always be ended (a worker killed while it holds the task
    queue's lock leaves `terminate()` waiting forever), and a run must always end.
    It keeps what the lessons show of the standard one: `map` splits the input into
    chunks (the same default chunksize), each idle worker takes the next chunk,
    results come back in input order, map raises the first task error, and a worker
    that dies is replaced while the chunk it held is lost, so `map` waits for it
    forever (here: until the run is stopped), as the real one does.
    Offered: `map`, `close`, `join`, `terminate` and `with`.
    """

    def __init__(self, hub: Hub, processes: int) -> None:
        rec, _ = here()
        rec.check()
        if processes < 1:
            raise ValueError("Number of processes must be at least 1")
        self._hub = hub
        self._state = "running"
        with asking_the_os("start pool"):
            self._workers = [self._start_worker() for _ in range(processes)]

    def _start_worker(self) -> _Worker:
        rec, _ = here()
        lane = rec.new_lane("PoolWorker")
        chan, events = self._hub.channel(lane)
        mine, theirs = self._hub.ctx.Pipe(duplex=True)
        process = self._hub.ctx.Process(
            target=child.pool_worker_main,
            args=(lane, events, theirs, self._hub.stop_flag, rec.t0_ns),
            name=lane,
            daemon=True,
        )
        chan.process = process
        self._hub.started(lane, LaneKind.POOL_WORKER)
        process.start()
        events.close()  # the child has its copies; ours would hide its exit
        theirs.close()
        return _Worker(lane, process, mine)

    def map(
        self, func: Callable[[Any], Any], iterable: Iterable[Any], chunksize: int | None = None
    ) -> list[Any]:
        """`Pool.map`; the caller's lane waits on "pool.map" until every result is back."""
        rec, me = here()
        rec.check()
        if self._state != "running":
            raise ValueError("Pool not running")
        items = list(iterable)
        if chunksize is None:  # the standard Pool's default: about four chunks per worker
            chunksize, extra = divmod(len(items), len(self._workers) * 4)
            chunksize += 1 if extra else 0
        chunksize = max(1, chunksize)
        pending = deque(
            (first, items[first : first + chunksize]) for first in range(0, len(items), chunksize)
        )
        task = child.Task(func, name_of(func))
        results: list[Any] = [None] * len(items)
        errors: list[BaseException] = []
        left = len(pending)

        def attempt(slice_s: float) -> bool:
            nonlocal left
            for worker in list(self._workers):
                if worker.chunk is None and pending:
                    first, chunk = pending.popleft()
                    try:
                        worker.tasks.send((task, [(first + i, child.stamp(x)) for i, x in enumerate(chunk)]))
                    except OSError:  # it died while idle: _replies replaces it (its sentinel is ready)
                        pending.appendleft((first, chunk))
                        continue
                    worker.chunk = (first, chunk)
            for _, replies in self._replies(slice_s, pending):
                left -= 1
                for index, ok, value in replies:
                    if ok:
                        results[index] = value
                    else:
                        errors.append(value)
            return left == 0

        if left and wait_in_slices(rec, me, "pool.map", attempt, None, can_deadlock=False):
            rec.emit(me, Kind.RUN, "pool.map")
        if errors:
            raise errors[0]
        return results

    def _replies(
        self, slice_s: float, pending: deque[tuple[int, list[Any]]]
    ) -> list[tuple[_Worker, list[Any]]]:
        """Wait up to `slice_s` for busy workers' replies; replace workers that died. A
        chunk sent to a worker that died before it took it goes back to `pending`."""
        busy = {worker.tasks: worker for worker in self._workers if worker.chunk is not None}
        gone = {worker.process.sentinel: worker for worker in self._workers}
        ready = _connection.wait([*busy, *gone], timeout=slice_s)
        replies = []
        for worker in [busy[r] for r in ready if r in busy]:
            replies += self._read(worker)
        for worker in {id(gone[r]): gone[r] for r in ready if r in gone}.values():
            if worker.chunk is not None or worker.process.exitcode is not None:
                replies += self._read(worker)  # what it said before it died
                if worker.chunk is not None and not worker.took:
                    pending.appendleft(worker.chunk)
                    worker.chunk = None
                self._replace(worker)
        return replies

    def _read(self, worker: _Worker) -> list[tuple[_Worker, list[Any]]]:
        """What `worker` sent and is waiting on its pipe: at most `TOOK`, which marks its
        chunk taken, and one reply, which makes it idle (it says nothing more until it
        is sent another chunk)."""
        replies = []
        try:
            while worker.tasks.poll(0):
                message = worker.tasks.recv()
                if message == child.TOOK:
                    worker.took = True
                else:
                    replies.append((worker, message))
                    worker.chunk, worker.took = None, False
        except (EOFError, OSError):
            pass  # it died: its sentinel says so too
        return replies

    def _replace(self, dead: _Worker) -> None:
        """What the standard Pool does when a worker dies: start another in its place.
        The chunk the dead one held is lost, and nothing will ever compute it."""
        rec, me = here()
        dead.process.join(1.0)
        if dead.chunk is not None:
            _, chunk = dead.chunk
            rec.emit(
                me,
                Kind.MARK,
                "lost task",
                detail=f"{dead.lane} died ({describe_exit(dead.process.exitcode)}) while computing "
                f"inputs {chunk!r}: their results will never come, so Pool.map waits forever",
            )
        self._workers.remove(dead)
        dead.tasks.close()
        with contextlib.suppress(LimitExceeded):  # no lane left for one: the pool shrinks
            self._workers.append(self._start_worker())

    def close(self) -> None:
        """No more tasks: each worker exits once it has finished its chunk."""
        if self._state == "running":
            self._state = "closed"
            for worker in self._workers:
                with contextlib.suppress(OSError):  # it died already
                    worker.tasks.send(None)

    def join(self) -> None:
        """Wait for the workers to exit (after close): the pool's shutdown, drawn."""
        if self._state == "running":
            raise ValueError("Pool is still running")
        processes = [worker.process for worker in self._workers]
        wait_for_exits("pool.join", processes)
        for process in processes:
            process.join(1.0)  # reap

    def terminate(self) -> None:
        """End the workers now (SIGTERM) and wait for them to exit, as the standard
        Pool's terminate does: the program goes on with no worker left running."""
        self._state = "terminated"
        # Those still running before the signal: main is drawn waiting for them to exit,
        # however fast they die (a closed and joined pool has none left).
        running = [worker.process for worker in self._workers if worker.process.exitcode is None]
        for worker in self._workers:
            self._hub.end(worker.process, worker.process.terminate)
        wait_for_exits("pool.terminate", running)

    def __enter__(self) -> Pool:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, value: BaseException | None, tb: TracebackType | None
    ) -> None:
        if kind is not None and issubclass(kind, Stop):
            return  # the run is being stopped: the workers unwind, the hub ends the rest
        self.terminate()  # what the real Pool's __exit__ does


class ProcessPoolExecutor:
    """`concurrent.futures.ProcessPoolExecutor` with a lane per worker. If a worker
    dies, the executor breaks: every pending future raises `BrokenProcessPool`.

    The standard executor, given a context of the run's: its workers are the hub's
    to end. Every worker is handed every event pipe and claims the next free one
    (`child.pool_init`), since the executor starts its workers itself."""

    def __init__(self, hub: Hub, max_workers: int) -> None:
        rec, _ = here()
        rec.check()
        self._hub = hub
        self._started: list[BaseProcess] = []
        self.lanes = [rec.new_lane("PoolWorker") for _ in range(max_workers)]
        pipes = [hub.channel(None) for _ in self.lanes]
        self._writers = [writer for _, writer in pipes]
        claim = hub.ctx.Value("i", 0)
        for lane in self.lanes:
            hub.started(lane, LaneKind.POOL_WORKER)

        def on_process(process: BaseProcess) -> None:
            hub.track(process)
            self._started.append(process)

        self._executor = _futures.ProcessPoolExecutor(
            max_workers,
            mp_context=run_context(hub.method, on_process),
            initializer=child.pool_init,
            initargs=(self.lanes, self._writers, claim, hub.stop_flag, rec.t0_ns),
        )
        hub.on_release(self._release)

    def submit(self, func: Callable[[Any], Any], arg: Any) -> _futures.Future[Any]:
        rec, _ = here()
        rec.check()
        future = self._executor.submit(child.Task(func, name_of(func)), child.stamp(arg))
        # Workers start on demand; once all have, our copies of their pipes must go.
        if self._writers and len(self._started) == len(self.lanes):
            self._close_writers()
        return future

    def _close_writers(self) -> None:
        for writer in self._writers:
            writer.close()
        self._writers = []

    def map(self, func: Callable[[Any], Any], iterable: Iterable[Any]) -> Iterator[Any]:
        futures = [self.submit(func, x) for x in iterable]
        for future in futures:
            yield result_of(future)

    def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None:
        """The standard `shutdown`: tasks already submitted still run (unless
        `cancel_futures`), then the workers exit; with `wait`, drawn as a wait."""
        self._executor.shutdown(wait=False, cancel_futures=cancel_futures)
        self._close_writers()
        if wait:
            wait_for_exits("executor.shutdown", self._started)
            self._executor.shutdown(wait=True)

    def _release(self) -> None:
        """At the run's end, every worker gone: let the executor's threads finish."""
        self._close_writers()
        self._executor.shutdown(wait=True, cancel_futures=True)

    def __enter__(self) -> ProcessPoolExecutor:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, value: BaseException | None, tb: TracebackType | None
    ) -> None:
        if kind is not None and issubclass(kind, Stop):
            return  # the run is being stopped: the hub ends the workers, then releases us
        self.shutdown(wait=True)


@contextmanager
def asking_the_os(what: str) -> Iterator[None]:
    """Draw the caller as `io` while the OS creates processes: the parent mostly
    waits on a fork/exec or on the forkserver's reply, it is not running Python."""
    rec, me = here()
    rec.blocked(me)
    rec.emit(me, Kind.IO, what)
    try:
        yield
    finally:
        rec.unblocked(me)
        rec.emit(me, Kind.RUN)


def wait_for_exits(what: str, processes: list[BaseProcess]) -> None:
    """Wait until every one of `processes` has exited, drawn on the caller's lane as a
    wait on `what` (nothing drawn if there is none to wait for). The OS ends it, not
    another lane of the run, so the deadlock watchdog does not count it."""
    if not processes:
        return
    rec, me = here()
    if wait_in_slices(rec, me, what, partial(wait_all_exited, processes), None, can_deadlock=False):
        rec.emit(me, Kind.RUN, what)


def name_of(func: Callable[..., Any]) -> str:
    """A task's label: its function's name (through functools.partial)."""
    inner = getattr(func, "func", func)
    return str(getattr(inner, "__name__", "task"))


def result_of(future: _futures.Future[Any]) -> Any:
    """`future.result()`, drawn as a wait on "future" and stoppable."""
    rec, me = here()

    def attempt(slice_s: float) -> bool:
        _futures.wait([future], timeout=slice_s)
        return future.done()

    if not future.done():
        wait_in_slices(rec, me, "future", attempt, None, can_deadlock=False)
        rec.emit(me, Kind.RUN, "future")
    return future.result()


__all__ = [
    "START_METHODS",
    "Array",
    "BrokenProcessPool",
    "Connection",
    "Context",
    "Pool",
    "Process",
    "ProcessPoolExecutor",
    "Queue",
    "SharedLock",
    "SharedMemory",
    "SharedView",
    "Value",
    "describe_exit",
    "get_context",
    "result_of",
    "warm_up",
]
