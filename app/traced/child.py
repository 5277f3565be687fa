"""The light entry of a child process: what runs in a worker process before and
around the scenario's function.

A child imports only this module, `app.timeline`, `app.tracing`, the traced
drop-ins and the module holding its worker function (`app.scenarios.proc_work`):
never FastAPI, pydantic or the scenario registry, so a spawned or forkserver child
starts in milliseconds rather than re-importing the server.

Structure:
- `ChildRecorder` is the run's `Recorder` as seen from inside a child: the same
  `emit`/`check` API (so `app.traced.time.sleep`, `print`... work unchanged), the
  same t0 (the parent's, passed in: CLOCK_MONOTONIC is shared by every process on
  Linux, so timestamps need no translation), a stop flag that also reads the
  parent's (one byte of shared memory), its own CPU-clock `Sampler` (the lane waits for a
  core when it gets less CPU than wall time), and a flusher thread that ships the
  buffer to the parent in batches (every ~10 ms, when a batch holds `FLUSH_EVENTS`
  events, and at exit) over the child's *own* pipe; a worker about to block ships its
  own batch first, so a death right after cannot lose it. One pipe per child, never a
  shared queue: a child killed in the middle of a write cannot take a shared lock down
  with it. For the same reason the stop flag is a bare byte, not an Event (whose
  reads take a lock the run's processes share).
- `process_main` is the target of every traced `Process`, `pool_worker_main` of every
  traced `Pool` worker; `pool_init`/`Task` make a `ProcessPoolExecutor` worker draw
  its lane.

Message on the pipe: ``(lane, pid, [raw events])``; the last one, sent when the child
closes, adds the CPU time its lane used: ``(lane, pid, [raw events], cpu_ns)``.
"""

from __future__ import annotations

import contextlib
import os
import sys
import threading
import time
import traceback
from collections.abc import Callable
from ctypes import c_bool
from multiprocessing.connection import Connection
from multiprocessing.util import Finalize
from typing import Any

from app.sampler import Sampler
from app.timeline import Kind, LaneKind
from app.tracing import Recorder, Stop, bind, here

FLUSH_S = 0.01
POLL_S = 0.05  # how often a waiting pool worker checks the run's stop flag
TOOK = "took"  # what a pool worker tells the parent as it takes a chunk off its pipe
FLUSH_EVENTS = 256
_BLOCKING = frozenset({Kind.IO, Kind.WAIT})


class ChildRecorder(Recorder):
    """A child's view of its run's recorder; ships its events to the parent."""

    def __init__(self, conn: Connection, stop: c_bool, t0_ns: int, lane: str) -> None:
        super().__init__(t0_ns=t0_ns)
        self.lane = lane
        self._conn = conn
        self._stop_flag = stop
        self._pid = os.getpid()
        self._wake = threading.Event()
        self._closing = False
        self._send_lock = threading.Lock()
        self._flusher = threading.Thread(target=self._flush_loop, name="interleave-flush", daemon=True)
        self._flusher.start()
        self.sampler = Sampler(self).start()
        self._cpu_at_start = time.thread_time_ns()

    def lane_began(self, kind: LaneKind) -> None:
        """This process's lane starts running (called in its main thread)."""
        self._cpu_at_start = time.thread_time_ns()
        self.sampler.started(self.lane, kind)
        # Its process id, for the tooltip (every process has its own; threads share one).
        self.emit(self.lane, Kind.RUN, detail=f"pid {self._pid}")

    def lane_ending(self) -> None:
        """This process's lane is about to record its end (called in its main thread)."""
        self.lane_cpu[self.lane] = time.thread_time_ns() - self._cpu_at_start
        self.sampler.ended(self.lane)

    def emit(self, worker: str, kind: Kind, obj: str = "", detail: Any = None, link: str = "") -> None:
        super().emit(worker, kind, obj, detail, link)
        if kind in _BLOCKING:
            # About to block: ship now, from this thread. Its events would otherwise sit
            # here for the whole sleep or wait, and a process that dies without a word
            # (os._exit, a signal) right after would lose them: what it did up to its
            # last wait is then always on its lane. All of them: the lane has told the
            # sampler it blocks, and between samples nothing is back-dated any more.
            with self.sampler.between_samples():
                self.flush(everything=True)
        elif self.buffered() >= FLUSH_EVENTS:
            self._wake.set()

    def check(self) -> None:
        if self.stop_reason is None and self._stop_flag.value:
            self.stop_reason = "the run was stopped"
        super().check()

    def ship_everything(self) -> None:
        """Send all this lane recorded so far, what the sampler measured up to now
        included (it may hold the lane's latest events back for a while)."""
        self.sampler.settle(self.lane)
        with self.sampler.between_samples():
            self.flush(everything=True)

    def flush(self, last: bool = False, everything: bool = False) -> None:
        """Send what was recorded so far (one message); safe from any thread. The
        `last` message also carries the lane's CPU time and is sent even if empty;
        `everything` ships what the sampler holds back too (see `emit`)."""
        with self._send_lock:
            batch = self.take_raw(held_too=everything)
            if not batch and not last:
                return
            message: tuple[Any, ...] = (self.lane, self._pid, batch)
            if last:
                message += (self.lane_cpu.get(self.lane),)
            try:
                self._conn.send(message)
            except OSError:  # the parent went away: nobody is listening any more
                self._closing = True

    def _flush_loop(self) -> None:
        while not self._closing:
            self._wake.wait(FLUSH_S)
            self._wake.clear()
            self.flush()

    def close(self) -> None:
        """Stop the flusher, send the rest, close the pipe (at the child's exit)."""
        if self._closing and self._conn.closed:
            return
        self.sampler.stop()  # nothing held back from now on
        self._closing = True
        self._wake.set()
        self._flusher.join(1.0)
        self.flush(last=True)
        self._conn.close()


