"""The gate: real threads, one traced operation at a time, in an order someone chooses.

In step, replay and explore modes a run's recorder carries a `Gate` (normal runs:
`rec.gate is None`, one attribute check per traced call). Every traced drop-in calls
`gate.before(...)` before its operation (acquire, release, wait, notify, put, get,
print, a read or write of shared state, sleep, start, join; and a new thread before
its first line): the calling thread parks there, saying what it is about to do and
whether it could do it now. Exactly one worker is let through at a time (`step`); it
performs its operation, runs whatever untraced code follows, and parks at its next
gate (or in a wait, or ends). So what happens depends only on the order of the steps:
the schedule, which the gate records.

While parked, a lane is drawn waiting for "the scheduler". In step mode the run's
clock leaves out the time every worker spends parked waiting for the next step
(`skip_idle`): a learner thinking for 20 s is not the program's time, and the lanes
show the steps side by side. A worker let through into an operation that cannot
proceed (a held lock) records its `wait` as usual and parks again, `waiting`: its
pending operation says it cannot go on (`ready` is False) until another worker's
step makes it possible.

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

from app.timeline import Kind
from app.tracing import Recorder

SCHEDULER = "the scheduler"  # what a parked worker's lane says it waits for
POLL_S = 0.05  # how often a parked worker looks at its run's stop flag
# Frames of these modules are Interleave's machinery, not the lesson's code.
_OURS = ("app.traced", "app.tracing", "app.gate", "app.sampler", "app.measure", "contextlib", "threading")


class CannotStep(Exception):
    """The worker exists but cannot be stepped now: it has finished, or it waits for
    something another worker must do first."""


class UnknownWorker(Exception):
    """No worker of that name in this run."""


@dataclass(frozen=True)
class Pending:
    """What a parked worker is about to do."""

    worker: str
    op: str  # "acquire", "release", "wait", "notify", "put", "get", "print", "read"...
    obj: str  # the object it is about (a lock's name, a variable's...), or ""
    ready: bool  # could it do it now? False: it would block (or is blocked)
    waiting: bool  # already in its wait (stepped into an operation that could not proceed)
    file: str  # where in the lesson's code: the file...
    line: int  # ...and line of the call


@dataclass
class _Parked:
    op: str
    obj: str
    ready: Callable[[], bool] | None
    waiting: bool
    file: str
    line: int


class Gate:
    """One worker at a time between traced operations.

    Usage (the scheduler's side)::

        gate.wait_settled(timeout=5)
        for p in gate.pending(): ...
        gate.step("Thread-1", timeout=5)   # returns once Thread-1 has parked again (or ended)

    `real_sleep=False` (explore): a traced `sleep` is a step like any other but does
    not wait, since under a gate the order of steps, not the clock, decides who goes.
    """

    def __init__(self, rec: Recorder, *, real_sleep: bool = True, skip_idle: bool = False) -> None:
        self.rec = rec
        self.real_sleep = real_sleep
        # Step mode: the run's clock stops while every worker waits for the next step
        # (a learner thinking for 20 s is not the program's time)
        self.skip_idle = skip_idle
        self._settled_ns = time.monotonic_ns()  # when the last worker parked or ended
        self.schedule: list[str] = []  # the workers let through, in order
        self.touched = time.monotonic()  # when it was last stepped (an idle run times out)
        self._cond = threading.Condition()
        self._turn = threading.Lock()  # one step at a time, whoever asks
        self._parked: dict[str, _Parked] = {}
        self._running: str | None = None  # the worker let through, until it parks or ends
        self._arriving: set[str] = set()  # started, not yet at their first gate
        self._ended: set[str] = set()
        self._order: list[str] = []  # every worker, in the order it first appeared
        rec.on_stop(self._wake)

    # --- the workers' side ---------------------------------------------------------
    def arriving(self, worker: str) -> None:
        """A new worker is on its way (called by whoever starts it, before it runs):
        the gate is not settled until it has reached its first gate."""
        with self._cond:
            self._arriving.add(worker)
            self._meet(worker)

    def before(
        self,
        worker: str,
        op: str,
        obj: str = "",
        *,
        ready: Callable[[], bool] | None = None,
        waiting: bool = False,
        where: tuple[str, int] | None = None,
    ) -> None:
        """Park `worker` before its operation until it is let through. `ready` says
        whether the operation could proceed now (default: always); `where` (file, line)
        is the lesson's line it stands at (default: found from the caller's frames).
        Once the run is stopped nobody parks: the workers unwind."""
        if self.rec.stop_reason is not None:
            return
        file, line = where or _lesson_line(sys._getframe(1))
        self.rec.blocked(worker)  # parked is not running: the CPU sampler must not wait for it
        if not waiting:  # (a worker in its wait already shows what it waits for)
            self.rec.emit(worker, Kind.WAIT, SCHEDULER)
        try:
            with self._cond:
                self._meet(worker)
                self._parked[worker] = _Parked(op, obj, ready, waiting, file, line)
                self._arriving.discard(worker)
                if self._running == worker:
                    self._running = None
                self._settled_ns = time.monotonic_ns()
                self._cond.notify_all()
                try:
                    while self._running != worker and self.rec.stop_reason is None:
                        self._cond.wait(POLL_S)
                finally:
                    self._parked.pop(worker, None)
            if not waiting and self.rec.stop_reason is None:
                self.rec.emit(worker, Kind.RUN, SCHEDULER)
        finally:
            self.rec.unblocked(worker)

    def left(self, worker: str) -> None:
        """`worker` has ended: it will not park again."""
        with self._cond:
            self._ended.add(worker)
            self._arriving.discard(worker)
            if self._running == worker:
                self._running = None
            self._settled_ns = time.monotonic_ns()
            self._cond.notify_all()

    def has_left(self, worker: str) -> bool:
        return worker in self._ended

    # --- the scheduler's side ------------------------------------------------------
    def wait_settled(self, timeout: float) -> bool:
        """Until nobody runs: the last worker let through has parked or ended, and every
        new worker has reached its first gate. False if that took longer than `timeout`
        or the run was stopped."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while self._running is not None or self._arriving:
                left = deadline - time.monotonic()
                if left <= 0 or self.rec.stop_reason is not None:
                    return False
                self._cond.wait(min(left, POLL_S))
            return self.rec.stop_reason is None

    def pending(self) -> list[Pending]:
        """Every parked worker's next operation, in the order the workers appeared."""
        with self._cond:
            parked = dict(self._parked)
            order = list(self._order)
        return [
            Pending(
                worker, p.op, p.obj, p.ready() if p.ready is not None else True, p.waiting, p.file, p.line
            )
            for worker in order
            if (p := parked.get(worker)) is not None
        ]

    def step(self, worker: str, timeout: float) -> bool:
        """Let `worker` perform its one operation (and the untraced code after it), then
        wait until it has parked again or ended. False if it is still running after
        `timeout` (it may be stuck in untraced code). Raises `UnknownWorker`, or
        `CannotStep` for a finished worker or one whose wait cannot end yet."""
        with self._turn:
            self.wait_settled(timeout)
            with self._cond:
                parked = self._parked.get(worker)
                if parked is None:
                    self._refuse(worker)
                assert parked is not None
                if parked.waiting and parked.ready is not None and not parked.ready():
                    raise CannotStep(self._blocked_reason(worker, parked))
                self.schedule.append(worker)
                self.touched = time.monotonic()
                if self.skip_idle and self._running is None and not self._arriving:
                    # nobody has run since the last worker parked (or ended)
                    self.rec.skip(time.monotonic_ns() - self._settled_ns)
                self._running = worker
                self._cond.notify_all()
            return self.wait_settled(timeout)

    def stuck(self) -> bool:
        """Is every live worker in a wait that no step can end? (Nobody runs, every
        one has been stepped into its wait, none of them ready.) A worker in its wait
        whose wait could now end still counts as waiting in `rec.waiting_for` (it
        leaves its wait when stepped), so the watchdog asks this first."""
        with self._cond:
            if self._running is not None or self._arriving:
                return False
            live = [w for w in self._order if w not in self._ended]
            parked = [self._parked.get(w) for w in live]
            return bool(live) and all(
                p is not None and p.waiting and p.ready is not None and not p.ready() for p in parked
            )

    def live(self) -> list[str]:
        """Workers that have not ended, in the order they appeared."""
        with self._cond:
            return [w for w in self._order if w not in self._ended]

    def _refuse(self, worker: str) -> None:
        if worker in self._ended:
            raise CannotStep(f"{worker} has finished: it has no operation left to perform")
        if worker in self._order:
            raise CannotStep(f"{worker} is not at a gate yet (it is starting, or running); try again")
        if self.rec.stop_reason is not None:
            raise CannotStep(f"the run has been stopped ({self.rec.stop_reason})")
        known = ", ".join(w for w in self._order if w not in self._ended) or "none yet"
        raise UnknownWorker(f"no worker {worker!r} in this run; the live workers: {known}")

    def _blocked_reason(self, worker: str, parked: _Parked) -> str:
        holder = self.rec.owners.get(parked.obj)
        held = f", held by {holder}" if holder else ""
        return (
            f"{worker} is waiting in its {parked.op} of {parked.obj}{held}: it can go on only "
            "after another worker's step makes that possible; step another worker"
        )

    def _meet(self, worker: str) -> None:
        if worker not in self._order:
            self._order.append(worker)

    def _wake(self, _reason: str) -> None:
        with self._cond:
            self._cond.notify_all()


def _lesson_line(frame: FrameType | None) -> tuple[str, int]:
    """The first caller outside Interleave's own machinery: a line of the lesson."""
    while frame is not None:
        module = frame.f_globals.get("__name__", "")
        if not module.startswith(_OURS):
            return frame.f_code.co_filename, frame.f_lineno
        frame = frame.f_back
    return "", 0
