"""Traced `time`: `sleep` draws an `io` segment; `spin` burns CPU and draws `gil`
where the thread was runnable but another thread held the interpreter."""

from __future__ import annotations

import time as _time

from app.timeline import Kind
from app.tracing import here

POLL_S = 0.05
_SLICE_LOOPS = 2_000  # ~50-100 µs of bytecode: fine enough to see 5 ms GIL switches


def sleep(seconds: float) -> None:
    """`time.sleep`, drawn as `io`. Sleeps in slices so a cancelled run ends promptly."""
    rec, me = here()
    rec.check()
    rec.emit(me, Kind.IO)
    if seconds <= 0:
        # Like the real sleep(0): give up the interpreter, so another thread may run now.
        _time.sleep(0)
    deadline = _time.monotonic() + seconds
    while (left := deadline - _time.monotonic()) > 0:
        _time.sleep(min(left, POLL_S))
        rec.check()
    rec.emit(me, Kind.RUN)


def spin(seconds: float) -> int:
    """Do `seconds` of pure-Python CPU work (wall time) and return a checksum.

    The GIL shows up here: in each slice, if this thread's CPU time advanced less than
    half as fast as the wall clock, it spent the slice runnable but waiting for the
    interpreter, and the slice is drawn as `gil`. Measured, not guessed: it comes from
    `time.thread_time_ns()` against `time.monotonic_ns()`.
    """
    rec, me = here()
    rec.check()
    t0 = rec.t0_ns
    end = _time.monotonic_ns() + int(seconds * 1e9)
    state = Kind.RUN
    checksum = 0
    wall, cpu = _time.monotonic_ns(), _time.thread_time_ns()
    while wall < end:
        for i in range(_SLICE_LOOPS):
            checksum = (checksum + i * i) % 1_000_003
        wall2, cpu2 = _time.monotonic_ns(), _time.thread_time_ns()
        observed = Kind.GIL if (cpu2 - cpu) * 2 < (wall2 - wall) else Kind.RUN
        if observed is not state:
            # Back-dated to the slice start: nothing else was recorded on this lane
            # since, so the lane's order holds.
            rec.emit_at(wall - t0, me, observed)
            state = observed
        wall, cpu = wall2, cpu2
        rec.check()
    if state is not Kind.RUN:
        rec.emit(me, Kind.RUN)
    return checksum


monotonic = _time.monotonic
perf_counter = _time.perf_counter
