"""Traced `multiprocessing`: real processes, drawn on the same lanes as threads.

Scenario code reads like the tutorial::

    mp = multiprocessing.get_context("forkserver")
    procs = [mp.Process(target=print_numbers) for _ in range(3)]
    with mp.Pool(4) as pool: ...

Structure:
- `Hub`: one per run (created by the first `get_context` of the run). It owns the
  run's children, one pipe per child for events, the run's stop `Event` the children
  check at every traced call, and ONE drain thread that moves each child's batches
  into the run's `Recorder` (`rec.extend`). It notices a child that died without a
  last word (pipe closed, no `done`/`crash` received) and ends its lane in `crash`
  with the exit code or signal. Its finalizer (run by the runner after the program)
  joins every child with a timeout, then terminates, then kills: no child outlives
  its run.
- `Context`: what `get_context` returns: `Process`, `Pool`, `ProcessPoolExecutor`,
  `Queue`, `Pipe`, `Value`, `Array`, `Lock`, `SharedMemory` bound to the run's hub.
  A `SharedMemory` block the run creates is closed and unlinked by the hub once its
  children are gone, however the run ended (`Hub.on_close`).
- The child side lives in `app.traced.child` (a light module: children never import
  the server).
- `Queue`, `Connection` (a `Pipe` end), `Value`, `Array`, `SharedLock` and
  `SharedMemory` (by name: the child attaches, as the real one does) are picklable
  wrappers: they travel to children as arguments and record there on the
  child's lane. Items carry their putter, so a `get` names who `put` it (`link`).

Start methods: spawn and forkserver only. Plain fork from the multi-threaded server
is unsafe (a child may inherit a lock held by another thread) and forkserver is fork
done right: forks from a single-threaded helper that preloaded the light modules.
"""

from __future__ import annotations

import gc
import multiprocessing as _mp
import queue as _queue
import signal
import struct
import threading
import time
import weakref
from collections.abc import Callable, Iterable, Iterator
from concurrent import futures as _futures
from concurrent.futures import process as _futures_process
from contextlib import contextmanager
from dataclasses import dataclass, field
from multiprocessing import connection as _connection
from multiprocessing import shared_memory as _shared_memory
from multiprocessing.context import BaseContext
from multiprocessing.process import BaseProcess
from types import TracebackType
from typing import Any, ClassVar, Literal

from app.timeline import FINAL_STATES, Kind, LaneKind
from app.traced import child
from app.traced.threading import Acquirable, block
from app.tracing import Recorder, Stop, call_all, here

StartMethod = Literal["spawn", "forkserver"]
START_METHODS: tuple[StartMethod, ...] = ("spawn", "forkserver")
# What the forkserver imports once, so each forked child starts with them loaded.
PRELOAD = ["app.traced.child", "app.traced.multiprocessing", "app.scenarios.proc_work"]
POLL_S = 0.05
JOIN_GRACE_S = 3.0  # after the program: how long children get to finish on their own
DRAIN_GRACE_S = 2.0  # after the children are gone: how long to wait for their last batches
BrokenProcessPool = _futures_process.BrokenProcessPool


def warm_up() -> None:
    """Start the forkserver (with the light preload) and the resource tracker now.

    Both are one-time helpers started by the first process a server creates; without
    this the first lesson after a restart shows ~100 ms more start-up than every
    later one, which is the server's cost, not a process's."""
    from multiprocessing import forkserver, resource_tracker

    _mp.get_context("forkserver").set_forkserver_preload(PRELOAD)
    resource_tracker.ensure_running()
    forkserver.ensure_running()


def describe_exit(code: int | None) -> str:
    """A process's exit code in words, as the parent sees it."""
    if code is None:
        return "died without reporting (exit code unknown)"
    if code < 0:
        try:
            return f"killed by signal {signal.Signals(-code).name} (exit code {code})"
        except ValueError:
            return f"killed by signal {-code}"
    return f"exited with code {code} without reporting"


