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

import threading as _threading
from typing import Generic, TypeVar

from app.timeline import JSON, Kind
from app.tracing import here

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
        rec, me = here()
        self.name = name or rec.new_name("shared")
        self._value = value
        self._guard = _threading.Lock()
        rec.emit(me, Kind.WRITE, self.name, detail=_wire(value))

    @property
    def value(self) -> T:
        rec, me = here()
        rec.check()
        if (gate := rec.gate) is not None:
            gate.before(me, "read", self.name)
        with self._guard:
            value = self._value
            rec.emit(me, Kind.READ, self.name, detail=_wire(value))
        return value

    @value.setter
    def value(self, value: T) -> None:
        rec, me = here()
        rec.check()
        if (gate := rec.gate) is not None:
            gate.before(me, "write", self.name)
        with self._guard:
            self._value = value
            rec.emit(me, Kind.WRITE, self.name, detail=_wire(value))

    def __repr__(self) -> str:
        return f"<traced Shared {self.name}={self._value!r}>"


def gauge(name: str, value: float) -> None:
    """Draw `value` on the gauge `name` (a small step line under the lanes)."""
    rec, me = here()
    rec.emit(me, Kind.LEVEL, name, detail=value)
