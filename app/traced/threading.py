"""Drop-in, traced versions of `threading`'s classes.

Scenario code imports this module *as* `threading` and reads exactly like the
tutorial; every blocking call records a measured `wait` (only when it really blocked)
and every hand-over names the worker that caused it (`link`).

Blocking calls wait in short slices (`POLL_S`, in `wait_in_slices`) rather than forever, so a cancelled run
(deadlock found, time limit) can end: each slice checks the recorder's stop flag. The
wake-up itself is still the real primitive's; slicing only bounds how long a stopped
run takes to notice.
"""

from __future__ import annotations

import contextlib
import threading as _threading
import time as _time
from collections import deque
from collections.abc import Callable, Iterable, Mapping
from types import TracebackType
from typing import Any

from librt.threading import Lock as Mutex
from mypy_extensions import i64

from app.timeline import Kind, LaneKind, joining
from app.tracing import (
    ACQUIRE_CODE,
    LEVEL_CODE,
    NOTIFY_CODE,
    RELEASE_CODE,
    RUN_CODE,
    Lane,
    Recorder,
    Stop,
    bind,
    current_lane,
    describe_error,
    here,
)

POLL_S = 0.05
START_WAIT_NS = 1_000_000  # a thread start slower than this shows as a wait on the starter's lane
_RECLAIM_S = 2.0  # how long a stopped Condition.wait tries to take its lock back


def wait_in_slices(
    rec: Recorder,
    me: str,
    obj: str,
    attempt: Callable[[float], bool],
    timeout: float | None,
    *,
    can_deadlock: bool = True,
    ready: Callable[[], bool] | None = None,
    op: str = "wait",
) -> bool:
    """Record a `wait` on `obj` and call `attempt(slice_s)` until it succeeds.

    Returns False if `timeout` (seconds; None or negative: forever) runs out first.
    Raises `Stop` if the run is cancelled while waiting. The caller records what
    ends the wait (state back to `run`, plus its own instant and link).
    `can_deadlock=False`: what ends this wait is not another lane of the run but the
    OS (a process exiting): the deadlock watchdog does not count it.
    Under a gate (step, replay, explore) with `ready` (can `attempt` succeed now?),
    the worker parks as waiting in `op` until it is stepped while ready: the schedule,
    not the clock, decides, so a timeout never runs out there.
    """
    gate = rec.gate
    if gate is not None and ready is not None:
        return _wait_gated(rec, me, obj, attempt, ready, op, can_deadlock)
    deadline = None if timeout is None or timeout < 0 else _time.monotonic() + timeout
    if deadline is None and can_deadlock:  # only an endless wait on the run's own lanes can deadlock
        rec.waiting_for[me] = obj
    rec.blocked(me)
    rec.emit(me, Kind.WAIT, obj)
    try:
        while True:
            slice_s = POLL_S if deadline is None else max(0.0, min(POLL_S, deadline - _time.monotonic()))
            if attempt(slice_s):
                return True
            rec.check()
            if deadline is not None and _time.monotonic() >= deadline:
                rec.emit(me, Kind.RUN, obj, detail="timed out")
                return False
    finally:
        rec.waiting_for.pop(me, None)
        rec.unblocked(me)


def no_longer_waiting(rec: Recorder, worker: str, obj: str) -> None:
    """`worker`, waiting for `obj`, has just been woken: the deadlock watchdog no longer
    counts it as waiting (its wait ends as soon as the OS runs it)."""
    if rec.waiting_for.get(worker) == obj:  # not a wait it has begun since
        rec.waiting_for.pop(worker, None)


def _wait_gated(
    rec: Recorder,
    me: str,
    obj: str,
    attempt: Callable[[float], bool],
    ready: Callable[[], bool],
    op: str,
    can_deadlock: bool,
) -> bool:
    """`wait_in_slices` under a gate: the `wait` is drawn as usual, then the worker
    parks until a step lets it try again (a step is only allowed once `ready`)."""
    gate = rec.gate
    assert gate is not None
    if can_deadlock:
        rec.waiting_for[me] = obj  # the watchdog finds a cycle stepped into, as in a free run
    rec.emit(me, Kind.WAIT, obj)
    try:
        while True:
            gate.before(me, op, obj, ready=ready, waiting=True)
            rec.check()
            # Ready, and nobody else runs: this succeeds at once (a join waits for the
            # last instructions of a thread that has said its last word).
            if attempt(POLL_S):
                return True
    finally:
        rec.waiting_for.pop(me, None)