@dataclass
class _Channel:
    """The parent's end of one child's event pipe."""

    lane: str | None  # None for a pool pipe until a worker claims it
    process: BaseProcess | None = None
    pid: int | None = None
    closed: threading.Event = field(default_factory=threading.Event)
    silent_ns: int | None = None  # when its pipe closed without a last word (verdict pending)


class Hub:
    """A run's processes, their event pipes and the one drain thread. Use
    `get_context()`; the hub is found through the calling thread's recorder."""

    _hubs: ClassVar[weakref.WeakKeyDictionary[Recorder, Hub]] = weakref.WeakKeyDictionary()
    _hubs_lock: ClassVar[threading.Lock] = threading.Lock()

    @classmethod
    def of(cls, rec: Recorder, method: str) -> Hub:
        if method not in START_METHODS:
            raise ValueError(
                f"start method {method!r} is not offered: use one of {', '.join(START_METHODS)} "
                "(plain fork from a multi-threaded server can deadlock the child)"
            )
        with cls._hubs_lock:
            hub = cls._hubs.get(rec)
            if hub is None:
                hub = cls._hubs[rec] = Hub(rec, method)
        return hub

    def __init__(self, rec: Recorder, method: str) -> None:
        self.rec = rec
        self.method = method
        self.ctx: BaseContext = _mp.get_context(method)
        if method == "forkserver":
            # Effective only before the server's forkserver starts; it is the same
            # list every time, so the first run's call is the one that counts.
            self.ctx.set_forkserver_preload(PRELOAD)
        self.stop_event = self.ctx.Event()
        self._channels: dict[_connection.Connection, _Channel] = {}
        self._lock = threading.Lock()
        # Reading a child's exit status is not thread-safe: with forkserver, two
        # threads polling at once split one status message (one sees EOF: "255");
        # with spawn, two waitpid calls race. Every poll of a process we own holds this.
        self._poll_lock = threading.Lock()
        self._silent: list[_Channel] = []  # pool lanes whose verdict waits for the pool
        self._processes: list[BaseProcess] = []
        self._pools: list[Pool | ProcessPoolExecutor] = []
        self._started: list[str] = []  # lanes the parent drew a `start` on
        self._final: set[str] = set()  # lanes whose `done` or `crash` is recorded
        self._cleanups: list[Callable[[], None]] = []  # run once no child is left (`on_close`)
        self._closing = False
        self._forcing = False  # set when the parent starts terminating what is left
        self._drain = threading.Thread(target=self._drain_loop, name="interleave-drain", daemon=True)
        self._drain.start()
        rec.on_stop(self._on_stop)
        rec.add_finalizer(self.close)

    # --- children ----------------------------------------------------------------
    def channel(self, lane: str | None, process: BaseProcess | None = None) -> tuple[_Channel, Any]:
        """A new event pipe: the parent keeps the reading end, returns the writer."""
        reader, writer = self.ctx.Pipe(duplex=False)
        chan = _Channel(lane, process)
        with self._lock:
            self._channels[reader] = chan
        return chan, writer

    def started(self, lane: str, kind: LaneKind) -> None:
        """Draw `start` on a child's lane: from now until its first line runs."""
        self.rec.start_lane(lane, kind)
        with self._lock:
            self._started.append(lane)

    def track(self, process: BaseProcess) -> None:
        with self._lock:
            self._processes.append(process)

    def track_pool(self, pool: Pool | ProcessPoolExecutor) -> None:
        with self._lock:
            self._pools.append(pool)

    def _process_of(self, chan: _Channel) -> BaseProcess | None:
        if chan.process is not None:
            return chan.process
        with self._lock:
            candidates = list(self._processes)
            for pool in self._pools:
                candidates.extend(pool.processes())
        return next((p for p in candidates if chan.pid is not None and p.pid == chan.pid), None)

    # --- the drain thread ----------------------------------------------------------
    def _drain_loop(self) -> None:
        deadline = None
        while True:
            with self._lock:
                readers = list(self._channels)
            if self._closing:
                deadline = deadline or time.monotonic() + DRAIN_GRACE_S
                if not readers or time.monotonic() > deadline:
                    return
            if not readers:
                time.sleep(0.01)
                continue
            for reader in _connection.wait(readers, timeout=0.01):
                self._receive(reader)  # type: ignore[arg-type]

    def _receive(self, reader: _connection.Connection) -> None:
        chan = self._channels[reader]
        try:
            lane, pid, batch, *last = reader.recv()  # the last message adds the lane's CPU time
        except (EOFError, OSError):
            self._hang_up(reader, chan)
            return
        chan.lane, chan.pid = lane, pid
        if last and last[0] is not None:
            self.rec.lane_cpu[lane] = last[0]
        self.rec.extend(batch)
        for raw in batch:
            if raw[2] in FINAL_STATES:
                self._final.add(raw[1])

    def _hang_up(self, reader: _connection.Connection, chan: _Channel) -> None:
        """A child's pipe closed: it exited. If it never said done or crash, it died
        where it could not report (os._exit, a signal): the parent tells its story.

        A plain process is ours alone, so its verdict is read now. A pool worker's
        exit status belongs to the pool's own threads, which poll it; its verdict
        waits until the pool has been joined (`settle`)."""
        with self._lock:
            self._channels.pop(reader, None)
        reader.close()
        if chan.lane is not None and chan.lane not in self._final:
            chan.silent_ns = self.rec.now()  # when the pipe closed: the death, give or take a flush
            if chan.process is not None:
                self._verdict(chan, self.exitcode(chan.process, 1.0))  # it is exiting
            else:
                with self._lock:
                    self._silent.append(chan)
        chan.closed.set()

    def _verdict(self, chan: _Channel, code: int | None) -> None:
        assert chan.lane is not None
        assert chan.silent_ns is not None
        if self._forcing and code is not None and code < 0:
            detail = (
                f"stopped: still running when the run ended, so the parent ended it ({describe_exit(code)})"
            )
            self.rec.emit_at(chan.silent_ns, chan.lane, Kind.DONE, detail=detail)
        else:
            self.rec.emit_at(chan.silent_ns, chan.lane, Kind.CRASH, detail=describe_exit(code))
        self._final.add(chan.lane)

    def settle(self) -> None:
        """Give pool lanes that ended silently their verdict. Only once their pool has
        been joined or shut down: its threads no longer poll the workers."""
        with self._lock:
            pending, self._silent = self._silent, []
        for chan in pending:
            process = self._process_of(chan)
            self._verdict(chan, None if process is None else self.exitcode(process, 1.0))

    def exitcode(self, process: BaseProcess, wait_s: float = 0.0) -> int | None:
        """Wait up to `wait_s` for `process` to exit; its exit code, or None."""
        with self._poll_lock:
            if wait_s > 0:
                process.join(wait_s)
            return process.exitcode

    # --- ending ----------------------------------------------------------------------
    def _on_stop(self, reason: str) -> None:
        self.stop_event.set()  # children raise Stop at their next traced call

    def on_close(self, cleanup: Callable[[], None]) -> None:
        """Call `cleanup()` at the end of `close`, once every child is gone: e.g. unlink
        a shared memory block no child can still be attaching to."""
        with self._lock:
            self._cleanups.append(cleanup)

    def close(self) -> None:
        """After the program: every child of the run ends, is reaped, and its lane is
        closed; then the run's OS resources are released (even if reaping failed)."""
        try:
            self._end_children()
        finally:
            with self._lock:
                cleanups, self._cleanups = self._cleanups, []
            call_all(cleanups)

    def _end_children(self) -> None:
        """Join with a timeout, then terminate, then kill."""
        with self._lock:
            processes = list(self._processes)
            pools = list(self._pools)
        if any(self.exitcode(p) is None for p in processes):
            # The program forgot to join, or was stopped: tell the children (they end
            # at their next traced call), give them a grace period, then force them.
            self.rec.stop(self.rec.stop_reason or "the program ended while processes were still running")
        deadline = time.monotonic() + JOIN_GRACE_S
        for process in processes:
            self.exitcode(process, max(0.0, deadline - time.monotonic()))
        self._forcing = True
        for pool in pools:
            pool.shut_down()
        for process in processes:
            if self.exitcode(process) is None:
                process.terminate()
                self.exitcode(process, 0.5)
            if self.exitcode(process) is None:
                process.kill()
                self.exitcode(process, 1.0)
        self._closing = True
        self._drain.join(DRAIN_GRACE_S + 1.0)
        self.settle()
        # The run's record outlives it (viewers, exports); its hub must not: the hub
        # holds OS semaphores (the stop Event) that are freed with it.
        with Hub._hubs_lock:
            Hub._hubs.pop(self.rec, None)
        # A Pool and its handler threads form reference cycles; until the cyclic GC
        # runs, their OS semaphores stay allocated (and the resource tracker reports
        # them "leaked" at shutdown). Collect now, once per process run.
        gc.collect()
        with self._lock:
            left = list(self._channels.items())
            self._channels.clear()
        for reader, _ in left:
            reader.close()
        for lane in self._started:  # e.g. a pool worker the executor never needed to start
            if lane not in self._final:
                self.rec.emit(
                    lane,
                    Kind.DONE,
                    detail="no word from this worker: it never ran or its last batch was lost",
                )

    def wait_closed(self, chan: _Channel, timeout: float) -> None:
        chan.closed.wait(timeout)


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
        run ends, after its children, even if the program forgot or was stopped."""
        rec, _ = here()
        rec.check()
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
        self._recorder = rec
        self.name = rec.new_lane("Process", name)
        self._chan, self._writer = hub.channel(self.name)
        # Daemonic: if the server itself dies, multiprocessing's atexit ends these.
        self._process: BaseProcess = hub.ctx.Process(  # type: ignore[attr-defined]
            target=child.process_main,
            args=(self.name, self._writer, hub.stop_event, rec.t0_ns, target, args, kwargs or {}),
            name=self.name,
            daemon=True,
        )
        self._chan.process = self._process

    def start(self) -> None:
        rec, _ = here()
        rec.check()
        self._hub.started(self.name, LaneKind.PROCESS)
        self._hub.track(self._process)
        with asking_the_os(f"start {self.name}"):
            self._process.start()
        self._writer.close()  # the child has its copy; ours would hide its exit (EOF)

    def join(self, timeout: float | None = None) -> None:
        rec, me = here()
        obj = f"join {self.name}"

        def attempt(slice_s: float) -> bool:
            return self._hub.exitcode(self._process, slice_s) is not None

        waited = self._hub.exitcode(self._process) is None
        if waited and not block(rec, me, obj, attempt, timeout):
            return
        # Its last batch (or the parent's verdict on a silent death) lands first.
        self._hub.wait_closed(self._chan, 1.0)
        if waited:
            rec.emit(me, Kind.RUN, obj, link=self.name)

    @property
    def exitcode(self) -> int | None:
        return self._hub.exitcode(self._process)

    @property
    def pid(self) -> int | None:
        return self._process.pid

    def is_alive(self) -> bool:
        return self._process.pid is not None and self._hub.exitcode(self._process) is None

    def terminate(self) -> None:
        self._process.terminate()

    def kill(self) -> None:
        self._process.kill()


class _PoolBase:
    """What `Pool` and `ProcessPoolExecutor` share: a lane and a pipe per worker."""

    def __init__(self, hub: Hub, processes: int) -> None:
        rec, _ = here()
        rec.check()
        self._hub = hub
        self._recorder = rec
        self.lanes = [rec.new_lane("PoolWorker") for _ in range(processes)]
        pipes = [hub.channel(None) for _ in self.lanes]
        self._writers = [writer for _, writer in pipes]
        self._claim = hub.ctx.Value("i", 0)
        self._initargs = (self.lanes, self._writers, self._claim, hub.stop_event, rec.t0_ns)
        for lane in self.lanes:
            hub.started(lane, LaneKind.POOL_WORKER)

    def _close_writers(self) -> None:
        for writer in self._writers:
            writer.close()
        self._writers = []

    def processes(self) -> list[BaseProcess]:
        raise NotImplementedError

    def shut_down(self) -> None:
        raise NotImplementedError


class Pool(_PoolBase):
    """`multiprocessing.Pool`: one `pool-worker` lane per process, each task a `run`
    segment labelled with its input, `wait` on "tasks" between them."""

    def __init__(self, hub: Hub, processes: int) -> None:
        super().__init__(hub, processes)
        with asking_the_os("start pool"):
            self._pool = hub.ctx.Pool(processes, initializer=child.pool_init, initargs=self._initargs)
        self._close_writers()  # every worker started in the constructor has its copies
        hub.track_pool(self)

    def processes(self) -> list[BaseProcess]:
        return list(self._pool._pool)  # type: ignore[attr-defined]  # no public list

    def map(
        self, func: Callable[[Any], Any], iterable: Iterable[Any], chunksize: int | None = None
    ) -> list[Any]:
        """`Pool.map`; the caller's lane waits on "pool.map" until every result is back."""
        rec, me = here()
        rec.check()
        task = child.Task(func, name_of(func))
        pending = self._pool.map_async(task, [child.stamp(x) for x in iterable], chunksize)

        def attempt(slice_s: float) -> bool:
            pending.wait(slice_s)
            return pending.ready()

        block(rec, me, "pool.map", attempt, None)
        rec.emit(me, Kind.RUN, "pool.map")
        results: list[Any] = pending.get()
        return results

    def close(self) -> None:
        self._pool.close()

    def join(self) -> None:
        """Wait for the workers to exit (after close): the pool's shutdown, drawn."""
        rec, me = here()
        workers = self.processes()

        block(rec, me, "pool.join", all_exited(workers), None)
        self._pool.join()
        self._hub.settle()
        rec.emit(me, Kind.RUN, "pool.join")

    def terminate(self) -> None:
        self._pool.terminate()

    def shut_down(self) -> None:
        self._pool.terminate()
        self._pool.join()
        self._hub.settle()

    def __enter__(self) -> Pool:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, value: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._pool.terminate()  # what the real Pool's __exit__ does


