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

This module never imports FastAPI or asyncio: it runs in worker threads and, for
process scenarios, in child processes.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Protocol

from app.timeline import JSON, Event, Kind, LaneKind

RawEvent = tuple[int, str, Kind, str, JSON, str]


class Exclusive(Protocol):
    """An object one worker holds at a time (a traced Lock or RLock)."""

    name: str

    @property
    def holder(self) -> str: ...


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
        self._threads: list[threading.Thread] = []  # the run's own threads, for the runner to reap

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

    def now(self) -> int:
        return time.monotonic_ns() - self.t0_ns

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
        call_all(finalizers)

    def new_lane(self, prefix: str) -> str:
        """A fresh lane name, numbered per run: Thread-1, Thread-2... (Python's own
        names count across the whole server, which would confuse a learner)."""
        self._lanes += 1
        if self._lanes > self.max_workers:
            raise LimitExceeded(f"this run may start at most {self.max_workers} workers")
        return self.new_name(prefix)

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
        """
        n = len(self._buffer)
        if n == 0:
            return []
        raw = self._buffer[:n]
        del self._buffer[:n]
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
        recorder.emit(worker, Kind.RUN)
        try:
            yield recorder
        except Stop as stop:
            recorder.emit(worker, Kind.DONE, detail=f"stopped: {stop}")
            raise
        except BaseException as error:
            recorder.emit(worker, Kind.CRASH, detail=describe_error(error))
            raise
        else:
            recorder.emit(worker, Kind.DONE)
    finally:
        _binding.current = previous


def describe_error(error: BaseException) -> str:
    return f"{type(error).__name__}: {error}" if str(error) else type(error).__name__
