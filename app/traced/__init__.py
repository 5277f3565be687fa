"""Traced drop-ins for the modules scenario code uses.

Scenario modules write ``from app.traced import print, threading, time`` and then
read exactly like the tutorial; each call is recorded on the caller's lane. The
only addition to the standard APIs is an optional ``name=`` on sync objects.
"""

from __future__ import annotations

from app.timeline import Kind
from app.tracing import here


def print(*values: object, sep: str = " ") -> None:  # noqa: A001 - shadows on purpose
    """Record the line on the caller's lane instead of writing to the server's stdout."""
    rec, me = here()
    rec.check()
    if (gate := rec.gate) is not None:
        gate.before(me, "print", "stdout")
    rec.emit(me, Kind.PRINT, detail=sep.join(str(v) for v in values))