class ProcessPoolExecutor(_PoolBase):
    """`concurrent.futures.ProcessPoolExecutor` with a lane per worker. If a worker
    dies, the executor breaks: every pending future raises `BrokenProcessPool`."""

    def __init__(self, hub: Hub, max_workers: int) -> None:
        super().__init__(hub, max_workers)
        self._executor = _futures.ProcessPoolExecutor(
            max_workers, mp_context=hub.ctx, initializer=child.pool_init, initargs=self._initargs
        )
        self._seen: dict[int, BaseProcess] = {}  # its workers: the executor forgets them at shutdown
        hub.track_pool(self)

    def processes(self) -> list[BaseProcess]:
        live = getattr(self._executor, "_processes", None) or {}  # no public list
        self._seen.update(live)
        return list(self._seen.values())

    def submit(self, func: Callable[[Any], Any], arg: Any) -> _futures.Future[Any]:
        rec, _ = here()
        rec.check()
        future = self._executor.submit(child.Task(func, name_of(func)), child.stamp(arg))
        # Workers start on demand; once all have, our copies of their pipes must go.
        if self._writers and len(self.processes()) == len(self.lanes):
            self._close_writers()
        return future

    def map(self, func: Callable[[Any], Any], iterable: Iterable[Any]) -> Iterator[Any]:
        futures = [self.submit(func, x) for x in iterable]
        for future in futures:
            yield result_of(future)

    def shutdown(self, wait: bool = True) -> None:
        rec, me = here()
        self._executor.shutdown(wait=False, cancel_futures=True)
        self._close_writers()
        if wait:
            workers = self.processes()

            if workers:
                block(rec, me, "executor.shutdown", all_exited(workers), None)
                rec.emit(me, Kind.RUN, "executor.shutdown")
            self._executor.shutdown(wait=True)
            self._hub.settle()

    def shut_down(self) -> None:
        self._close_writers()
        for process in self.processes():
            process.terminate()  # a signal only; the executor's own threads reap them
        self._executor.shutdown(wait=True, cancel_futures=True)
        self._hub.settle()

    def __enter__(self) -> ProcessPoolExecutor:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, value: BaseException | None, tb: TracebackType | None
    ) -> None:
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


