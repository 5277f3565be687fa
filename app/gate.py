"""The gate: real threads, one traced operation at a time, in an order someone chooses.

In step, replay and explore modes a run's recorder carries a `Gate`. Every traced
drop-in calls `gate.before(...)` before its operation (acquire, release, wait, notify,
put, get, print, a read or write of shared state, sleep, start, join): the calling
thread parks there, saying what it is about to do and whether it could do it now.
Exactly one worker is let through at a time (`step`); it performs its operation, runs
whatever untraced code follows, and parks at its next gate (or blocks in a wait, or
ends). So what happens depends only on the order of the steps: the schedule, which the
gate records.

A worker that is let through into an operation that cannot proceed (a held lock)
records its `wait` as usual and parks again, blocked: its pending operation then says
it would block (`ready` is False) until another worker's step makes it possible.

Both sides are plain threads: the workers park in `before`; the scheduler (an API
request, the explorer) calls `wait_settled`, `pending` and `step`. No FastAPI here.
"""

from __future__ import annotations

import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from types import FrameType

from app.tracing import Recorder

POLL_S = 0.05  # how often a parked worker looks at its run's stop flag
_OURS = ("app.traced", "app.tracing", "app.gate", "app.sampler", "app.measure", "contextlib", "threading")


class NotWaiting(Exception):
    """The worker cannot be stepped: it has ended, or is unknown."""


@dataclass(frozen=True)
class Pending:
    """What a parked worker is about to do."""

    worker: str
    op: str  # "acquire", "release", "wait", "notify", "put", "get", "print", "read"...
    obj: str  # the object it is about (a lock's name, a variable's...), or ""
    ready: bool  # could it do it now? False: it would block (or is blocked)
    file: str  # where in the lesson's code: the file...
    line: int  # ...and line of the call


@dataclass
class _Parked:
    op: str
    obj: str
    ready: Callable[[], bool] | None
    file: str
    line: int


class Gate:
    """One worker at a time between traced operations.

    Usage (the scheduler's side)::

        gate.wait_settled(timeout=5)
        for p in gate.pending(): ...
        gate.step("Thread-1")   # returns once Thread-1 has parked again (or ended)
    """

    def __init__(self, rec: Recorder) -> None:
        self.rec = rec
        self.schedule: list[str] = []  # the workers let through, in order
        self._cond = threading.Condition()
        self._parked: dict[str, _Parked] = {}
        self._running: str | None = None  # the worker let through, until it parks or ends
        self._arriving: set[str] = set()  # started, not yet at their first gate
        self._ended: set[str] = set()
        self._order: list[str] = []  # every worker, in the order it first appeared

    # --- the workers' side ---------------------------------------------------------
    def arriving(self, worker: str) -> None:
        """A new worker is on its way (called by whoever starts it, before it runs):
        the gate is not settled until it has reached its first gate."""
        with self._cond:
            self._arriving.add(worker)
            self._meet(worker)

    def before(self, worker: str, op: str, obj: str = "", *, ready: Callable[[], bool] | None = None) -> None:
        """Park `worker` before its operation until it is let through. `ready` says
        whether the operation could proceed now (default: always)."""
        file, line = _lesson_line(sys._getframe(1))
        with self._cond:
            self._meet(worker)
            self._parked[worker] = _Parked(op, obj, ready, file, line)
            self._arriving.discard(worker)
            if self._running == worker:
                self._running = None
            self._cond.notify_all()
            try:
                while self._running != worker:
                    self._cond.wait(POLL_S)
                    self.rec.check()  # a stopped run: every parked worker unwinds
            finally:
                self._parked.pop(worker, None)

    def left(self, worker: str) -> None:
        """`worker` has ended: it will not park again."""
        with self._cond:
            self._ended.add(worker)
            self._arriving.discard(worker)
            self._parked.pop(worker, None)
            if self._running == worker:
                self._running = None
            self._cond.notify_all()

    # --- the scheduler's side ------------------------------------------------------
    def wait_settled(self, timeout: float) -> bool:
        """Until nobody runs: the last worker let through has parked or ended, and every
        new worker has reached its first gate. False if that took longer than `timeout`."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while self._running is not None or self._arriving:
                left = deadline - time.monotonic()
                if left <= 0 or self.rec.stop_reason is not None:
                    return False
                self._cond.wait(min(left, POLL_S))
            return True

    def pending(self) -> list[Pending]:
        """Every parked worker's next operation, in the order the workers appeared."""
        with self._cond:
            parked = dict(self._parked)
        return [
            Pending(worker, p.op, p.obj, p.ready() if p.ready is not None else True, p.file, p.line)
            for worker in self._order
            if (p := parked.get(worker)) is not None
        ]

    def step(self, worker: str, timeout: float) -> bool:
        """Let `worker` perform its one operation (and the untraced code after it), then
        wait until it has parked again or ended. False if it is still running after
        `timeout` (it may be stuck in untraced code)."""
        with self._cond:
            if worker not in self._parked:
                raise NotWaiting(self.why_not(worker))
            self.schedule.append(worker)
            self._running = worker
            self._cond.notify_all()
        return self.wait_settled(timeout)

    def why_not(self, worker: str) -> str:
        if worker in self._ended:
            return f"{worker} has finished: it has no operation left to perform"
        if worker in self._order:
            return f"{worker} is not at a gate (it is running, or starting)"
        return f"no worker {worker!r} in this run; the workers: {', '.join(self._order) or 'none yet'}"

    def live(self) -> list[str]:
        """Workers that have not ended, in the order they appeared."""
        with self._cond:
            return [w for w in self._order if w not in self._ended]

    def _meet(self, worker: str) -> None:
        if worker not in self._order:
            self._order.append(worker)


def _lesson_line(frame: FrameType | None) -> tuple[str, int]:
    """The first caller outside Interleave's own machinery: a line of the lesson."""
    while frame is not None:
        module = frame.f_globals.get("__name__", "")
        if not module.startswith(_OURS):
            return frame.f_code.co_filename, frame.f_lineno
        frame = frame.f_back
    return "", 0
