"""Traced `queue.Queue`: a drop-in that scenario code imports *as* `queue`.

`put` and `get` record `put`/`get` instants (detail: the item's repr), a `wait` only
when they really block (full / empty), and the queue's size over time (`level`, obj =
the queue's name). Every item remembers who put it: a `get` links to the worker whose
`put` it took, and a `put` that waited on a full queue links to the `get` that made
room. Blocking calls wait in slices like every traced primitive, so a stopped run ends.
"""

from __future__ import annotations

import threading as _threading
from collections import deque
from queue import Empty, Full
from typing import Any

from librt.threading import Lock as Mutex
from mypy_extensions import i64

from app.traced.threading import wait_in_slices
from app.tracing import GET_CODE, LEVEL_CODE, NOTIFY_CODE, PUT_CODE, RUN_CODE, Lane, current_lane

_REPR_MAX = 40


def _short(item: object) -> str:
    text = repr(item)
    return text if len(text) <= _REPR_MAX else text[: _REPR_MAX - 1] + "…"


class Queue:
    """`queue.Queue(maxsize=0)` (0: unbounded), with an optional keyword-only `name=`.

    Usage::

        q = queue.Queue(maxsize=3)
        q.put(item)        # waits (drawn red) while 3 items are in it
        item = q.get()     # waits while it is empty; the arrow comes from the putter

    A put or get that need not wait takes one native mutex and wakes a waiter only if
    there is one: no bytecode on that path (see app/tracing.py).
    """

    _prefix = "Queue"

    def __init__(self, maxsize: int = 0, *, name: str | None = None) -> None:
        lane = current_lane()
        rec = lane.recorder
        self.name = name or rec.new_name(self._prefix)
        self.maxsize = maxsize
        self._items: deque[tuple[Any, Lane]] = deque()  # (item, who put it)
        self._mutex = Mutex()
        self._not_empty = _threading.Condition(self._mutex)  # type: ignore[arg-type]  # any lock will do
        self._not_full = _threading.Condition(self._mutex)  # type: ignore[arg-type]  # any lock will do
        self._all_done = _threading.Condition(self._mutex)  # type: ignore[arg-type]  # any lock will do
        # How many sleep on each condition (changed under the mutex): a put or get
        # notifies only when somebody sleeps.
        self._getters: i64 = 0
        self._putters: i64 = 0
        self._joiners: i64 = 0
        self._unfinished = 0
        self._last_getter: Lane | None = None
        self._last_finisher: Lane | None = None
        lane.record(LEVEL_CODE, rec.intern(self.name), 0)

    # --- sizes (approximate, as in the stdlib) -------------------------------------
    def qsize(self) -> int:
        return len(self._items)

    def empty(self) -> bool:
        return not self._items

    def full(self) -> bool:
        return 0 < self.maxsize <= len(self._items)

    # --- put ---------------------------------------------------------------------------
    def put(self, item: Any, block: bool = True, timeout: float | None = None) -> None:
        lane = current_lane()
        rec = lane.recorder
        rec.check()
        if (gate := rec.gate) is not None:
            gate.before(lane.name, "put", self.name, ready=self._has_room)
        obj = rec.intern(self.name)
        mutex = self._mutex
        mutex.acquire()
        try:
            if not self.full():
                self._put(lane, obj, item)
                return
        finally:
            mutex.release()
        if not block:
            raise Full

        def attempt(slice_s: float) -> bool:
            with self._mutex:
                self._putters += 1
                try:
                    if not self._not_full.wait_for(lambda: not self.full(), slice_s):
                        return False
                finally:
                    self._putters -= 1
                lane.record(RUN_CODE, obj, None, lane.link_to(self._last_getter))
                self._put(lane, obj, item)
                return True

        if not wait_in_slices(rec, lane.name, self.name, attempt, timeout, ready=self._has_room, op="put"):
            raise Full

    def _has_room(self) -> bool:
        return not self.full()

    def put_nowait(self, item: Any) -> None:
        self.put(item, block=False)

    def _put(self, lane: Lane, obj: i64, item: Any) -> None:
        """Under the mutex: the change and its events in one step, in the real order."""
        self._items.append((item, lane))
        self._unfinished += 1
        lane.record(PUT_CODE, obj, _short(item))
        lane.record(LEVEL_CODE, obj, len(self._items))
        if self._getters:
            self._not_empty.notify()

    # --- get ---------------------------------------------------------------------------
    def get(self, block: bool = True, timeout: float | None = None) -> Any:
        lane = current_lane()
        rec = lane.recorder
        rec.check()
        if (gate := rec.gate) is not None:
            gate.before(lane.name, "get", self.name, ready=self._has_items)
        obj = rec.intern(self.name)
        mutex = self._mutex
        mutex.acquire()
        try:
            if self._items:
                return self._get(lane, obj, waited=False)
        finally:
            mutex.release()
        if not block:
            raise Empty
        got: list[Any] = []

        def attempt(slice_s: float) -> bool:
            with self._mutex:
                self._getters += 1
                try:
                    if not self._not_empty.wait_for(lambda: self._items, slice_s):
                        return False
                finally:
                    self._getters -= 1
                got.append(self._get(lane, obj, waited=True))
                return True

        if not wait_in_slices(rec, lane.name, self.name, attempt, timeout, ready=self._has_items, op="get"):
            raise Empty
        return got[0]

    def _has_items(self) -> bool:
        return bool(self._items)

    def get_nowait(self) -> Any:
        return self.get(block=False)

    def _get(self, lane: Lane, obj: i64, *, waited: bool) -> Any:
        item, putter = self._items.popleft()
        link = lane.link_to(putter)
        if waited:  # the put of the item it took is what woke it
            lane.record(RUN_CODE, obj, None, link)
        lane.record(GET_CODE, obj, _short(item), link)
        lane.record(LEVEL_CODE, obj, len(self._items))
        self._last_getter = lane
        if self._putters:
            self._not_full.notify()
        return item

    # --- task tracking -------------------------------------------------------------
    def task_done(self) -> None:
        lane = current_lane()
        if (gate := lane.recorder.gate) is not None:
            gate.before(lane.name, "task_done", self.name)
        mutex = self._mutex
        mutex.acquire()
        try:
            if self._unfinished <= 0:
                raise ValueError("task_done() called too many times")
            self._unfinished -= 1
            if self._unfinished == 0:
                self._last_finisher = lane
                lane.record(NOTIFY_CODE, lane.recorder.intern(self.name), "all tasks done")
                if self._joiners:
                    self._all_done.notify_all()
        finally:
            mutex.release()

    def join(self) -> None:
        lane = current_lane()
        rec = lane.recorder
        rec.check()
        if (gate := rec.gate) is not None:
            gate.before(lane.name, "join", self.name, ready=self._all_finished)
        with self._mutex:
            if self._unfinished == 0:
                return

        def attempt(slice_s: float) -> bool:
            with self._mutex:
                self._joiners += 1
                try:
                    return self._all_done.wait_for(lambda: self._unfinished == 0, slice_s)
                finally:
                    self._joiners -= 1

        wait_in_slices(rec, lane.name, self.name, attempt, None, ready=self._all_finished, op="join")
        lane.record(RUN_CODE, rec.intern(self.name), None, lane.link_to(self._last_finisher))

    def _all_finished(self) -> bool:
        return self._unfinished == 0

    def __repr__(self) -> str:
        return f"<traced {self._prefix} {self.name} size={len(self._items)}/{self.maxsize}>"


__all__ = ["Empty", "Full", "Queue"]