def all_exited(workers: list[BaseProcess]) -> Callable[[float], bool]:
    """A `block` attempt that is true once every worker has exited. It watches their
    sentinels (readable once a process is gone) and never reads an exit status: the
    pool's own threads do that, and two readers at once corrupt it."""

    def attempt(slice_s: float) -> bool:
        return len(_connection.wait([p.sentinel for p in workers], timeout=slice_s)) == len(workers)

    return attempt


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
        block(rec, me, "future", attempt, None)
        rec.emit(me, Kind.RUN, "future")
    return future.result()


# --- picklable traced IPC and shared state -------------------------------------------
class Queue:
    """`multiprocessing.Queue`: `put` records the item, a blocking `get` a `wait`, and
    each item carries its putter so the `get` names who sent it (`link`)."""

    def __init__(self, inner: Any, name: str) -> None:
        self._q = inner
        self.name = name
        self._sent = 0  # counts this process's puts: "Queue-1 #3" names one item

    def put(self, item: Any, block_: bool = True, timeout: float | None = None) -> None:
        rec, me = here()
        rec.check()
        self._sent += 1
        key = f"{self.name} #{self._sent}"
        tagged = (me, key, item)
        t_put = rec.now()
        try:
            self._q.put(tagged, block=False)
        except _queue.Full:
            if not block_:
                raise

            def attempt(slice_s: float) -> bool:
                try:
                    self._q.put(tagged, timeout=slice_s)
                except _queue.Full:
                    return False
                return True

            if not block(rec, me, self.name, attempt, timeout):
                raise _queue.Full from None
            t_put = rec.now()
            rec.emit(me, Kind.RUN, self.name)
        rec.emit_at(t_put, me, Kind.PUT, key, detail=repr(item))

    def get(self, block_: bool = True, timeout: float | None = None) -> Any:
        rec, me = here()
        rec.check()
        try:
            putter, key, item = self._q.get(block=False)
        except _queue.Empty:
            if not block_:
                raise
            got: list[Any] = []

            def attempt(slice_s: float) -> bool:
                try:
                    got.append(self._q.get(timeout=slice_s))
                except _queue.Empty:
                    return False
                return True

            if not block(rec, me, self.name, attempt, timeout):
                raise _queue.Empty from None
            putter, key, item = got[0]
            rec.emit(me, Kind.RUN, self.name)
        rec.emit(me, Kind.GET, key, detail=repr(item), link=putter)
        return item


