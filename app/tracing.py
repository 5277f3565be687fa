"""The recorder that workers call, and how a thread finds the recorder of its run.

Structure:
- `Recorder` holds one run's raw event buffer. Workers append plain tuples to it
  (one `list.append`, atomic under the GIL: no lock of ours in the hot path); the
  runner drains it about once a frame with `take()`.
- `bind()` attaches a thread to a recorder under a lane name; `here()` returns that
  binding. The traced drop-ins in `app.traced` call `here()` so scenario code reads
  exactly like the tutorial (`threading.Lock()`, `print(i)`) yet is recorded.
- `Stop` is raised inside workers when the run is cancelled (deadlock found, time
  limit, event limit, user cancel): every traced call checks the recorder's flag, so
  a run ends without killing threads.
- `LaneWatcher` is what the CPU-clock sampler (`app.sampler`) offers the recorder:
  bound lanes register with it, and the traced drop-ins tell it when a lane blocks
  (`blocked`/`unblocked`), so it knows which lanes should be running. The sampler
  draws `gil` states back-dated to the start of what it measured; `hold_from` keeps
  events from that point on out of `take()` until it has decided, so every lane's
  events leave in time order.

This module never imports FastAPI or asyncio: it runs in worker threads and, for
process scenarios, in child processes.
"""

from __future__ import annotations

import threading
import time
from bisect import bisect_left
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Protocol

from app.timeline import JSON, Event, Kind, LaneKind

if TYPE_CHECKING:
    from app.gate import Gate

RawEvent = tuple[int, str, Kind, str, JSON, str]


class Exclusive(Protocol):
    """An object one worker holds at a time (a traced Lock or RLock)."""

    name: str

    @property
    def holder(self) -> str: ...


class LaneWatcher(Protocol):
    """Told about each lane's life, in the lane's own thread (the sampler)."""

    def started(self, worker: str, lane: LaneKind) -> None: ...

    def paused(self, worker: str) -> None: ...  # about to block (wait, I/O, sleep)

    def resumed(self, worker: str) -> None: ...  # no longer blocked

    def ended(self, worker: str) -> None: ...


class Stop(BaseException):
    """Raised in a worker when its run was cancelled. A BaseException so that a
    scenario's own `except Exception` cannot swallow it."""


class LimitExceeded(Exception):
    """A scenario asked for more than the run allows (e.g. too many workers)."""


