"""What recording costs: per event, and on the tutorial's lock counter.

Ratios, not absolute times, are what to compare: these machines are shared and noisy,
so every comparison is measured in one run, interleaved, median of several repeats.
"""

from __future__ import annotations

import statistics
import threading as std_threading
import time
from collections.abc import Callable

from app.observed import counter
from app.timeline import Kind, LaneKind
from app.traced import print as traced_print
from app.traced import threading as traced_threading
from app.traced import time as traced_time
from app.tracing import Recorder, bind

REPEATS = 7


def _median_ns(fn: Callable[[], int], repeats: int = REPEATS) -> float:
    """Median over repeats of fn(), which returns elapsed ns."""
    return statistics.median(fn() for _ in range(repeats))


def per_event_ns(n: int = 200_000) -> dict[str, float]:
    """Median cost of one recorded event: the bare emit, and a traced print()."""
    rec = Recorder()

    def emit_loop() -> int:
        emit = rec.emit
        mark = Kind.MARK  # an Enum member read costs more than the emit (a Python-level descriptor)
        t0 = time.perf_counter_ns()
        for _ in range(n):
            emit("main", mark)
        elapsed = time.perf_counter_ns() - t0
        rec.take()
        return elapsed

    def print_loop() -> int:
        with bind(rec, "main"):
            t0 = time.perf_counter_ns()
            for _ in range(n):
                traced_print("x")
            elapsed = time.perf_counter_ns() - t0
        rec.take()
        return elapsed

    def empty_loop() -> int:
        t0 = time.perf_counter_ns()
        for _ in range(n):
            pass
        return time.perf_counter_ns() - t0

    def lock_loop(factory: Callable[[], object]) -> Callable[[], int]:
        def run() -> int:
            with bind(rec, "main"):
                lock = factory()
                t0 = time.perf_counter_ns()
                for _ in range(n):
                    with lock:  # type: ignore[attr-defined]
                        pass
                elapsed = time.perf_counter_ns() - t0
            rec.take()
            return elapsed

        return run

    loop = _median_ns(empty_loop)
    plain_lock = _median_ns(lock_loop(std_threading.Lock))
    traced_lock = _median_ns(lock_loop(traced_threading.Lock))
    return {
        "emit_ns": (_median_ns(emit_loop) - loop) / n,
        "print_ns": (_median_ns(print_loop) - loop) / n,
        # acquire + release record two events
        "lock_extra_ns_per_event": (traced_lock - plain_lock) / (2 * n),
    }


def _counter_run(
    lock_factory: Callable[[], object],
    thread_factory: Callable[..., std_threading.Thread],
    pairs: int,
    iterations: int,
    hold: Callable[[], None] | None = None,
) -> int:
    """The tutorial's lock counter (app.observed.counter), optionally holding the lock
    a while; returns wall ns."""
    return round(counter(lock_factory(), thread_factory, 2 * pairs, iterations, hold=hold) * 1e9)


def lock_counter_ratio(pairs: int = 2, iterations: int = 50_000, hold_s: float = 0.0) -> dict[str, float]:
    """Traced vs plain wall time of the lock counter, repeats interleaved. With
    `hold_s`, each thread sleeps that long inside the lock (the lesson's `hold`)."""
    plain: list[int] = []
    traced: list[int] = []
    events = 0
    plain_hold = (lambda: time.sleep(hold_s)) if hold_s else None
    traced_hold = (lambda: traced_time.sleep(hold_s)) if hold_s else None
    for _ in range(REPEATS):
        plain.append(_counter_run(std_threading.Lock, std_threading.Thread, pairs, iterations, plain_hold))
        rec = Recorder()
        with bind(rec, "main", LaneKind.MAIN):
            traced.append(
                _counter_run(traced_threading.Lock, traced_threading.Thread, pairs, iterations, traced_hold)
            )
        events = len(rec.take())
    p, t = statistics.median(plain), statistics.median(traced)
    return {
        "plain_ms": p / 1e6,
        "traced_ms": t / 1e6,
        "ratio": t / p,
        "events": events,
        "extra_ns_per_event": (t - p) / events,
    }
