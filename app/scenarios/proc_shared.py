"""Shared memory between processes: a Value incremented by several processes, with
and without its lock: lost updates are not a thread-only problem."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from app.scenarios.base import Params, Result, Scenario
from app.scenarios.proc_work import add_many, add_many_in_array
from app.traced import multiprocessing


class SharedParams(Params):
    processes: int = Field(4, ge=2, le=8, description="Processes incrementing the shared counter")
    times: int = Field(25, ge=1, le=200, description="Increments per process")
    use_lock: bool = Field(False, description="Hold the Value's lock (get_lock()) from the read to the write")
    gap: float = Field(
        0.002, ge=0, le=0.02, description="Seconds between reading and writing: the window for a lost update"
    )
    memory: Literal["value", "array"] = Field(
        "value", description="multiprocessing.Value('i') or cell 0 of multiprocessing.Array('i', 1)"
    )
    start_method: Literal["forkserver", "spawn"] = Field(
        "forkserver", description="How processes are started"
    )


def main(p: SharedParams) -> Result:
    mp = multiprocessing.get_context(p.start_method)
    if p.memory == "value":
        counter = mp.Value("i", 0, name="counter")
        workers = [
            mp.Process(target=add_many, args=(counter, p.times, p.gap, p.use_lock))
            for _ in range(p.processes)
        ]
    else:
        cells = mp.Array("i", 1, name="cells")
        workers = [
            mp.Process(target=add_many_in_array, args=(cells, p.times, p.gap, p.use_lock))
            for _ in range(p.processes)
        ]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    final = int(counter.peek() if p.memory == "value" else cells.peek()[0])
    expected = p.processes * p.times
    lost = expected - final
    return Result(
        f"final counter {final}, expected {expected}: {lost} updates lost",
        {"final": final, "expected": expected, "lost": lost},
    )


SCENARIO = Scenario(
    slug="shared-counter-processes",
    title="Shared counter across processes",
    group="Processes",
    notice=(
        "Each process reads the counter, sleeps a moment, then writes value + 1. Without the "
        "lock two processes read the same value and one write overwrites the other: the "
        "final count falls short. Tick use_lock: the read-sleep-write happens under "
        "get_lock(), the others wait (red), and no update is lost."
    ),
    params=SharedParams,
    main=main,
    order=40,
    code=(add_many, main),
)