class Recorder:
    """Collects one run's events.

    Usage::

        rec = Recorder(max_workers=16)
        with bind(rec, "main", LaneKind.MAIN):
            rec.emit("main", Kind.PRINT, detail="hello")
        events = rec.take()
    """

    def __init__(self, *, max_workers: int = 64, stop_grace_s: float = 3.0, t0_ns: int | None = None) -> None:
        self.t0_ns = time.monotonic_ns() if t0_ns is None else t0_ns
        self.t0_wall: float | None = None  # the wall clock at t0, once the program starts
        self.max_workers = max_workers
        # Once stopped, how long workers get to unwind before the run's processes are
        # ended and its threads given up on.
        self.stop_grace_s = stop_grace_s
        self._buffer: list[RawEvent] = []
        self._names: dict[str, int] = {}
        self._lanes = 0
        self.stop_reason: str | None = None  # set once: why the run must end early
        # Wait-for bookkeeping, read by the runner's deadlock watchdog: the run's
        # exclusive objects (locks know their holder), and which object each blocked
        # worker waits on.
        self._exclusive: list[Exclusive] = []
        self.waiting_for: dict[str, str] = {}
        # Called (in the director thread) once the program and its threads are done:
        # process scenarios join their drain thread and reap children here.
        self._finalizers: list[Callable[[], None]] = []
        # Called from whichever thread stops the run, e.g. to tell child processes.
        self._stop_hooks: list[Callable[[str], None]] = []
        self.watcher: LaneWatcher | None = None  # the CPU-clock sampler, while it runs
        # Events at or after this time (ns since t0) stay in the buffer: the sampler
        # may still record states back-dated to it. None: nothing is held back.
        self.hold_from: int | None = None
        self.band = ""  # lanes started now are drawn under this heading (app.measure.measured)
        self.bands: dict[str, str] = {}  # lane -> its band, for lanes started with one
        self.lane_kinds: dict[str, LaneKind] = {}  # lane -> what it is (not main)
        self.lane_cpu: dict[str, int] = {}  # lane -> CPU time (ns) it used, once it ended
        self._history: list[RawEvent] | None = None  # every taken event, if asked (`keep_history`)
        self._generation = 0  # odd while take() moves events: `events_so_far` retries
        self._threads: list[threading.Thread] = []  # the run's own threads, for the runner to reap
        # Step, replay and explore modes: every traced call parks here until it is let
        # through (app.gate). None in a normal run: one attribute check per traced call.
        self.gate: Gate | None = None

    # --- hot path -------------------------------------------------------------------
    def emit(self, worker: str, kind: Kind, obj: str = "", detail: JSON = None, link: str = "") -> None:
        """Record one event now. Cheap: a clock read, a tuple and a list append."""
        self._buffer.append((time.monotonic_ns() - self.t0_ns, worker, kind, obj, detail, link))

    def emit_at(
        self,
        t_ns: int,
        worker: str,
        kind: Kind,
        obj: str = "",
        detail: JSON = None,
        link: str = "",
    ) -> None:
        """Record an event measured earlier (t_ns already relative to the run's start)."""
        self._buffer.append((t_ns, worker, kind, obj, detail, link))

    def extend(self, raw: list[RawEvent]) -> None:
        """Add events recorded elsewhere (a child process's batch)."""
        self._buffer.extend(raw)

    def start_lane(self, worker: str, kind: LaneKind) -> None:
        """Draw `start` on a new lane (not main), under the current band if any."""
        if self.band:
            self.bands[worker] = self.band
        self.lane_kinds[worker] = kind
        self._buffer.append((self.now(), worker, Kind.START, self.band, str(kind), ""))

    def blocked(self, worker: str) -> None:
        """`worker` is about to wait (lock, join, sleep...): not a lane that should run."""
        if self.watcher is not None:
            self.watcher.paused(worker)

    def unblocked(self, worker: str) -> None:
        if self.watcher is not None:
            self.watcher.resumed(worker)

    def track_thread(self, thread: threading.Thread) -> None:
        """Register a thread the run started: the runner waits for it at the end."""
        self._threads.append(thread)

    def threads(self) -> list[threading.Thread]:
        """The threads the run started, in creation order."""
        return list(self._threads)

    def track_exclusive(self, obj: Exclusive) -> None:
        """Register a lock-like object (one holder at a time) for `owners`."""
        self._exclusive.append(obj)

    @property
    def owners(self) -> dict[str, str]:
        """Which lane holds each exclusive object now. Derived from the objects, so
        acquiring and releasing a lock write nothing here."""
        return {obj.name: holder for obj in list(self._exclusive) if (holder := obj.holder)}

    def free_locks(self) -> set[str]:
        """The exclusive objects nobody holds now: a worker waiting for one will get it."""
        return {obj.name for obj in list(self._exclusive) if not obj.holder}

    def start_clock(self) -> None:
        """Time zero is now: when the program starts, not when the run was asked for.
        The wall clock is noted too, so a viewer can tell how late an event reached it."""
        self.t0_ns = time.monotonic_ns()
        self.t0_wall = time.time()

    def now(self) -> int:
        return time.monotonic_ns() - self.t0_ns

    def skip(self, ns: int) -> None:
        """Leave `ns` of time out of the run's clock: time in which nothing of the
        program ran (a step run waiting for the learner's next step), so that the lanes
        show the program's own time. Only while no worker runs and no sampler watches."""
        self.t0_ns += ns

    def check(self) -> None:
        """Raise `Stop` in the calling worker if the run has been cancelled."""
        if self.stop_reason is not None:
            raise Stop(self.stop_reason)

    # --- control ------------------------------------------------------------------
    def stop(self, reason: str) -> None:
        """Ask every worker to end at its next traced call. The first reason wins."""
        if self.stop_reason is None:
            self.stop_reason = reason
            for hook in list(self._stop_hooks):
                hook(reason)

    def on_stop(self, hook: Callable[[str], None]) -> None:
        """Call `hook(reason)` when the run is stopped (at once if it already was)."""
        self._stop_hooks.append(hook)
        if self.stop_reason is not None:
            hook(self.stop_reason)

    def add_finalizer(self, finalizer: Callable[[], None]) -> None:
        """Call `finalizer()` when the run's program is over, last added first."""
        self._finalizers.append(finalizer)

    def finalize(self) -> None:
        """Run the finalizers (once). Every one runs even if an earlier one fails."""
        finalizers, self._finalizers = self._finalizers[::-1], []
        self._stop_hooks.clear()  # the program is over; and they may hold OS resources
        self._exclusive.clear()
        self._history = None  # the lesson has its numbers; the run's log is the runner's
        call_all(finalizers)

    def new_lane(self, prefix: str, name: str | None = None) -> str:
        """A lane for a new worker: `name` if the program gave one (a role such as
        "producer-1"), else numbered per run: Thread-1, Thread-2... (Python's own
        names count across the whole server, which would confuse a learner). Every
        lane counts against the run's worker limit."""
        self._lanes += 1
        if self._lanes > self.max_workers:
            raise LimitExceeded(f"this run may start at most {self.max_workers} workers")
        return name or self.new_name(prefix)

    def new_name(self, prefix: str) -> str:
        """A fresh name for a traced object of this run: Lock-1, Queue-2..."""
        n = self._names.get(prefix, 0) + 1
        self._names[prefix] = n
        return f"{prefix}-{n}"

    def take(self) -> list[Event]:
        """Remove and return what was recorded so far, ordered by time.

        Called by one drainer. No lock: slicing and `del` of a prefix are each atomic
        under the GIL, and workers only ever append at the end. The sort is stable, so
        each lane keeps its program order even when two events share a timestamp.
        Events from `hold_from` on stay for a later call.
        """
        return [Event(*r) for r in self.take_raw()]

    def take_raw(self, held_too: bool = False) -> list[RawEvent]:
        """`take()` as raw tuples (what a child process ships to its parent);
        `held_too`: the events from `hold_from` on as well."""
        n = len(self._buffer)
        if n == 0:
            return []
        self._generation += 1
        raw = self._buffer[:n]
        del self._buffer[:n]
        raw.sort(key=_time_of)
        hold = None if held_too else self.hold_from
        if hold is not None and raw[-1][0] >= hold:
            cut = bisect_left(raw, hold, key=_time_of)
            self._buffer[0:0] = raw[cut:]  # one slice assignment: atomic beside the appends
            raw = raw[:cut]
        if self._history is not None:
            self._history.extend(raw)
        self._generation += 1
        return raw

    def keep_history(self) -> None:
        """From now on keep a copy of every taken event, for `events_so_far` (a
        lesson that computes its result from its own timeline)."""
        if self._history is None:
            self._history = []

    def events_so_far(self) -> list[Event]:
        """Every event recorded since `keep_history()`, taken or not, in time order."""
        while True:
            generation = self._generation
            if generation % 2 == 0:
                taken = list(self._history or ())
                pending = list(self._buffer)
                if self._generation == generation:
                    break
            time.sleep(0.0005)  # a take() is moving events: let it finish
        raw = taken + pending
        raw.sort(key=_time_of)
        return [Event(*r) for r in raw]


