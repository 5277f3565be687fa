"""Traced `asyncio`: every task a lane, on the one thread that runs the event loop.

Scenario code imports this module *as* `asyncio` and reads like plain asyncio::

    async def fetch(seconds): await asyncio.sleep(seconds)
    async def fetch_all(): await asyncio.gather(fetch(0.2), fetch(0.2))
    asyncio.run(fetch_all())

Structure:
- `run(coro)` runs an event loop in the calling thread; the top coroutine runs as the
  caller's own lane (main). Each task the program makes (`create_task`, or a coroutine
  handed to `gather`) is a lane of kind "task", under the current band.
- `_Steps` wraps a task's coroutine: each step (each time the loop resumes it) binds
  the thread to the task's lane (`rebind`), so traced calls inside a coroutine record
  on its lane, a blocking one included. The lane ends in `done` when the coroutine
  returns, `crash` when it raises, `done` ("cancelled") when it is cancelled.
- `sleep`, `Queue` and `Lock` record like their threading twins: `io` for a sleep,
  `wait` only when a get, put or acquire has to wait, links to who handed over. A
  sleep that ended but was resumed late (the loop's thread was held, e.g. by a blocking
  call in another coroutine) shows a `wait` on "event loop" from when it was due until
  it ran: the stall, measured.
- A stopped run cancels the top task from the stopping thread (thread-safely): every
  task unwinds with CancelledError and `run` raises Stop.
"""

from __future__ import annotations

import asyncio as _asyncio
import collections.abc
import contextlib
from collections.abc import Awaitable, Coroutine, Generator
from typing import Any, TypeVar

from app.timeline import Kind, LaneKind
from app.tracing import Recorder, Stop, describe_error, here, rebind

T = TypeVar("T")
LOOP = "event loop"  # what a ready task waits for while the loop's thread is busy elsewhere
LATE_NS = 1_000_000  # a resume later than this after it was due is drawn as a wait for the loop
CancelledError = _asyncio.CancelledError


class _Steps(collections.abc.Coroutine):  # type: ignore[type-arg]
    """A task's coroutine, run one step at a time on its own lane."""

    def __init__(self, coro: Coroutine[Any, Any, Any], rec: Recorder, lane: str) -> None:
        self._coro = coro
        self._rec = rec
        self._lane = lane
        self._binding = rec.binding(lane)
        self._started = False
        self.__qualname__ = getattr(coro, "__qualname__", lane)

    def send(self, value: Any) -> Any:
        return self._step(self._coro.send, value)

    def throw(self, *error: Any) -> Any:
        return self._step(self._coro.throw, *error)

    def close(self) -> None:
        self._coro.close()

    def __await__(self) -> Generator[Any, None, Any]:
        return self._coro.__await__()

    def _step(self, advance: Any, *args: Any) -> Any:
        rec, lane = self._rec, self._lane
        previous = rebind(self._binding)
        try:
            if not self._started:
                self._started = True
                rec.emit(lane, Kind.RUN)
            return advance(*args)
        except StopIteration:
            rec.emit(lane, Kind.DONE)
            raise
        except (CancelledError, Stop):
            reason = rec.stop_reason
            rec.emit(lane, Kind.DONE, detail=f"stopped: {reason}" if reason else "cancelled")
            raise
        except BaseException as error:
            rec.emit(lane, Kind.CRASH, detail=describe_error(error))
            raise
        finally:
            rebind(previous)


def run(main: Coroutine[Any, Any, T]) -> T:
    """`asyncio.run`: an event loop in this thread until `main` is done."""
    rec, _ = here()
    rec.check()

    async def supervised() -> T:
        task = _asyncio.current_task()
        loop = _asyncio.get_running_loop()
        assert task is not None

        def cancel(reason: str) -> None:
            with contextlib.suppress(RuntimeError):  # the loop has closed: nothing left to stop
                loop.call_soon_threadsafe(task.cancel)

        rec.on_stop(cancel)
        return await main

    try:
        return _asyncio.run(supervised())
    except CancelledError:
        if rec.stop_reason is not None:
            raise Stop(rec.stop_reason) from None
        raise


def create_task(coro: Coroutine[Any, Any, T], *, name: str | None = None) -> _asyncio.Task[T]:
    """`asyncio.create_task`: the task gets a lane (Task-1, or `name`)."""
    rec, _ = here()
    rec.check()
    lane = rec.new_lane("Task", name)
    rec.start_lane(lane, LaneKind.TASK)
    return _asyncio.get_running_loop().create_task(_Steps(coro, rec, lane), name=lane)