def excepthook(args: _threading.ExceptHookArgs) -> None:
    """The default `threading.excepthook`, traced: it reports the error and stops
    nothing else. What the real one prints to stderr goes to the run's output, on the
    crashing thread's lane."""
    rec, me = here()
    thread = args.thread.name if args.thread is not None else me
    error = describe_error(args.exc_value) if args.exc_value is not None else str(args.exc_type)
    rec.emit(me, Kind.PRINT, "stderr", detail=f"Exception in thread {thread}: {error}")


class Thread(_threading.Thread):
    """`threading.Thread` that draws a lane: `start` when started, `run` while its
    target runs, then `done` or `crash` (with the error).

    A subclass of the stdlib's Thread, so a Python class even when compiled (mypyc
    makes every class with a Python base one)."""

    def __init__(
        self,
        group: None = None,
        target: Callable[..., object] | None = None,
        name: str | None = None,
        args: Iterable[Any] = (),
        kwargs: Mapping[str, Any] | None = None,
        *,
        daemon: bool | None = None,
    ) -> None:
        rec, _ = here()
        self._recorder = rec
        # Daemon so that a run the server gave up on can never block its shutdown.
        super().__init__(
            target=target, name=rec.new_lane("Thread", name), args=args, kwargs=kwargs, daemon=True
        )
        self.error: BaseException | None = None
        self._code = getattr(target, "__code__", None)  # where a gated thread's first step stands
        rec.track_thread(self)

    def start(self) -> None:
        """Start the thread. The real start() waits until the new thread signals that
        it runs; when other threads hold the interpreter that takes a while, and the
        caller's lane shows it as a wait (drawn only if it lasted `START_WAIT_NS`)."""
        rec, me = here()
        rec.check()
        gate = rec.gate
        if gate is not None:
            gate.before(me, "start", self.name)
            gate.arriving(self.name)  # nobody else goes until it has reached its first gate
        rec.start_lane(self.name, LaneKind.THREAD)
        rec.blocked(me)  # first: what the CPU sampler settles on this lane lands before `began`
        began = rec.now()
        try:
            super().start()
        finally:
            rec.unblocked(me)
        if rec.now() - began >= START_WAIT_NS and gate is None:  # gated: the steps decide, not the OS
            obj = f"start {self.name}"
            rec.emit_at(began, me, Kind.WAIT, obj)  # nothing else was recorded on this lane since
            rec.emit(me, Kind.RUN, obj, link=self.name)

    def run(self) -> None:
        try:
            with bind(self._recorder, self.name, LaneKind.THREAD):
                try:
                    if (gate := self._recorder.gate) is not None:
                        # Its first step: the start of its target (the `def` line).
                        code = self._code
                        where = (code.co_filename, code.co_firstlineno) if code is not None else None
                        gate.before(self.name, "begin", where=where)
                    super().run()
                except Stop:
                    raise
                except BaseException as error:
                    # What the real Thread does with an uncaught error: hand it to
                    # threading.excepthook, in this thread, then end this thread only.
                    self.error = error
                    excepthook(_threading.ExceptHookArgs((type(error), error, error.__traceback__, self)))
                    raise
        except BaseException:  # Stop, or the error: the lane already shows how it ended
            pass

    def join(self, timeout: float | None = None) -> None:
        rec, me = here()
        rec.check()  # like every traced call: a stopped run's program unwinds here
        obj = joining(self.name)
        if (gate := rec.gate) is not None:
            gate.before(me, "join", obj, ready=self._has_ended)
            if self._has_ended():  # only its OS exit is left: no wait, no extra step
                super().join()
                return
        if not self.is_alive():
            super().join()
            return
        if wait_in_slices(rec, me, obj, self._ended_within, timeout, ready=self._has_ended, op="join"):
            rec.emit(me, Kind.RUN, obj, link=self.name)

    def _ended_within(self, slice_s: float) -> bool:
        _threading.Thread.join(self, slice_s)
        return not self.is_alive()

    def _has_ended(self) -> bool:
        """Under a gate: has it said its last word? (The OS thread ends just after.)"""
        gate = self._recorder.gate
        return gate is not None and gate.has_left(self.name)


