"""Shared state made visible: a variable whose reads and writes are recorded, and
a gauge a program sets to draw a number over time.

`Shared.value` is what a race is made of: `value = counter.value` records a `read`
(detail: the value seen) and `counter.value = value + 1` a `write` (detail: the
value stored). Each single read or write is atomic, as loading or storing one Python
variable is; what is *not* atomic is the read-modify-write between them, and that is
the window a race slips into. An internal lock makes each access and its event one
step, so the recorded order is the order the accesses really happened in.
"""

from __future__ import annotations

from typing import Generic, TypeVar

from librt.threading import Lock as Mutex

from app.timeline import JSON
from app.tracing import LEVEL_CODE, READ_CODE, WRITE_CODE, current_lane

T = TypeVar("T")


def _wire(value: object) -> JSON:
    return value if isinstance(value, int | float | str | bool) or value is None else repr(value)


class Shared(Generic[T]):
    """A shared variable.

    Usage::

        counter = Shared(0, name="counter")
        value = counter.value        # read
        counter.value = value + 1    # write
    """

    def __init__(self, value: T, *, name: str | None = None) -> None:
        lane = current_lane()
        rec = lane.recorder
        self.name = name or rec.new_name("shared")
        self._value = value
        self._guard = Mutex()
        lane.record(WRITE_CODE, rec.intern(self.name), _wire(value))

    @property
    def value(self) -> T:
        lane = current_lane()
        rec = lane.recorder
        rec.check()
        if (gate := rec.gate) is not None:
            gate.before(lane.name, "read", self.name)
        obj = rec.intern(self.name)
        guard = self._guard
        guard.acquire()
        try:
            value = self._value
            lane.record(READ_CODE, obj, _wire(value))
        finally:
            guard.release()
        return value

    @value.setter
    def value(self, value: T) -> None:
        lane = current_lane()
        rec = lane.recorder
        rec.check()
        if (gate := rec.gate) is not None:
            gate.before(lane.name, "write", self.name)
        obj = rec.intern(self.name)
        guard = self._guard
        guard.acquire()
        try:
            self._value = value
            lane.record(WRITE_CODE, obj, _wire(value))
        finally:
            guard.release()

    def __repr__(self) -> str:
        return f"<traced Shared {self.name}={self._value!r}>"


def gauge(name: str, value: float) -> None:
    """Draw `value` on the gauge `name` (a small step line under the lanes)."""
    lane = current_lane()
    lane.record(LEVEL_CODE, lane.recorder.intern(name), value)