class Connection:
    """One end of a `multiprocessing.Pipe`: `send` records a `put`, a blocking `recv`
    a `wait`, and the `get` names the sender."""

    def __init__(self, inner: Any, name: str) -> None:
        self._conn = inner
        self.name = name
        self._sent = 0

    def send(self, item: Any) -> None:
        rec, me = here()
        rec.check()
        self._sent += 1
        key = f"{self.name} #{self._sent}"
        rec.emit(me, Kind.PUT, key, detail=repr(item))
        self._conn.send((me, key, item))

    def recv(self) -> Any:
        rec, me = here()
        rec.check()
        if not self._conn.poll():
            if not block(rec, me, self.name, self._conn.poll, None):
                raise EOFError
            rec.emit(me, Kind.RUN, self.name)
        putter, key, item = self._conn.recv()
        rec.emit(me, Kind.GET, key, detail=repr(item), link=putter)
        return item

    def close(self) -> None:
        self._conn.close()


class SharedLock(Acquirable):
    """A lock shared by processes (a `multiprocessing.Lock`, or a `Value`'s
    `get_lock()`): records waits and holds on the caller's lane."""

    def __init__(self, inner: Any, name: str) -> None:
        self._lock = inner
        self.name = name

    def acquire(self, blocking: bool = True, timeout: float = -1) -> bool:
        rec, me = here()
        rec.check()
        if not self._lock.acquire(False):
            attempt = lambda slice_s: bool(self._lock.acquire(True, slice_s))  # noqa: E731
            if not blocking or not block(rec, me, self.name, attempt, timeout):
                return False
            rec.emit(me, Kind.RUN, self.name)
        rec.emit(me, Kind.ACQUIRE, self.name)
        return True

    def release(self) -> None:
        rec, me = here()
        rec.emit(me, Kind.RELEASE, self.name)
        self._lock.release()


