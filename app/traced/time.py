"""Traced `time`: `sleep` draws an `io` segment. CPU work needs nothing traced:
the sampler (`app.sampler`) measures any Python code from CPU clocks."""

from __future__ import annotations

import time as _time

from app.timeline import Kind
from app.tracing import here

POLL_S = 0.05


def sleep(seconds: float) -> None:
    """`time.sleep`, drawn as `io`. Sleeps in slices so a cancelled run ends promptly."""
    rec, me = here()
    rec.check()
    if (gate := rec.gate) is not None:
        gate.before(me, "sleep")
        if not gate.real_sleep:  # explore: the order of steps decides, not the clock
            seconds = 0.0
    rec.blocked(me)
    rec.emit(me, Kind.IO)
    try:
        if seconds <= 0:
            # Like the real sleep(0): give up the interpreter, so another thread may run now.
            _time.sleep(0)
        deadline = _time.monotonic() + seconds
        while (left := deadline - _time.monotonic()) > 0:
            _time.sleep(min(left, POLL_S))
            rec.check()
    finally:
        rec.unblocked(me)
    rec.emit(me, Kind.RUN)


monotonic = _time.monotonic
perf_counter = _time.perf_counter