class Acquirable:
    """`with obj:` for anything with acquire() and release(), as the stdlib's locks
    and semaphores offer it."""

    def acquire(self, blocking: bool = True, timeout: float | None = -1) -> bool:
        raise NotImplementedError

    def release(self) -> None:
        raise NotImplementedError

    def __enter__(self) -> bool:
        return self.acquire()

    def __exit__(
        self, kind: type[BaseException] | None, value: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.release()


class Lock(Acquirable):
    """`threading.Lock` that records waits, holds and who handed it over.

    The uncontended path records only `acquire`: no wait is drawn when nobody held it.
    It is a try of a native mutex and one event: no bytecode, so (compiled) the
    interpreter cannot switch threads while a traced lock is held any more often than
    while a plain one is. A wait sleeps on `_wakeup` in slices; a release wakes one
    sleeper if there is any.
    """

    _prefix = "Lock"

    def __init__(self, *, name: str | None = None) -> None:
        lane = current_lane()
        rec = lane.recorder
        self.name = name or rec.new_name(self._prefix)
        self._rec = rec  # the run whose string table `_obj` is an id in
        self._obj: i64 = rec.intern(self.name)
        self._mutex = Mutex()
        self._wakeup = _threading.Condition(_threading.Lock())
        self._sleepers: i64 = 0  # waiters asleep on `_wakeup` (changed under its lock)
        self._last_releaser: Lane | None = None
        self._owner = ""  # the holder's lane name; only the holder writes it
        rec.track_exclusive(self)  # the watchdog reads who holds it from `holder`

    @property
    def holder(self) -> str:
        """The lane holding it, or "" (read by the deadlock watchdog)."""
        return self._owner

    def _obj_in(self, rec: Recorder) -> i64:
        """Its name's id in `rec` (a lock outliving its run is re-interned)."""
        if rec is not self._rec:
            self._rec = rec
            self._obj = rec.intern(self.name)
        return self._obj

    def acquire(self, blocking: bool = True, timeout: float | None = -1) -> bool:
        lane = current_lane()
        rec = lane.recorder
        rec.check()
        if (gate := rec.gate) is not None:
            gate.before(lane.name, "acquire", self.name, ready=self._free)
        obj = self._obj_in(rec)
        if not self._mutex.acquire(False):
            if not blocking or not wait_in_slices(
                rec, lane.name, self.name, self._attempt, timeout, ready=self._free, op="acquire"
            ):
                return False
            # The link: whoever released last before we got it (that release woke us).
            lane.record(RUN_CODE, obj, None, lane.link_to(self._last_releaser))
        self._owner = lane.name
        lane.record(ACQUIRE_CODE, obj)
        return True

    def _attempt(self, slice_s: float) -> bool:
        """Sleep until a release wakes us or the slice ends, then try once more."""
        with self._wakeup:
            self._sleepers += 1  # before the try: a release after it sees us and wakes us
            try:
                if self._mutex.acquire(False):
                    return True
                self._wakeup.wait(slice_s)
                return self._mutex.acquire(False)
            finally:
                self._sleepers -= 1

    def _wake_one(self) -> None:
        if self._sleepers:
            with self._wakeup:
                self._wakeup.notify()

    def _free(self) -> bool:
        """Could the calling worker take it now? (Asked by a gate's scheduler.)"""
        return self._owner == ""

    def release(self) -> None:
        lane = current_lane()
        if (gate := lane.recorder.gate) is not None:
            gate.before(lane.name, "release", self.name)
        if not self._mutex.locked():
            raise RuntimeError("release unlocked lock")
        self._owner = ""
        lane.record(RELEASE_CODE, self._obj_in(lane.recorder))
        self._last_releaser = lane  # before the real release: the next owner reads it
        self._mutex.release()
        self._wake_one()

    def locked(self) -> bool:
        return self._mutex.locked()

    # --- the protocol Condition uses (the same three methods as the stdlib's) -------
    def _is_owned(self) -> bool:
        return self._owner == current_lane().name

    def _release_save(self) -> int:
        """Release completely (for `Condition.wait`); returns what `_acquire_restore` needs."""
        self.release()
        return 1

    def _acquire_restore(self, state: int) -> None:
        self.acquire()

    def _reclaim_after_stop(self, state: int) -> bool:
        """Take the lock back, untraced and bounded, for a `Condition.wait` that a stop
        interrupted: the caller's `with` block will release it while unwinding, and the
        other workers are unwinding too, so whoever holds it lets go soon."""
        deadline = _time.monotonic() + _RECLAIM_S
        while not self._attempt(max(0.0, min(POLL_S, deadline - _time.monotonic()))):
            if _time.monotonic() >= deadline:
                return False
        lane = current_lane()
        self._owner = lane.name
        lane.record(ACQUIRE_CODE, self._obj_in(lane.recorder))
        return True

    def __repr__(self) -> str:
        return f"<traced {self._prefix} {self.name}>"


class RLock(Lock):
    """`threading.RLock`: the holder may take it again without blocking; it is free
    once released as many times as acquired.

    `acquire` records the depth it reached as `detail` and `release` the depth left,
    so the page draws one hold from the outermost acquire to the last release.
    Another worker's wait is linked to the release that freed it, as for `Lock`.
    The mutex is taken once, by the outermost acquire; the depth is ours.
    """

    _prefix = "RLock"

    def __init__(self, *, name: str | None = None) -> None:
        super().__init__(name=name)
        self._depth = 0

    def acquire(self, blocking: bool = True, timeout: float | None = -1) -> bool:
        lane = current_lane()
        rec = lane.recorder
        rec.check()
        me = lane.name
        if (gate := rec.gate) is not None:
            gate.before(me, "acquire", self.name, ready=lambda: self._owner in ("", me))
        obj = self._obj_in(rec)
        if self._owner == me:  # re-entry: the real RLock never blocks its holder
            self._depth += 1
            lane.record(ACQUIRE_CODE, obj, self._depth)
            return True
        if not self._mutex.acquire(False):
            if not blocking or not wait_in_slices(
                rec, lane.name, self.name, self._attempt, timeout, ready=self._free, op="acquire"
            ):
                return False
            lane.record(RUN_CODE, obj, None, lane.link_to(self._last_releaser))
        self._owner, self._depth = lane.name, 1
        lane.record(ACQUIRE_CODE, obj, 1)
        return True

    def release(self) -> None:
        lane = current_lane()
        if self._owner != lane.name:
            raise RuntimeError("cannot release un-acquired lock")
        if (gate := lane.recorder.gate) is not None:
            gate.before(lane.name, "release", self.name)
        self._depth -= 1
        lane.record(RELEASE_CODE, self._obj_in(lane.recorder), self._depth)
        if self._depth == 0:
            self._owner = ""
            self._last_releaser = lane
            self._mutex.release()
            self._wake_one()

    def locked(self) -> bool:
        return self._owner != ""

    def _release_save(self) -> int:
        lane = current_lane()
        if self._owner != lane.name:
            raise RuntimeError("cannot release un-acquired lock")
        if (gate := lane.recorder.gate) is not None:
            gate.before(lane.name, "release", self.name)
        depth, self._depth = self._depth, 0
        self._owner = ""
        lane.record(RELEASE_CODE, self._obj_in(lane.recorder), 0)
        self._last_releaser = lane
        self._mutex.release()
        self._wake_one()
        return depth

    def _acquire_restore(self, state: int) -> None:
        self.acquire()
        self._depth = state
        if state > 1:
            lane = current_lane()
            lane.record(ACQUIRE_CODE, self._obj_in(lane.recorder), state)

    def _reclaim_after_stop(self, state: int) -> bool:
        if not super()._reclaim_after_stop(state):
            return False
        self._depth = state
        return True


class Semaphore(Acquirable):
    """`threading.Semaphore`: K slots. Records `acquire`/`release` per slot, a `wait`
    only when every slot was taken, the releaser that freed a slot for a waiter
    (`link`), and the number of free slots over time (`level`, obj = its name).

    Every change of the count and its event are made under one internal mutex, so the
    recorded order is the real order: counting acquires minus releases over the
    events gives the true number of holders at every instant.
    """

    _prefix = "Semaphore"

    def __init__(self, value: int = 1, *, name: str | None = None) -> None:
        if value < 0:
            raise ValueError("semaphore initial value must be >= 0")
        lane = current_lane()
        rec = lane.recorder
        self.name = name or rec.new_name(self._prefix)
        self._mutex = Mutex()
        self._cond = _threading.Condition(self._mutex)  # type: ignore[arg-type]  # any lock will do  # waiters sleep here
        self._value = value
        self._sleepers: i64 = 0
        self._last_releaser: Lane | None = None
        lane.record(LEVEL_CODE, rec.intern(self.name), value)

    def acquire(self, blocking: bool = True, timeout: float | None = None) -> bool:
        lane = current_lane()
        rec = lane.recorder
        rec.check()
        if (gate := rec.gate) is not None:
            gate.before(lane.name, "acquire", self.name, ready=self._has_slot)
        obj = rec.intern(self.name)
        mutex = self._mutex
        mutex.acquire()
        try:
            if self._value > 0:
                self._take(lane, obj)
                return True
        finally:
            mutex.release()
        if not blocking:
            return False

        def attempt(slice_s: float) -> bool:
            with self._cond:
                self._sleepers += 1
                try:
                    if not self._cond.wait_for(lambda: self._value > 0, slice_s):
                        return False
                finally:
                    self._sleepers -= 1
                lane.record(RUN_CODE, obj, None, lane.link_to(self._last_releaser))
                self._take(lane, obj)
                return True

        return wait_in_slices(rec, lane.name, self.name, attempt, timeout, ready=self._has_slot, op="acquire")

    def _has_slot(self) -> bool:
        return self._value > 0

    def _take(self, lane: Lane, obj: i64) -> None:
        self._value -= 1
        lane.record(ACQUIRE_CODE, obj)
        lane.record(LEVEL_CODE, obj, self._value)

    def release(self, n: int = 1) -> None:
        if n < 1:
            raise ValueError("n must be one or more")
        lane = current_lane()
        if (gate := lane.recorder.gate) is not None:
            gate.before(lane.name, "release", self.name)
        obj = lane.recorder.intern(self.name)
        mutex = self._mutex
        mutex.acquire()
        try:
            self._check_release(n)
            self._value += n
            self._last_releaser = lane
            lane.record(RELEASE_CODE, obj)
            lane.record(LEVEL_CODE, obj, self._value)
            if self._sleepers:
                self._cond.notify(n)
        finally:
            mutex.release()

    def _check_release(self, n: int) -> None:
        """BoundedSemaphore refuses to grow past its initial value."""

    def __repr__(self) -> str:
        return f"<traced {self._prefix} {self.name} value={self._value}>"


class BoundedSemaphore(Semaphore):
    """`threading.BoundedSemaphore`: releasing more often than acquired is a
    `ValueError` instead of silently adding a slot."""

    _prefix = "BoundedSemaphore"

    def __init__(self, value: int = 1, *, name: str | None = None) -> None:
        super().__init__(value, name=name)
        self._initial = value

    def _check_release(self, n: int) -> None:
        if self._value + n > self._initial:
            raise ValueError("Semaphore released too many times")


class _Waiter:
    """One blocked `Condition.wait`: a raw lock created held, released to wake it."""

    __slots__ = ("gate", "woken_by", "worker")

    def __init__(self, worker: Lane) -> None:
        self.worker = worker
        self.woken_by: Lane | None = None
        self.gate = _threading.Lock()
        self.gate.acquire()


class Condition(Acquirable):
    """`threading.Condition` over a traced `Lock` or `RLock` (default: a new RLock).

    `wait` releases the lock (a `release` on the lane), records a `wait` on the
    condition, and on wake-up a `run` whose `link` is the worker whose `notify` woke
    it; then it takes the lock back (which may wait again, linked to that lock's
    releaser). `notify` records a `notify` instant whose detail lists the lanes it
    woke (an empty list: nobody was waiting, the signal is lost).
    """

    _prefix = "Condition"

    def __init__(self, lock: Lock | None = None, *, name: str | None = None) -> None:
        rec = current_lane().recorder
        self.name = name or rec.new_name(self._prefix)
        self._lock = lock if lock is not None else RLock(name=f"{self.name}.lock")
        self._waiters: deque[_Waiter] = deque()

    def acquire(self, blocking: bool = True, timeout: float | None = -1) -> bool:
        return self._lock.acquire(blocking, timeout)

    def release(self) -> None:
        self._lock.release()

    def wait(self, timeout: float | None = None) -> bool:
        lane = current_lane()
        rec = lane.recorder
        rec.check()
        if not self._lock._is_owned():
            raise RuntimeError("cannot wait on un-acquired lock")
        waiter = _Waiter(lane)
        self._waiters.append(waiter)
        saved = self._lock._release_save()
        try:
            woke = wait_in_slices(
                rec,
                lane.name,
                self.name,
                lambda s: waiter.gate.acquire(True, s),
                timeout,
                ready=lambda: not waiter.gate.locked(),
            )
            if woke:
                lane.record(RUN_CODE, rec.intern(self.name), None, lane.link_to(waiter.woken_by))
            self._lock._acquire_restore(saved)
        except Stop:
            self._discard(waiter)
            self._lock._reclaim_after_stop(saved)
            raise
        if not woke:
            self._discard(waiter)
        return woke

    def _discard(self, waiter: _Waiter) -> None:
        with contextlib.suppress(ValueError):  # a notify took it already
            self._waiters.remove(waiter)

    def wait_for(self, predicate: Callable[[], Any], timeout: float | None = None) -> Any:
        deadline = None if timeout is None else _time.monotonic() + timeout
        result = predicate()
        while not result:
            left = None
            if deadline is not None:
                left = deadline - _time.monotonic()
                if left <= 0:
                    break
            self.wait(left)
            result = predicate()
        return result

    def notify(self, n: int = 1) -> None:
        lane = current_lane()
        if self._lock.holder != lane.name:
            raise RuntimeError("cannot notify on un-acquired lock")
        rec = lane.recorder
        if (gate := rec.gate) is not None:
            gate.before(lane.name, "notify", self.name)
        woken: list[_Waiter] = []
        while self._waiters and len(woken) < n:
            waiter = self._waiters.popleft()
            waiter.woken_by = lane
            woken.append(waiter)
        # Recorded before the gates open, so the notify precedes every wake-up it causes.
        lane.record(NOTIFY_CODE, lane.recorder.intern(self.name), [w.worker.name for w in woken])
        for waiter in woken:
            # woken: it waits for a core now, not for a lane of the run (the watchdog
            # must not count it stuck if the OS is slow to run it)
            no_longer_waiting(rec, waiter.worker.name, self.name)
            waiter.gate.release()

    def notify_all(self) -> None:
        self.notify(len(self._waiters))

    def __repr__(self) -> str:
        return f"<traced {self._prefix} {self.name}>"


class Event:
    """`threading.Event`: `wait` records a `wait` only if the flag is not yet set;
    the wake-up links to the worker that called `set` (a `notify` on its lane).

    The flag is a plain attribute: `is_set`, and `wait` on a set flag, run no
    bytecode. Waiters sleep on `_cond`; `set` wakes them only if there are any.
    """

    _prefix = "Event"

    def __init__(self, *, name: str | None = None) -> None:
        rec = current_lane().recorder
        self.name = name or rec.new_name(self._prefix)
        self._flag = False
        self._cond = _threading.Condition(_threading.Lock())
        self._setter: Lane | None = None
        self._waiting: set[str] = set()  # changed before a waiter looks at the flag

    def is_set(self) -> bool:
        return self._flag

    def set(self) -> None:
        lane = current_lane()
        if (gate := lane.recorder.gate) is not None:
            gate.before(lane.name, "set", self.name)
        self._setter = lane
        lane.record(NOTIFY_CODE, lane.recorder.intern(self.name), sorted(self._waiting))
        self._flag = True  # then look for waiters: one added before this sees the flag
        if self._waiting:
            with self._cond:
                self._cond.notify_all()

    def clear(self) -> None:
        self._flag = False

    def wait(self, timeout: float | None = None) -> bool:
        lane = current_lane()
        rec = lane.recorder
        rec.check()
        if (gate := rec.gate) is not None:
            gate.before(lane.name, "wait", self.name, ready=self.is_set)
        if self._flag:
            return True

        def attempt(slice_s: float) -> bool:
            with self._cond:
                return self._cond.wait_for(lambda: self._flag, slice_s)

        self._waiting.add(lane.name)
        try:
            if not wait_in_slices(rec, lane.name, self.name, attempt, timeout, ready=self.is_set):
                return False
        finally:
            self._waiting.discard(lane.name)
        lane.record(RUN_CODE, rec.intern(self.name), None, lane.link_to(self._setter))
        return True

    def __repr__(self) -> str:
        return f"<traced {self._prefix} {self.name} set={self.is_set()}>"


BrokenBarrierError = _threading.BrokenBarrierError
current_thread = _threading.current_thread  # a traced Thread's name is its lane


class Barrier:
    """`threading.Barrier(parties, action=None, timeout=None)`.

    Every arrival but the last records a `wait`; the last one runs `action`, records a
    `notify` (detail: the phase number that ends) and releases them all, each wake-up
    linked to it: the release instant is one fan of arrows across the lanes. How many
    workers are waiting is drawn as a `level` gauge (obj = its name).
    """

    _prefix = "Barrier"

    def __init__(
        self,
        parties: int,
        action: Callable[[], object] | None = None,
        timeout: float | None = None,
        *,
        name: str | None = None,
    ) -> None:
        if parties < 1:
            raise ValueError("parties must be >= 1")
        rec, me = here()
        self.name = name or rec.new_name(self._prefix)
        self._parties = parties
        self._action = action
        self._timeout = timeout
        self._cond = _threading.Condition(_threading.Lock())
        self._count = 0
        self._phase = 0
        self._broken = False
        # How each phase ended, for the workers that waited in it: released or broken.
        self._ended: dict[int, bool] = {}
        self._releaser = ""
        rec.emit(me, Kind.LEVEL, self.name, detail=0)

    @property
    def parties(self) -> int:
        return self._parties

    @property
    def n_waiting(self) -> int:
        return self._count

    @property
    def broken(self) -> bool:
        return self._broken

    def wait(self, timeout: float | None = None) -> int:
        rec, me = here()
        rec.check()
        if (gate := rec.gate) is not None:
            gate.before(me, "wait", self.name)
        timeout = self._timeout if timeout is None else timeout
        with self._cond:
            if self._broken:
                raise BrokenBarrierError
            index = self._count
            phase = self._phase
            self._count += 1
            rec.emit(me, Kind.LEVEL, self.name, detail=self._count)
            last = self._count == self._parties
        if last:
            self._release_all(rec, me)
            return index

        def attempt(slice_s: float) -> bool:
            with self._cond:
                return self._cond.wait_for(lambda: phase in self._ended, slice_s)

        try:
            ended = wait_in_slices(rec, me, self.name, attempt, timeout, ready=lambda: phase in self._ended)
        except Stop:
            self.abort()
            raise
        with self._cond:
            if not ended:  # timed out: like the stdlib, that breaks the barrier
                self._break()
            released = self._ended.get(phase, False)
        if not released:
            raise BrokenBarrierError
        rec.emit(me, Kind.RUN, self.name, link=self._releaser)
        return index

    def _release_all(self, rec: Recorder, me: str) -> None:
        if self._action is not None:
            try:
                self._action()
            except BaseException:
                self.abort()
                raise
        with self._cond:
            self._releaser = me
            rec.emit(me, Kind.NOTIFY, self.name, detail=self._phase + 1)
            self._ended[self._phase] = True
            self._phase += 1
            self._count = 0
            rec.emit(me, Kind.LEVEL, self.name, detail=0)
            self._cond.notify_all()

    def _break(self) -> None:
        """Under `_cond`: everyone waiting in this phase gets BrokenBarrierError."""
        self._broken = True
        self._ended.setdefault(self._phase, False)
        self._cond.notify_all()

    def abort(self) -> None:
        with self._cond:
            self._break()

    def reset(self) -> None:
        with self._cond:
            if self._count:
                self._ended.setdefault(self._phase, False)
            self._phase += 1
            self._count = 0
            self._broken = False
            self._cond.notify_all()

    def __repr__(self) -> str:
        return f"<traced {self._prefix} {self.name} {self._count}/{self._parties}>"


__all__ = [
    "Barrier",
    "BoundedSemaphore",
    "BrokenBarrierError",
    "Condition",
    "Event",
    "Lock",
    "RLock",
    "Semaphore",
    "Thread",
    "current_thread",
    "excepthook",
    "wait_in_slices",
]