class Value:
    """`multiprocessing.Value`: every read and write of `.value` is recorded with the
    value seen or written; `get_lock()` is the Value's own lock, traced."""

    def __init__(self, inner: Any, name: str) -> None:
        self._v = inner
        self.name = name

    @property
    def value(self) -> Any:
        rec, me = here()
        rec.check()
        seen = self._v.value
        rec.emit(me, Kind.READ, self.name, detail=seen)
        return seen

    @value.setter
    def value(self, new: Any) -> None:
        rec, me = here()
        rec.check()
        self._v.value = new
        rec.emit(me, Kind.WRITE, self.name, detail=new)

    def get_lock(self) -> SharedLock:
        return SharedLock(self._v.get_lock(), f"{self.name}.lock")

    def peek(self) -> Any:
        """The value without recording a read (for the parent's summary)."""
        return self._v.value


class Array:
    """`multiprocessing.Array`: item reads and writes are recorded."""

    def __init__(self, inner: Any, name: str) -> None:
        self._a = inner
        self.name = name

    def __getitem__(self, index: int) -> Any:
        rec, me = here()
        rec.check()
        seen = self._a[index]
        rec.emit(me, Kind.READ, f"{self.name}[{index}]", detail=seen)
        return seen

    def __setitem__(self, index: int, new: Any) -> None:
        rec, me = here()
        rec.check()
        self._a[index] = new
        rec.emit(me, Kind.WRITE, f"{self.name}[{index}]", detail=new)

    def __len__(self) -> int:
        return len(self._a)

    def get_lock(self) -> SharedLock:
        return SharedLock(self._a.get_lock(), f"{self.name}.lock")

    def peek(self) -> list[Any]:
        return list(self._a[:])


