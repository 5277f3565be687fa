"""`python -m app.observed RECORDER THREADS ITERATIONS`: the tutorial's tight lock
counter, run plain and then recorded, in a process of its own whose recorder is
RECORDER ("compiled" or "interpreted": app/hotpath.py reads INTERLEAVE_RECORDER before
anything of ours is imported, so one process runs one recorder).

Prints one JSON object: which recorder ran, both wall times, the clock reading at
the recording's time zero (CLOCK_MONOTONIC: the same clock in every process of the
machine, so the parent can place the events on its own axis) and the recorded events
of the threads' lanes, named "<recorder> Thread-N". For the `observer-effect` lesson
and `make bench`; it imports no FastAPI.
"""

from __future__ import annotations

import json
import sys
import threading as std_threading
import time
from collections.abc import Callable
from typing import Any

from app import hotpath
from app.timeline import LaneKind
from app.traced import threading as traced_threading
from app.tracing import Recorder, bind


def counter(
    lock: Any,
    thread: Any,
    threads: int,
    iterations: int,
    prefix: str = "",
    hold: Callable[[], None] | None = None,
) -> float:
    """The lock counter: half the threads add one, half take one away, each
    `iterations` times under `with lock:` (calling `hold` there, if given). Returns
    its wall time in seconds."""
    count = 0

    def increment() -> None:
        nonlocal count
        for _ in range(iterations):
            with lock:
                count += 1
                if hold:
                    hold()

    def decrement() -> None:
        nonlocal count
        for _ in range(iterations):
            with lock:
                count -= 1
                if hold:
                    hold()

    workers = [
        thread(
            target=increment if i % 2 == 0 else decrement, name=f"{prefix}Thread-{i + 1}" if prefix else None
        )
        for i in range(threads)
    ]
    began = time.perf_counter()
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    wall = time.perf_counter() - began
    if count != 0:
        raise AssertionError(f"the lock failed: the counter ended at {count}")
    return wall


def observe(threads: int, iterations: int) -> dict[str, Any]:
    plain_s = counter(std_threading.Lock(), std_threading.Thread, threads, iterations)
    rec = Recorder(max_workers=threads + 1)
    prefix = f"{hotpath.RECORDER} "
    with bind(rec, f"{prefix}main", LaneKind.MAIN):
        recorded_s = counter(
            traced_threading.Lock(name="lock"), traced_threading.Thread, threads, iterations, prefix
        )
    events = [list(raw) for raw in rec.take_raw(held_too=True) if raw[1] != f"{prefix}main"]
    return {
        "recorder": hotpath.RECORDER,
        "plain_s": plain_s,
        "recorded_s": recorded_s,
        "t0_ns": rec.t0_ns,
        "events": events,
    }


if __name__ == "__main__":
    _, wanted, threads, iterations = sys.argv
    if wanted != hotpath.RECORDER:
        sys.exit(f"asked for the {wanted} recorder, but this process runs the {hotpath.describe()}")
    # dumps, not dump: only dumps uses the C encoder (this child took 4.5 s with dump, 1.2 s now)
    sys.stdout.write(json.dumps(observe(int(threads), int(iterations))))
