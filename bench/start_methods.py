"""Process start cost per start method: median time from `proc.start()` to the
child's first event, through Interleave's own traced path (the lane's `start`
segment), for one process alone and for 8 started at once.

    python -m bench.start_methods            # prints a table and the JSON
    from bench.start_methods import measure  # -> dict (see measure's docstring)

Plain fork is measured only from a single-threaded process (this module run on its
own): Interleave never forks from the server, which is multi-threaded.
"""

from __future__ import annotations

import json
import multiprocessing as std_mp
import statistics
import threading
import time
from typing import Any

from app.timeline import Kind, LaneKind
from app.traced import multiprocessing
from app.tracing import Recorder, bind


def _traced_starts(method: str, count: int) -> list[float]:
    """Start `count` traced processes at once; ms from each one's `start` to its `run`."""
    rec = Recorder()
    with bind(rec, "main", LaneKind.MAIN):
        mp = multiprocessing.get_context(method)
        procs = [mp.Process(target=int) for _ in range(count)]
        for proc in procs:
            proc.start()
        for proc in procs:
            proc.join()
    rec.finalize()
    events = rec.take()
    starts = {e.worker: e.t_ns for e in events if e.kind is Kind.START and e.worker != "main"}
    runs = {e.worker: e.t_ns for e in events if e.kind is Kind.RUN and e.worker in starts}
    return [(runs[w] - starts[w]) / 1e6 for w in starts if w in runs]


def _first_event(conn: Any) -> None:
    conn.send(time.monotonic_ns())
    conn.close()


def _raw_fork_starts(count: int) -> list[float]:
    """Plain fork, untraced (no drain thread may exist when forking): ms from start()
    to the child's first line, read from a pipe afterwards."""
    ctx = std_mp.get_context("fork")
    pipes = [ctx.Pipe(duplex=False) for _ in range(count)]
    procs = [ctx.Process(target=_first_event, args=(w,)) for _, w in pipes]
    started = []
    for proc in procs:
        started.append(time.monotonic_ns())
        proc.start()
    firsts = [r.recv() for r, _ in pipes]
    for proc in procs:
        proc.join()
    return [(f - s) / 1e6 for s, f in zip(started, firsts, strict=True)]


def measure(rounds: int = 5, at_once: int = 8) -> dict[str, Any]:
    """Median start-to-first-event in ms, per method::

        {"spawn": {"single_ms": 40.1, "at_once_ms": 95.3, "at_once": 8}, "forkserver": {...},
         "fork": {...} or absent, "rounds": 5, "note": "..."}

    `single_ms`: one process at a time, `rounds` times. `at_once_ms`: `at_once`
    processes started back to back, `rounds` times (median over every process: the
    later ones queue behind the earlier ones for CPU). A warm-up round per method is
    not counted (the forkserver's own start-up happens there).
    """
    out: dict[str, Any] = {"rounds": rounds}
    for method in multiprocessing.START_METHODS:
        _traced_starts(method, 1)  # warm-up: starts the forkserver, fills the page cache
        single = [ms for _ in range(rounds) for ms in _traced_starts(method, 1)]
        many = [ms for _ in range(rounds) for ms in _traced_starts(method, at_once)]
        out[method] = {
            "single_ms": round(statistics.median(single), 2),
            "at_once_ms": round(statistics.median(many), 2),
            "at_once": at_once,
        }
    if threading.active_count() == 1:
        _raw_fork_starts(1)
        out["fork"] = {
            "single_ms": round(statistics.median(ms for _ in range(rounds) for ms in _raw_fork_starts(1)), 2),
            "at_once_ms": round(
                statistics.median(ms for _ in range(rounds) for ms in _raw_fork_starts(at_once)), 2
            ),
            "at_once": at_once,
            "note": "untraced, from a single-threaded process; never offered by the server",
        }
    out["note"] = (
        "spawn and forkserver through Interleave's traced Process (light child entry, "
        "forkserver preloading app.traced.child); children also import the parent's "
        "__main__, so run this as `python -m bench.start_methods` (a light main)"
    )
    return out


if __name__ == "__main__":
    result = measure()
    for method in ("spawn", "forkserver", "fork"):
        if method in result:
            row = result[method]
            print(
                f"{method:>10}: {row['single_ms']:7.2f} ms alone, {row['at_once_ms']:7.2f} ms with {row['at_once']} at once"
            )
    print(json.dumps(result, indent=2))