def call_all(calls: list[Callable[[], None]]) -> None:
    """Call each in turn even if one fails (a leaked process or block is worse than a
    second error), then raise the first error."""
    errors = []
    for call in calls:
        try:
            call()
        except Exception as error:
            errors.append(error)
    if errors:
        raise errors[0]


def _time_of(raw: RawEvent) -> int:
    return raw[0]


class _Binding(threading.local):
    # One tuple, one attribute read per traced call: this is on the hot path.
    current: tuple[Recorder, str] | None = None


_binding = _Binding()


def here() -> tuple[Recorder, str]:
    """The recorder and lane name of the calling thread."""
    current = _binding.current
    if current is None:
        raise RuntimeError("this thread is not bound to a run: traced primitives only work inside a run")
    return current


@contextmanager
def bind(recorder: Recorder, worker: str, lane: LaneKind | None = None) -> Iterator[Recorder]:
    """Attach the calling thread to `recorder` as lane `worker` for the block.

    With `lane`, the block is the lane's whole life: it records `start`/`run` on entry
    and `done` (or `crash`, with the error) on exit.
    """
    previous = _binding.current
    _binding.current = (recorder, worker)
    try:
        if lane is None:
            yield recorder
            return
        if lane is LaneKind.MAIN:
            recorder.emit(worker, Kind.START, detail=str(lane))
        cpu_at_start = time.thread_time_ns()  # a pooled thread has run before this lane
        watcher = recorder.watcher
        if watcher is not None:
            watcher.started(worker, lane)
        recorder.emit(worker, Kind.RUN)
        end: tuple[Kind, str | None] = (Kind.CRASH, "ended without a word")
        try:
            yield recorder
        except Stop as stop:
            end = (Kind.DONE, f"stopped: {stop}")
            raise
        except BaseException as error:
            end = (Kind.CRASH, describe_error(error))
            raise
        else:
            end = (Kind.DONE, None)
        finally:
            recorder.lane_cpu[worker] = time.thread_time_ns() - cpu_at_start
            if watcher is not None:
                watcher.ended(worker)  # its last measured states land before its end
            recorder.emit(worker, end[0], detail=end[1])
            if recorder.gate is not None:
                recorder.gate.left(worker)
    finally:
        _binding.current = previous


def rebind(current: tuple[Recorder, str] | None) -> tuple[Recorder, str] | None:
    """Make `current` the calling thread's binding and return the previous one: for
    code that runs several lanes on one thread, such as asyncio tasks on their loop."""
    previous = _binding.current
    _binding.current = current
    return previous


def describe_error(error: BaseException) -> str:
    return f"{type(error).__name__}: {error}" if str(error) else type(error).__name__