def describe_crash(error: BaseException) -> str:
    """The error and where it happened: the last lines of its traceback."""
    lines = traceback.format_exception(error)
    return "".join(lines[-3:]).strip()


def process_main(
    lane: str,
    conn: Connection,
    stop: c_bool,
    t0_ns: int,
    target: Callable[..., object],
    args: tuple[Any, ...],
    kwargs: dict[str, Any],
) -> None:
    """The first code a traced `Process` runs in the child: its first event (`run`)
    ends the `start` segment the parent drew while the interpreter came up."""
    rec = ChildRecorder(conn, stop, t0_ns, lane)
    exit_code = 0
    end: tuple[Kind, str | None] = (Kind.DONE, None)
    with bind(rec, lane):
        rec.lane_began(LaneKind.PROCESS)
        try:
            target(*args, **kwargs)
        except Stop as stopped:
            end = (Kind.DONE, f"stopped: {stopped}")
        except SystemExit as leaving:
            exit_code = leaving.code if isinstance(leaving.code, int) else (0 if leaving.code is None else 1)
            end = (Kind.DONE if exit_code == 0 else Kind.CRASH, f"sys.exit({leaving.code!r})")
        except BaseException as error:
            end = (Kind.CRASH, describe_crash(error))
            exit_code = 1
        finally:
            rec.lane_ending()
            rec.emit(lane, end[0], detail=end[1])
            rec.close()
    if exit_code:
        # The exit code a real Process gets: sys.exit's own, or 1 for an unhandled
        # exception or a message. The traceback or message is on the lane already, so
        # the server's stderr stays quiet.
        sys.exit(exit_code)


# --- pool workers -------------------------------------------------------------------
_pool_recorder: ChildRecorder | None = None  # one per worker process: this process's run
_pool_binding: Any = None  # the open bind(): kept referenced, or collecting it would unbind


def pool_init(lanes: list[str], conns: list[Connection], claim: Any, stop: c_bool, t0_ns: int) -> None:
    """Initializer of a traced pool's workers. Every worker is handed every pool
    pipe; it claims the next free one (and with it its lane) and closes its copies
    of the others, so each pipe has exactly one writer."""
    global _pool_recorder, _pool_binding
    with claim.get_lock():
        index = claim.value
        claim.value = index + 1
    for i, conn in enumerate(conns):
        if i != index:
            conn.close()
    if index >= len(conns):  # a replacement worker: no lane left to draw it on
        return
    lane = lanes[index]
    rec = ChildRecorder(conns[index], stop, t0_ns, lane)
    _pool_recorder = rec
    # bind() for the rest of this process's life: pool workers run tasks on their main thread.
    _pool_binding = bind(rec, lane)
    _pool_binding.__enter__()
    rec.lane_began(LaneKind.POOL_WORKER)
    rec.blocked(lane)
    rec.emit(lane, Kind.WAIT, "tasks")
    # Now, not on the flusher's next tick: until the parent has one batch it cannot
    # tell which lane this process draws, and a worker that dies in its first task
    # would end as "no word" instead of a crash with its exit code.
    rec.flush()
    Finalize(None, _pool_exit, exitpriority=100)


def _pool_exit() -> None:
    rec = _pool_recorder
    if rec is not None:
        rec.lane_ending()
        rec.emit(rec.lane, Kind.DONE)
        rec.close()