class SharedView:
    """A view of a `SharedMemory` block's bytes (its `buf`, or `buf.cast(fmt)`): item
    and slice reads and writes are recorded with the value seen or written."""

    def __init__(self, view: memoryview, label: str, family: list[SharedView]) -> None:
        self._view = view
        self._label = label
        self._family = family  # every view of the block's mapping, released at its close
        family.append(self)

    def _where(self, index: int | slice) -> str:
        if isinstance(index, slice):
            start, stop, _ = index.indices(len(self._view))
            return f"{self._label}[{start}:{stop}]"
        return f"{self._label}[{index}]"

    def __getitem__(self, index: int | slice) -> Any:
        rec, me = here()
        rec.check()
        seen: Any = self._view[index]
        if isinstance(seen, memoryview):  # a slice: read now, as the bytes it holds
            seen = seen.tobytes()
            rec.emit(me, Kind.READ, self._where(index), detail=seen.hex(" "))
        else:
            rec.emit(me, Kind.READ, self._where(index), detail=seen)
        return seen

    def __setitem__(self, index: int | slice, new: Any) -> None:
        rec, me = here()
        rec.check()
        self._view[index] = new
        shown = bytes(new).hex(" ") if isinstance(index, slice) else new
        rec.emit(me, Kind.WRITE, self._where(index), detail=shown)

    def __len__(self) -> int:
        return len(self._view)

    def cast(self, fmt: str) -> SharedView:
        """`memoryview.cast`: e.g. `cast("q")` sees the bytes as 64-bit ints."""
        view: Any = self._view  # typeshed types cast() per literal format only
        return SharedView(view.cast(fmt), self._label, self._family)

    def release(self) -> None:
        self._view.release()