def gather(*aws: Awaitable[Any], return_exceptions: bool = False) -> Coroutine[Any, Any, list[Any]]:
    """`asyncio.gather`: coroutines become tasks (lanes) now, as with the real one; the
    awaiting lane waits on "gather" until the last one is done (it links to it)."""
    rec, me = here()
    futures = [create_task(aw) if _asyncio.iscoroutine(aw) else _asyncio.ensure_future(aw) for aw in aws]
    finished: list[str] = []
    for future in futures:
        future.add_done_callback(
            lambda f: finished.append(f.get_name() if isinstance(f, _asyncio.Task) else "")
        )

    async def gathered() -> list[Any]:
        rec.check()
        if all(f.done() for f in futures):
            return list(await _asyncio.gather(*futures, return_exceptions=return_exceptions))
        rec.blocked(me)
        rec.emit(me, Kind.WAIT, "gather")
        try:
            results = await _asyncio.gather(*futures, return_exceptions=return_exceptions)
        finally:
            rec.unblocked(me)
        rec.emit(me, Kind.RUN, "gather", link=finished[-1] if finished else "")
        return list(results)

    return gathered()


async def sleep(delay: float, result: T | None = None) -> T | None:
    """`asyncio.sleep`, drawn as `io`; if the loop resumes it late, the lateness is
    drawn as a `wait` on the event loop."""
    rec, me = here()
    rec.check()
    rec.blocked(me)
    rec.emit(me, Kind.IO, "asyncio.sleep")
    due = rec.now() + int(max(delay, 0) * 1e9)
    try:
        await _asyncio.sleep(delay)
    finally:
        rec.unblocked(me)
    if rec.now() - due > LATE_NS:
        rec.emit_at(due, me, Kind.WAIT, LOOP, detail="ready, but the loop's thread was busy")
    rec.emit(me, Kind.RUN)
    return result


class Lock:
    """`asyncio.Lock`: records waits, holds and who handed it over."""

    def __init__(self, *, name: str | None = None) -> None:
        rec, _ = here()
        self.name = name or rec.new_name("Lock")
        self._lock = _asyncio.Lock()
        self._last_releaser = ""

    def locked(self) -> bool:
        return self._lock.locked()

    async def acquire(self) -> bool:
        rec, me = here()
        rec.check()
        if self._lock.locked():
            rec.blocked(me)
            rec.emit(me, Kind.WAIT, self.name)
            try:
                await self._lock.acquire()
            finally:
                rec.unblocked(me)
            rec.emit(me, Kind.RUN, self.name, link=self._last_releaser)
        else:
            await self._lock.acquire()
        rec.emit(me, Kind.ACQUIRE, self.name)
        return True

    def release(self) -> None:
        rec, me = here()
        rec.emit(me, Kind.RELEASE, self.name)
        self._last_releaser = me
        self._lock.release()

    async def __aenter__(self) -> None:
        await self.acquire()

    async def __aexit__(self, *exc: object) -> None:
        self.release()


class Queue:
    """`asyncio.Queue(maxsize=0)`: `put`/`get` instants, a `wait` only when they have to
    wait, the queue's size over time (`level`); each `get` links to the item's putter."""

    def __init__(self, maxsize: int = 0, *, name: str | None = None) -> None:
        rec, me = here()
        self.name = name or rec.new_name("Queue")
        self._q: _asyncio.Queue[tuple[Any, str]] = _asyncio.Queue(maxsize)
        self._last_getter = ""
        rec.emit(me, Kind.LEVEL, self.name, detail=0)

    def qsize(self) -> int:
        return self._q.qsize()

    def empty(self) -> bool:
        return self._q.empty()

    def full(self) -> bool:
        return self._q.full()

    async def put(self, item: Any) -> None:
        rec, me = here()
        rec.check()
        if self._q.full():
            rec.blocked(me)
            rec.emit(me, Kind.WAIT, self.name)
            try:
                await self._q.put((item, me))
            finally:
                rec.unblocked(me)
            rec.emit(me, Kind.RUN, self.name, link=self._last_getter)
        else:
            self._q.put_nowait((item, me))
        rec.emit(me, Kind.PUT, self.name, detail=repr(item))
        rec.emit(me, Kind.LEVEL, self.name, detail=self._q.qsize())

    async def get(self) -> Any:
        rec, me = here()
        rec.check()
        if self._q.empty():
            rec.blocked(me)
            rec.emit(me, Kind.WAIT, self.name)
            try:
                item, putter = await self._q.get()
            finally:
                rec.unblocked(me)
            rec.emit(me, Kind.RUN, self.name, link=putter)
        else:
            item, putter = self._q.get_nowait()
        self._last_getter = me
        rec.emit(me, Kind.GET, self.name, detail=repr(item), link=putter)
        rec.emit(me, Kind.LEVEL, self.name, detail=self._q.qsize())
        return item


__all__ = ["CancelledError", "Lock", "Queue", "create_task", "gather", "run", "sleep"]
