"""Traced drop-ins for the modules scenario code uses.

Scenario modules write ``from app.traced import print, threading, time`` and then
read exactly like the tutorial; each call is recorded on the caller's lane. The
only addition to the standard APIs is an optional ``name=`` on sync objects.
"""

from __future__ import annotations

from app.tracing import PRINT_CODE, current_lane


def print(*values: object, sep: str = " ") -> None:  # noqa: A001 - shadows on purpose
    """Record the line on the caller's lane instead of writing to the server's stdout."""
    lane = current_lane()
    rec = lane.recorder
    rec.check()
    if (gate := rec.gate) is not None:
        gate.before(lane.name, "print", "stdout")
    lane.record(PRINT_CODE, 0, sep.join([str(v) for v in values]))