class SharedMemory:
    """`multiprocessing.shared_memory.SharedMemory`: a named block of bytes that any
    process can map. `buf` (and its casts) record item reads and writes.

    Pickled, it travels by name and the receiving child attaches to the block (what the
    real class does). Only the creator unlinks it; a child `close()`s its mapping.

    Python 3.11's resource tracker registers the block again when a child attaches.
    Spawn and forkserver children share the server's tracker and its registry is a
    set, so that second registration changes nothing and the creator's `unlink()`
    removes the one entry. A child must NOT unregister the block: that would remove
    the creator's entry, the tracker would print a KeyError at the creator's unlink,
    and it would no longer free the block if the server died."""

    def __init__(self, inner: _shared_memory.SharedMemory, label: str) -> None:
        self._shm = inner
        self.label = label
        self._views: list[SharedView] = []
        self._buf: SharedView | None = None
        self._closed = False
        self._unlinked = False

    @property
    def name(self) -> str:
        return self._shm.name

    @property
    def size(self) -> int:
        return self._shm.size

    @property
    def buf(self) -> SharedView:
        if self._buf is None:
            assert self._shm.buf is not None
            self._buf = SharedView(self._shm.buf, self.label, self._views)
        return self._buf

    def close(self) -> None:
        """Unmap this process's view (BufferError while a cast view is unreleased,
        as with the real class)."""
        if not self._closed:
            self._shm.close()
            self._closed = True

    def unlink(self) -> None:
        """Destroy the block (once: a second unlink would confuse the tracker)."""
        if not self._unlinked:
            self._unlinked = True
            self._shm.unlink()

    def release_block(self) -> None:
        """The run's cleanup: release any view left, close, and always unlink."""
        try:
            for view in self._views:
                view.release()
            self.close()
        finally:
            self.unlink()

    def peek(self, fmt: str = "q", offset: int = 0) -> Any:
        """A value in the block without recording a read (for the parent's summary)."""
        assert self._shm.buf is not None
        return struct.unpack_from(fmt, self._shm.buf, offset)[0]

    def __reduce__(self) -> tuple[Any, tuple[Any, ...]]:
        return (_attach_shared_memory, (self._shm.name, self.label))


def _attach_shared_memory(name: str, label: str) -> SharedMemory:
    """Unpickling in a child: attach to the parent's block by name."""
    return SharedMemory(_shared_memory.SharedMemory(name), label)


__all__ = [
    "START_METHODS",
    "Array",
    "BrokenProcessPool",
    "Connection",
    "Context",
    "Hub",
    "Pool",
    "Process",
    "ProcessPoolExecutor",
    "Queue",
    "SharedLock",
    "SharedMemory",
    "SharedView",
    "Stop",
    "Value",
    "describe_exit",
    "get_context",
    "result_of",
]
