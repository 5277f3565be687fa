"""Shared memory between processes: a counter incremented by several processes, with
and without a lock: lost updates are not a thread-only problem. The counter lives in
a `multiprocessing.Value`, a `multiprocessing.Array` or a raw
`multiprocessing.shared_memory.SharedMemory` block."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from app.scenarios.base import Params, Result, Scenario, how_it_ended, stop_reason
from app.scenarios.proc_work import add_many, add_many_in_array, add_many_in_shared_memory
from app.traced import multiprocessing


class SharedParams(Params):
    processes: int = Field(4, ge=2, le=8, description="Processes incrementing the shared counter")
    times: int = Field(25, ge=1, le=200, description="Increments per process")
    use_lock: bool = Field(
        False,
        description=(
            "Hold a lock from the read to the write: the Value's or Array's get_lock(), "
            "a multiprocessing.Lock for shared_memory"
        ),
    )
    gap: float = Field(
        0.002, ge=0, le=0.02, description="Seconds between reading and writing: the window for a lost update"
    )
    memory: Literal["value", "array", "shared_memory"] = Field(
        "value",
        description=(
            "multiprocessing.Value('i'), cell 0 of multiprocessing.Array('i', 1), or the 8 bytes "
            "of a shared_memory.SharedMemory block read as one int"
        ),
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
    elif p.memory == "array":
        cells = mp.Array("i", 1, name="cells")
        workers = [
            mp.Process(target=add_many_in_array, args=(cells, p.times, p.gap, p.use_lock))
            for _ in range(p.processes)
        ]
    else:
        block = mp.SharedMemory(create=True, size=8, label="counter")  # 8 zero bytes
        lock = mp.Lock(name="counter.lock")
        workers = [
            mp.Process(target=add_many_in_shared_memory, args=(block, lock, p.times, p.gap, p.use_lock))
            for _ in range(p.processes)
        ]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    if p.memory == "value":
        final = int(counter.peek())
    elif p.memory == "array":
        final = int(cells.peek()[0])
    else:
        final = int(block.peek("q"))  # the same 8 bytes, read as the workers read them
        block.close()
        block.unlink()  # the creator destroys the block (the run would, if we forgot)
    return outcome(p, final, workers)


def outcome(p: SharedParams, final: int, workers: list[multiprocessing.Process]) -> Result:
    expected = p.processes * p.times
    lost = expected - final
    if (reason := stop_reason()) is not None:
        return Result(
            f"stopped part way: the counter reached {final} of {expected}; updates not made are not lost ones",
            {"final": final, "stopped": reason},
        )
    died = [w for w in workers if w.exitcode]
    if died:
        return Result(
            "; ".join(f"{w.name} {how_it_ended(w.exitcode)}" for w in died)
            + f": the counter reached {final}, and the dead did not finish their updates",
            {"final": final, "died": [w.name for w in died]},
        )
    how = "under the lock" if p.use_lock else f"with a {p.gap * 1000:g} ms gap between read and write"
    return Result(
        f"final counter {final}, expected {expected}: {lost} updates lost",
        {"final": final, "expected": expected, "lost": lost},
        notice=(
            f"{p.processes} processes each added 1 {p.times} times {how}: "
            + (f"{lost} of {expected} updates were lost." if lost else f"all {expected} survived.")
        ),
    )


SCENARIO = Scenario(
    slug="shared-counter-processes",
    title="Shared counter across processes",
    group="Processes",
    notice=(
        "Each process reads the counter, sleeps a moment, then writes value + 1. Without the "
        "lock two processes read the same value and one write overwrites the other: the "
        "final count falls short. Tick use_lock: the read-sleep-write happens under the "
        "lock (get_lock(), or a multiprocessing.Lock for a SharedMemory block, which has "
        "none), the others wait (red), and no update is lost."
    ),
    params=SharedParams,
    main=main,
    order=40,
    code=(add_many, add_many_in_array, add_many_in_shared_memory, main, outcome),
)
