"""The supervisor of a run's processes: the parent's side of every child.

Structure:
- `Hub`: one per run (created by the run's first `get_context`). It owns every
  process the run starts (directly, or through a pool or an executor: they are all
  made by its `RunContext`), one pipe per traced child for events, the run's stop
  `Event` that children check at every traced call, and ONE drain thread that moves
  each child's batches into the run's `Recorder` (`rec.extend`). A child that died
  without a last word (pipe closed, no `done`/`crash` received) gets its lane ended
  by the parent, with the exit code or signal.
- Every run ends, whatever its children do: once the run is stopped, a child gets the
  run's grace period to unwind at its next traced call; then the hub terminates and
  kills whatever is left (`force_end`), on a timer of its own, so a child that is
  frozen (SIGSTOP), stuck in an untraced call, or holding a lock it will never
  release cannot hold the run up. The finalizer (run by the runner after the
  program) does the same for children the program forgot, then reaps them all.
- `RunContext`: the `multiprocessing` context the hub makes processes with. Its
  processes read their exit status once (`app.traced.osprocess`) and are tracked.

Parent side only: children never import this module.
"""

from __future__ import annotations

import gc
import multiprocessing as _mp
import signal
import threading
import time
from collections.abc import Callable
from ctypes import c_bool
from dataclasses import dataclass, field
from multiprocessing import connection as _connection
from multiprocessing import context as _context
from multiprocessing.process import BaseProcess
from typing import Any, ClassVar, Literal

from app.timeline import FINAL_STATES, Kind, LaneKind
from app.traced import osprocess
from app.tracing import Recorder, call_all

StartMethod = Literal["spawn", "forkserver"]
START_METHODS: tuple[StartMethod, ...] = ("spawn", "forkserver")
# What the forkserver imports once, so each forked child starts with them loaded.
PRELOAD = ["app.traced.child", "app.traced.ipc", "app.scenarios.proc_work"]
KILL_AFTER_S = 0.5  # after SIGTERM: how long a child gets before SIGKILL
DRAIN_GRACE_S = 2.0  # after the children are gone: how long to wait for their last batches


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


def wait_all_exited(processes: list[BaseProcess], timeout: float) -> bool:
    """Wait until every one of `processes` has exited, or `timeout` has passed: have they?

    One `connection.wait` is not enough: it returns as soon as *one* sentinel is
    ready, so a child that exits at once would cut short the time another is given
    (and a caller waiting in slices would spin until the last one exits)."""
    deadline = time.monotonic() + timeout
    left = {process.sentinel for process in processes}
    while left and (remaining := deadline - time.monotonic()) > 0:
        left.difference_update(_connection.wait(list(left), timeout=remaining))
    return not left


class _Tracking:
    """Mixin for a `multiprocessing` context: every process made through it is
    tracked by `on_process` (a pool's or executor's own workers included)."""

    _process_class: ClassVar[type[BaseProcess]]

    def __init__(self, on_process: Callable[[BaseProcess], None]) -> None:
        self._on_process = on_process

    def Process(self, *args: Any, **kwargs: Any) -> BaseProcess:
        process = self._process_class(*args, **kwargs)
        self._on_process(process)
        return process


class _ForkServerRunContext(_Tracking, _context.ForkServerContext):  # type: ignore[misc]
    _process_class = osprocess.ForkServerProcess


class _SpawnRunContext(_Tracking, _context.SpawnContext):  # type: ignore[misc]
    _process_class = osprocess.SpawnProcess


RunContext = _ForkServerRunContext | _SpawnRunContext


def run_context(method: str, on_process: Callable[[BaseProcess], None]) -> RunContext:
    if method == "forkserver":
        return _ForkServerRunContext(on_process)
    return _SpawnRunContext(on_process)


@dataclass
class Channel:
    """The parent's end of one child's event pipe."""

    lane: str | None  # None for an executor's pipe until a worker claims it
    process: BaseProcess | None = None
    pid: int | None = None
    closed: threading.Event = field(default_factory=threading.Event)


