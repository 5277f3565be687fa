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

from app.timeline import Kind
from app.traced.threading import wait_in_slices
from app.tracing import Recorder, here

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
    """

    _prefix = "Queue"

    def __init__(self, maxsize: int = 0, *, name: str | None = None) -> None:
        rec, me = here()
        self.name = name or rec.new_name(self._prefix)
        self.maxsize = maxsize
        self._items: deque[tuple[Any, str]] = deque()  # (item, who put it)
        self._mutex = _threading.Lock()
        self._not_empty = _threading.Condition(self._mutex)
        self._not_full = _threading.Condition(self._mutex)
        self._all_done = _threading.Condition(self._mutex)
        self._unfinished = 0
        self._last_getter = ""
        self._last_finisher = ""
        rec.emit(me, Kind.LEVEL, self.name, detail=0)

    # --- sizes (approximate, as in the stdlib) -------------------------------------
    def qsize(self) -> int:
        return len(self._items)

    def empty(self) -> bool:
        return not self._items

    def full(self) -> bool:
        return 0 < self.maxsize <= len(self._items)

    # --- put ---------------------------------------------------------------------------
    def put(self, item: Any, block: bool = True, timeout: float | None = None) -> None:
        rec, me = here()
        rec.check()
        if (gate := rec.gate) is not None:
            gate.before(me, "put", self.name, ready=self._has_room)
        with self._mutex:
            if not self.full():
                self._put(rec, me, item)
                return
        if not block:
            raise Full

        def attempt(slice_s: float) -> bool:
            with self._mutex:
                if not self._not_full.wait_for(lambda: not self.full(), slice_s):
                    return False
                rec.emit(me, Kind.RUN, self.name, link=self._last_getter)
                self._put(rec, me, item)
                return True

        if not wait_in_slices(rec, me, self.name, attempt, timeout, ready=self._has_room, op="put"):
            raise Full

    def _has_room(self) -> bool:
        return not self.full()

    def put_nowait(self, item: Any) -> None:
        self.put(item, block=False)

    def _put(self, rec: Recorder, me: str, item: Any) -> None:
        """Under the mutex: the change and its events in one step, in the real order."""
        self._items.append((item, me))
        self._unfinished += 1
        rec.emit(me, Kind.PUT, self.name, detail=_short(item))
        rec.emit(me, Kind.LEVEL, self.name, detail=len(self._items))
        self._not_empty.notify()

    # --- get ---------------------------------------------------------------------------
    def get(self, block: bool = True, timeout: float | None = None) -> Any:
        rec, me = here()
        rec.check()
        if (gate := rec.gate) is not None:
            gate.before(me, "get", self.name, ready=self._has_items)
        with self._mutex:
            if self._items:
                return self._get(rec, me, waited=False)
        if not block:
            raise Empty
        got: list[Any] = []

        def attempt(slice_s: float) -> bool:
            with self._mutex:
                if not self._not_empty.wait_for(lambda: self._items, slice_s):
                    return False
                got.append(self._get(rec, me, waited=True))
                return True

        if not wait_in_slices(rec, me, self.name, attempt, timeout, ready=self._has_items, op="get"):
            raise Empty
        return got[0]

    def _has_items(self) -> bool:
        return bool(self._items)

    def get_nowait(self) -> Any:
        return self.get(block=False)

    def _get(self, rec: Recorder, me: str, *, waited: bool) -> Any:
        item, putter = self._items.popleft()
        if waited:  # the put of the item it took is what woke it
            rec.emit(me, Kind.RUN, self.name, link=putter)
        rec.emit(me, Kind.GET, self.name, detail=_short(item), link=putter)
        rec.emit(me, Kind.LEVEL, self.name, detail=len(self._items))
        self._last_getter = me
        self._not_full.notify()
        return item

    # --- task tracking -------------------------------------------------------------
    def task_done(self) -> None:
        rec, me = here()
        if (gate := rec.gate) is not None:
            gate.before(me, "task_done", self.name)
        with self._mutex:
            if self._unfinished <= 0:
                raise ValueError("task_done() called too many times")
            self._unfinished -= 1
            if self._unfinished == 0:
                self._last_finisher = me
                rec.emit(me, Kind.NOTIFY, self.name, detail="all tasks done")
                self._all_done.notify_all()

    def join(self) -> None:
        rec, me = here()
        rec.check()
        if (gate := rec.gate) is not None:
            gate.before(me, "join", self.name, ready=self._all_finished)
        with self._mutex:
            if self._unfinished == 0:
                return

        def attempt(slice_s: float) -> bool:
            with self._mutex:
                return self._all_done.wait_for(lambda: self._unfinished == 0, slice_s)

        wait_in_slices(rec, me, self.name, attempt, None, ready=self._all_finished, op="join")
        rec.emit(me, Kind.RUN, self.name, link=self._last_finisher)

    def _all_finished(self) -> bool:
        return self._unfinished == 0

    def __repr__(self) -> str:
        return f"<traced {self._prefix} {self.name} size={len(self._items)}/{self.maxsize}>"


__all__ = ["Empty", "Full", "Queue"]
