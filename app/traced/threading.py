"""Drop-in, traced versions of `threading`'s classes.

Scenario code imports this module *as* `threading` and reads exactly like the
tutorial; every blocking call records a measured `wait` (only when it really blocked)
and every hand-over names the worker that caused it (`link`).

Blocking calls wait in short slices (`POLL_S`) rather than forever, so a cancelled run
(deadlock found, time limit) can end: each slice checks the recorder's stop flag. The
wake-up itself is still the real primitive's; slicing only bounds how long a stopped
run takes to notice.
"""

from __future__ import annotations

import threading as _threading
import time as _time
from collections.abc import Callable, Iterable, Mapping
from types import TracebackType
from typing import Any

from app.timeline import Kind, LaneKind
from app.tracing import Recorder, Stop, bind, describe_error, here

POLL_S = 0.05


def block(rec: Recorder, me: str, obj: str, attempt: Callable[[float], bool], timeout: float | None) -> bool:
    """Record a `wait` on `obj` and call `attempt(slice_s)` until it succeeds.

    Returns False if `timeout` (seconds; None or negative: forever) runs out first.
    Raises `Stop` if the run is cancelled while waiting. The caller records what
    ends the wait (state back to `run`, plus its own instant and link).
    """
    deadline = None if timeout is None or timeout < 0 else _time.monotonic() + timeout
    rec.waiting_for[me] = obj
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


class Thread(_threading.Thread):
    """`threading.Thread` that draws a lane: `start` when started, `run` while its
    target runs, then `done` or `crash` (with the error)."""

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
            target=target, name=name or rec.new_lane("Thread"), args=args, kwargs=kwargs, daemon=True
        )
        self.error: BaseException | None = None

    def start(self) -> None:
        self._recorder.emit(self.name, Kind.START, detail=str(LaneKind.THREAD))
        super().start()

    def run(self) -> None:
        try:
            with bind(self._recorder, self.name, LaneKind.THREAD):
                super().run()
        except Stop:
            pass
        except BaseException as error:  # the lane already shows the crash
            self.error = error

    def join(self, timeout: float | None = None) -> None:
        rec, me = here()
        if not self.is_alive():
            super().join()
            return
        obj = f"join {self.name}"

        def attempt(slice_s: float) -> bool:
            super(Thread, self).join(slice_s)
            return not self.is_alive()

        if block(rec, me, obj, attempt, timeout):
            rec.emit(me, Kind.RUN, obj, link=self.name)


class Lock:
    """`threading.Lock` that records waits, holds and who handed it over.

    The uncontended path records only `acquire`: no wait is drawn when nobody held it.
    """

    _prefix = "Lock"

    def __init__(self, *, name: str | None = None) -> None:
        rec, _ = here()
        self._recorder = rec
        self.name = name or rec.new_name(self._prefix)
        self._lock = _threading.Lock()
        self._last_releaser = ""

    def acquire(self, blocking: bool = True, timeout: float = -1) -> bool:
        rec, me = here()
        rec.check()
        if not self._lock.acquire(False):
            if not blocking or not block(rec, me, self.name, self._attempt, timeout):
                return False
            # The link: whoever released last before we got it (that release woke us).
            rec.emit(me, Kind.RUN, self.name, link=self._last_releaser)
        rec.owners[self.name] = me
        rec.emit(me, Kind.ACQUIRE, self.name)
        return True

    def _attempt(self, slice_s: float) -> bool:
        return self._lock.acquire(True, slice_s)

    def release(self) -> None:
        rec, me = here()
        rec.owners.pop(self.name, None)
        rec.emit(me, Kind.RELEASE, self.name)
        self._last_releaser = me  # before the real release: the next owner reads it
        self._lock.release()

    def locked(self) -> bool:
        return self._lock.locked()

    def __enter__(self) -> bool:
        return self.acquire()

    def __exit__(
        self, kind: type[BaseException] | None, value: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.release()

    def __repr__(self) -> str:
        return f"<traced {self._prefix} {self.name}>"


__all__ = ["Lock", "Thread", "block", "describe_error"]