class Hub:
    """A run's processes, their event pipes and the one drain thread. Use
    `Hub.of(recorder, method)`; scenario code reaches it through `get_context()`."""

    _hubs_lock: ClassVar[threading.Lock] = threading.Lock()

    @classmethod
    def of(cls, rec: Recorder, method: str) -> Hub:
        if method not in START_METHODS:
            raise ValueError(
                f"start method {method!r} is not offered: use one of {', '.join(START_METHODS)} "
                "(plain fork from a multi-threaded server can deadlock the child)"
            )
        with cls._hubs_lock:
            hub = rec.services.get(cls)
            if hub is None:
                hub = rec.services[cls] = Hub(rec, method)
        assert isinstance(hub, Hub)
        return hub

    def __init__(self, rec: Recorder, method: str) -> None:
        self.rec = rec
        self.method = method
        self.ctx = run_context(method, self.track)
        if method == "forkserver":
            # Effective only before the server's forkserver starts; it is the same
            # list every time, so the first run's call is the one that counts.
            self.ctx.set_forkserver_preload(PRELOAD)
        # The children's stop flag: one shared byte, set by the parent, read at every
        # traced call in every child. Not a `multiprocessing.Event`: reading that takes
        # a lock all the run's processes share, and a child killed while it held the
        # lock would leave the other children, and the stop itself, waiting forever.
        self.stop_flag = self.ctx.RawValue(c_bool, False)
        self._channels: dict[_connection.Connection, Channel] = {}
        self._lock = threading.Lock()
        self._processes: list[BaseProcess] = []  # every process of the run, in start order
        self._ended_by_parent: set[int] = set()  # ids of processes the program terminated
        self._releases: list[Callable[[], None]] = []  # pools' and executors' own shutdown
        self._started: list[str] = []  # lanes the parent drew a `start` on
        self._final: set[str] = set()  # lanes whose `done` or `crash` is recorded
        self._cleanups: list[Callable[[], None]] = []  # run once no child is left (`on_close`)
        self._closing = False
        self._forcing = False  # set once the hub ends what is left of a stopped run
        self._forced: set[int] = set()  # id() of each process the hub itself signalled
        self._force_timer: threading.Timer | None = None
        self._drain = threading.Thread(target=self._drain_loop, name="interleave-drain", daemon=True)
        self._drain.start()
        rec.on_stop(self._on_stop)
        rec.add_finalizer(self.close)

    # --- children ----------------------------------------------------------------
    def channel(self, lane: str | None, process: BaseProcess | None = None) -> tuple[Channel, Any]:
        """A new event pipe: the parent keeps the reading end, returns the writer."""
        reader, writer = self.ctx.Pipe(duplex=False)
        chan = Channel(lane, process)
        with self._lock:
            self._channels[reader] = chan
        return chan, writer

    def started(self, lane: str, kind: LaneKind) -> None:
        """Draw `start` on a child's lane: from now until its first line runs."""
        self.rec.start_lane(lane, kind)
        with self._lock:
            self._started.append(lane)

    def track(self, process: BaseProcess) -> None:
        """Own `process`: it will be ended and reaped with the run."""
        with self._lock:
            self._processes.append(process)

    def on_release(self, release: Callable[[], None]) -> None:
        """Call `release()` at the end of the run, once every child is gone: a pool's
        or executor's own shutdown, which no longer has anyone to wait for."""
        with self._lock:
            self._releases.append(release)

    def end(self, process: BaseProcess, how: Callable[[], None]) -> None:
        """The program ends `process` itself (`terminate()`, `kill()`): its lane says
        the parent ended it, not that it crashed."""
        with self._lock:
            self._ended_by_parent.add(id(process))
        how()

    def live(self) -> list[BaseProcess]:
        """The run's processes that were started and have not exited."""
        with self._lock:
            processes = list(self._processes)
        return [p for p in processes if p.pid is not None and p.exitcode is None]

    def _process_with_pid(self, pid: int | None) -> BaseProcess | None:
        with self._lock:
            return next((p for p in self._processes if pid is not None and p.pid == pid), None)

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

    def _hang_up(self, reader: _connection.Connection, chan: Channel) -> None:
        """A child's pipe closed: it exited. If it never said done or crash, it died
        where it could not report (os._exit, a signal): the parent tells its story."""
        with self._lock:
            self._channels.pop(reader, None)
        reader.close()
        if chan.lane is not None and chan.lane not in self._final:
            when = self.rec.now()  # the pipe closed: the death, give or take a flush
            process = chan.process or self._process_with_pid(chan.pid)
            code = None
            if process is not None:
                process.join(1.0)  # it is exiting: its pipe closed
                code = process.exitcode
            self._verdict(chan.lane, when, process, code)
        chan.closed.set()

    def _verdict(self, lane: str, when: int, process: BaseProcess | None, code: int | None) -> None:
        if process is not None and id(process) in self._ended_by_parent:
            self.rec.emit_at(when, lane, Kind.DONE, detail=f"ended by the parent: {describe_exit(code)}")
        elif process is not None and id(process) in self._forced and code is not None and code < 0:
            # (one that died of a signal before the hub signalled it crashed: a worker
            # killed from outside, its death read only after the run ended)
            detail = (
                f"stopped: still running when the run ended, so the parent ended it ({describe_exit(code)})"
            )
            self.rec.emit_at(when, lane, Kind.DONE, detail=detail)
        else:
            self.rec.emit_at(when, lane, Kind.CRASH, detail=describe_exit(code))
        self._final.add(lane)

    def wait_closed(self, chan: Channel, timeout: float) -> None:
        """Until the child's last batch (or the parent's verdict on it) is recorded."""
        chan.closed.wait(timeout)

    # --- ending ----------------------------------------------------------------------
    def _on_stop(self, reason: str) -> None:
        """The run is stopped: tell the children (they end at their next traced call)
        and, after the grace period, end whatever has not."""
        self.stop_flag.value = True
        with self._lock:
            if self._force_timer is not None or self._forcing:
                return
            self._force_timer = threading.Timer(self.rec.stop_grace_s, self.force_end)
            self._force_timer.daemon = True
            self._force_timer.name = "interleave-force-end"
            self._force_timer.start()

    def force_end(self) -> None:
        """Terminate, then kill, every process of the run still alive. Idempotent."""
        with self._lock:
            self._forcing = True
            if self._force_timer is not None:
                self._force_timer.cancel()
        left = self.live()
        with self._lock:
            self._forced.update(id(process) for process in left)
        for process in left:
            process.terminate()  # SIGTERM: a frozen process keeps it pending...
        wait_all_exited(left, KILL_AFTER_S)
        for process in self.live():
            process.kill()  # ...SIGKILL ends even a frozen one

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
        if self.live():
            # The program forgot to join, or was stopped: tell the children, give them
            # the grace period, then end them.
            self.rec.stop(self.rec.stop_reason or "the program ended while processes were still running")
            self._on_stop("")  # the recorder no longer calls hooks once its program is over
            wait_all_exited(self.live(), self.rec.stop_grace_s)
        self.force_end()
        with self._lock:
            releases, self._releases = self._releases, []
            processes = list(self._processes)
        call_all(releases)
        for process in processes:
            if process.pid is not None:
                process.join(1.0)  # reap: every one has exited or been killed by now
        self._closing = True
        self._drain.join(DRAIN_GRACE_S + 1.0)
        # The run's record outlives it (viewers, exports); its hub must not: the hub
        # holds shared memory (the stop flag) that is freed with it.
        with Hub._hubs_lock:
            self.rec.services.pop(Hub, None)
        # An executor and its threads form reference cycles; until the cyclic GC runs,
        # their OS semaphores stay allocated (and the resource tracker reports them
        # "leaked" at shutdown). Collect now, once per process run.
        gc.collect()
        with self._lock:
            unread = list(self._channels)
            self._channels.clear()
        for reader in unread:
            reader.close()
        for lane in self._started:  # e.g. a pool worker the executor never needed to start
            if lane not in self._final:
                self.rec.emit(
                    lane,
                    Kind.DONE,
                    detail="no word from this worker: it never ran or its last batch was lost",
                )
