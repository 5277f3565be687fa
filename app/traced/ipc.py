"""Traced IPC between processes: `multiprocessing`'s Queue, Pipe ends, Lock, Value
and Array, as picklable wrappers.

They travel to children as arguments and record there, on the child's lane. Items
carry their sender, so a `get` names who `put` it (`link`). Children unpickle these
classes, so this module imports only the recorder and the traced threading helpers,
never the supervisor.
"""

from __future__ import annotations

import queue as _queue
from typing import Any

from app.timeline import Kind
from app.traced.threading import wait_in_slices
from app.tracing import here


class Queue:
    """`multiprocessing.Queue`: `put` records the item, a blocking `get` a `wait`, and
    each item carries its putter so the `get` names who sent it (`link`)."""

    def __init__(self, inner: Any, name: str) -> None:
        self._q = inner
        self.name = name
        self._sent = 0  # counts this process's puts: "Queue-1 #3" names one item

    def put(self, item: Any, block: bool = True, timeout: float | None = None) -> None:
        rec, me = here()
        rec.check()
        self._sent += 1
        key = f"{self.name} #{self._sent}"
        tagged = (me, key, item)
        t_put = rec.now()
        try:
            self._q.put(tagged, block=False)
        except _queue.Full:
            if not block:
                raise

            def attempt(slice_s: float) -> bool:
                try:
                    self._q.put(tagged, timeout=slice_s)
                except _queue.Full:
                    return False
                return True

            if not wait_in_slices(rec, me, self.name, attempt, timeout):
                raise _queue.Full from None
            t_put = rec.now()
            rec.emit(me, Kind.RUN, self.name)
        rec.emit_at(t_put, me, Kind.PUT, key, detail=repr(item))

    def get(self, block: bool = True, timeout: float | None = None) -> Any:
        rec, me = here()
        rec.check()
        try:
            putter, key, item = self._q.get(block=False)
        except _queue.Empty:
            if not block:
                raise
            got: list[Any] = []

            def attempt(slice_s: float) -> bool:
                try:
                    got.append(self._q.get(timeout=slice_s))
                except _queue.Empty:
                    return False
                return True

            if not wait_in_slices(rec, me, self.name, attempt, timeout):
                raise _queue.Empty from None
            putter, key, item = got[0]
            rec.emit(me, Kind.RUN, self.name)
        rec.emit(me, Kind.GET, key, detail=repr(item), link=putter)
        return item


class Connection:
    """One end of a `multiprocessing.Pipe`: `send` records a `put`, a blocking `recv`
    a `wait`, and the `get` names the sender."""

    def __init__(self, inner: Any, name: str) -> None:
        self._conn = inner
        self.name = name
        self._sent = 0

    def send(self, item: Any) -> None:
        rec, me = here()
        rec.check()
        self._sent += 1
        key = f"{self.name} #{self._sent}"
        rec.emit(me, Kind.PUT, key, detail=repr(item))
        self._conn.send((me, key, item))

    def recv(self) -> Any:
        rec, me = here()
        rec.check()
        if not self._conn.poll():
            wait_in_slices(rec, me, self.name, self._conn.poll, None)  # endless: True or Stop
            rec.emit(me, Kind.RUN, self.name)
        putter, key, item = self._conn.recv()
        rec.emit(me, Kind.GET, key, detail=repr(item), link=putter)
        return item

    def close(self) -> None:
        self._conn.close()


class SharedLock:
    """A lock shared by processes (a `multiprocessing.Lock`, or a `Value`'s
    `get_lock()`): records waits and holds on the caller's lane. (Not a subclass of
    the compiled `Acquirable`: it is pickled to children, and a Python subclass of a
    compiled class does not pickle its attributes.)"""

    def __init__(self, inner: Any, name: str) -> None:
        self._lock = inner
        self.name = name

    def acquire(self, blocking: bool = True, timeout: float = -1) -> bool:
        rec, me = here()
        rec.check()
        if not self._lock.acquire(False):
            attempt = lambda slice_s: bool(self._lock.acquire(True, slice_s))  # noqa: E731
            if not blocking or not wait_in_slices(rec, me, self.name, attempt, timeout):
                return False
            rec.emit(me, Kind.RUN, self.name)
        rec.emit(me, Kind.ACQUIRE, self.name)
        return True

    def release(self) -> None:
        rec, me = here()
        rec.emit(me, Kind.RELEASE, self.name)
        self._lock.release()

    def __enter__(self) -> bool:
        return self.acquire()

    def __exit__(self, *exc: object) -> None:
        self.release()


class Value:
    """`multiprocessing.Value`: every read and write of `.value` is recorded with the
    value seen or written; `get_lock()` is the Value's own lock, traced."""

    def __init__(self, inner: Any, name: str) -> None:
        self._v = inner
        self.name = name

    @property
    def value(self) -> Any:
        rec, me = here()
        rec.check()
        seen = self._v.value
        rec.emit(me, Kind.READ, self.name, detail=seen)
        return seen

    @value.setter
    def value(self, new: Any) -> None:
        rec, me = here()
        rec.check()
        self._v.value = new
        rec.emit(me, Kind.WRITE, self.name, detail=new)

    def get_lock(self) -> SharedLock:
        return SharedLock(self._v.get_lock(), f"{self.name}.lock")

    def peek(self) -> Any:
        """The value without recording a read (for the parent's summary)."""
        return self._v.value


class Array:
    """`multiprocessing.Array`: item reads and writes are recorded."""

    def __init__(self, inner: Any, name: str) -> None:
        self._a = inner
        self.name = name

    def __getitem__(self, index: int) -> Any:
        rec, me = here()
        rec.check()
        seen = self._a[index]
        rec.emit(me, Kind.READ, f"{self.name}[{index}]", detail=seen)
        return seen

    def __setitem__(self, index: int, new: Any) -> None:
        rec, me = here()
        rec.check()
        self._a[index] = new
        rec.emit(me, Kind.WRITE, f"{self.name}[{index}]", detail=new)

    def __len__(self) -> int:
        return len(self._a)

    def get_lock(self) -> SharedLock:
        return SharedLock(self._a.get_lock(), f"{self.name}.lock")

    def peek(self) -> list[Any]:
        return list(self._a[:])