def stamp(value: Any) -> Stamped:
    return Stamped(value, time.monotonic_ns())


class Stamped:
    """A task input that remembers when the parent pickled it, so the worker can tell
    how long it spent in pickling and the pipe ("in transit")."""

    __slots__ = ("pickled_ns", "received_ns", "value")

    def __init__(self, value: Any, pickled_ns: int = 0, received_ns: int = 0) -> None:
        self.value = value
        self.pickled_ns = pickled_ns
        self.received_ns = received_ns

    def __reduce__(self) -> tuple[Any, tuple[Any, ...]]:
        return (_unpickle_stamped, (self.value, time.monotonic_ns()))


def _unpickle_stamped(value: Any, pickled_ns: int) -> Stamped:
    return Stamped(value, pickled_ns, time.monotonic_ns())


class StoppedTask(Exception):
    """A pool task refused to start because its run was stopped."""


class Task:
    """Wraps a pool's function: each call is one `run` segment on the worker's lane,
    labelled with its input, and a `result` instant."""

    def __init__(self, func: Callable[..., Any], label: str) -> None:
        self.func = func
        self.label = label

    def run(self, item: Any) -> Any:
        """Compute one item on the calling worker's lane; `Stop` if the run was stopped."""
        value = item.value if isinstance(item, Stamped) else item
        try:
            rec, me = here()
        except RuntimeError:  # an executor worker without a lane: just compute
            return self.func(value)
        text = f"{self.label}({value!r})"
        detail = text
        if isinstance(item, Stamped) and item.pickled_ns:
            transit_ms = (item.received_ns - item.pickled_ns) / 1e6
            detail = f"{text}: pickled by the parent {transit_ms:.2f} ms before this worker unpickled it"
        rec.unblocked(me)
        rec.check()
        rec.emit(me, Kind.RUN, text, detail=detail)
        if isinstance(rec, ChildRecorder):
            rec.ship_everything()  # one message per task: a task that kills its worker still shows
        result = self.func(value)
        rec.emit(me, Kind.RESULT, text, detail=repr(result))
        return result

    def __call__(self, item: Any) -> Any:
        """The entry a `ProcessPoolExecutor` worker calls: one task, then back to
        waiting. Stop is a BaseException: let out here it would kill the executor's
        worker process, so it leaves as an Exception the executor reports like any
        failed task."""
        try:
            return self.run(item)
        except Stop as stopped:
            raise StoppedTask(str(stopped)) from None
        finally:
            with contextlib.suppress(RuntimeError):
                rec, me = here()
                rec.blocked(me)
                rec.emit(me, Kind.WAIT, "tasks")


# --- workers of a traced Pool ----------------------------------------------------------
def pool_worker_main(lane: str, events: Connection, tasks: Connection, stop: c_bool, t0_ns: int) -> None:
    """A traced `Pool`'s worker: take a chunk of `(index, item)` from `tasks` (and say
    so: `TOOK`), run the pool's task on each item, send `[(index, ok, result or
    error)]` back; `None` (the pool was closed) ends it. Waiting for a chunk is drawn
    as `wait` on "tasks" and, like every traced wait, ends with `Stop` if the run is
    stopped."""
    rec = ChildRecorder(events, stop, t0_ns, lane)
    end: tuple[Kind, str | None] = (Kind.DONE, None)
    with bind(rec, lane):
        rec.lane_began(LaneKind.POOL_WORKER)
        try:
            while (job := _next_job(rec, lane, tasks)) is not None:
                # From now the chunk dies with this worker; until then the parent can
                # give it to another (a chunk sent to a worker dying idle is not lost).
                tasks.send(TOOK)
                task, chunk = job
                replies = []
                for index, item in chunk:
                    try:
                        replies.append((index, True, task.run(item)))
                    except Exception as error:  # the task's own failure: map raises it
                        replies.append((index, False, error))
                tasks.send(replies)
        except Stop as stopped:
            end = (Kind.DONE, f"stopped: {stopped}")
        except BaseException as error:
            end = (Kind.CRASH, describe_crash(error))
            raise
        finally:
            rec.lane_ending()
            rec.emit(lane, end[0], detail=end[1])
            rec.close()


def _next_job(rec: ChildRecorder, lane: str, tasks: Connection) -> Any:
    rec.blocked(lane)
    rec.emit(lane, Kind.WAIT, "tasks")
    while not tasks.poll(POLL_S):
        rec.check()
    rec.check()
    try:
        return tasks.recv()
    except EOFError:  # the parent went away
        return None
