"""A race: threads add one to a shared counter with the read-modify-write split
open, with or without a lock around it."""

from __future__ import annotations

import contextlib

from pydantic import Field

from app.scenarios.base import Params, Result, Scenario
from app.traced import threading, time
from app.traced.shared import Shared


class RaceParams(Params):
    threads: int = Field(4, ge=2, le=32, description="How many threads add to the counter")
    iterations: int = Field(20, ge=1, le=200, description="How many times each thread adds one")
    window: float = Field(
        0.001,
        ge=0,
        le=0.01,
        description="Seconds between reading the counter and writing it back: the window another "
        "thread slips into (0 still lets others run: time.sleep(0) gives up the interpreter)",
    )
    use_lock: bool = Field(False, description="Hold a lock around the read and the write")


def main(p: RaceParams) -> Result:
    counter = Shared(0, name="counter")
    lock = threading.Lock(name="lock")
    guard = lock if p.use_lock else contextlib.nullcontext()

    def add_one_many_times() -> None:
        for _ in range(p.iterations):
            with guard:
                value = counter.value  # READ the shared counter
                time.sleep(p.window)  # the window: other threads run here
                counter.value = value + 1  # WRITE: overwrites what they wrote meanwhile

    threads = [threading.Thread(target=add_one_many_times) for _ in range(p.threads)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    expected, actual = p.threads * p.iterations, counter.value
    return Result(
        f"counter is {actual}, expected {expected}: {expected - actual} updates lost",
        {
            "expected": expected,
            "actual": actual,
            "lost_updates": expected - actual,
            "use_lock": p.use_lock,
        },
    )


SCENARIO = Scenario(
    slug="race-condition",
    title="Race without a lock",
    group="Synchronisation",
    notice=(
        "Each thread reads the counter, pauses, and writes back what it read plus one. "
        "Two threads that read the same value both write the same result: one update is "
        "lost. The pink bands show a read and the write that overwrote another thread's "
        "update. Tick 'use lock' and run again: the threads take turns and nothing is lost."
    ),
    params=RaceParams,
    main=main,
    order=10,
)
