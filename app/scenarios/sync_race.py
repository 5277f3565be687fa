"""A race: threads add one to a shared counter with the read-modify-write split
open, with or without a lock around it."""

from __future__ import annotations

import contextlib

from pydantic import Field

from app.scenarios.base import Params, Result, Scenario, stop_reason
from app.timeline import JSON
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
    made = [0] * p.threads  # updates each thread made (its own slot: no race here)
    go = threading.Event(name="go")  # a starting line: the threads race from the same moment

    def add_one_many_times(me: int) -> None:
        go.wait()
        for _ in range(p.iterations):
            with guard:
                value = counter.value  # READ the shared counter
                time.sleep(p.window)  # the window: other threads run here
                counter.value = value + 1  # WRITE: overwrites what they wrote meanwhile
            made[me] += 1

    threads = [threading.Thread(target=add_one_many_times, args=(i,)) for i in range(p.threads)]
    for t in threads:
        t.start()
    go.set()
    for t in threads:
        t.join()
    return outcome(p, counter.value, sum(made))


def outcome(p: RaceParams, actual: int, expected: int) -> Result:
    lost = expected - actual
    values: dict[str, JSON] = {
        "expected": expected,
        "actual": actual,
        "lost_updates": lost,
        "use_lock": p.use_lock,
    }
    if (reason := stop_reason()) is not None:
        values["stopped"] = reason
        return Result(
            f"stopped after {expected} of {p.threads * p.iterations} updates: counter {actual}, "
            f"{lost} of those updates lost",
            values,
            notice="The run was stopped part way: only the updates made before the stop are counted.",
        )
    if p.use_lock:
        notice = (
            f"With the lock, {p.threads} threads took turns: each read, paused {p.window * 1000:g} ms "
            f"and wrote under the lock, and all {expected} updates survived."
        )
    elif lost:
        notice = (
            f"{lost} of {expected} updates were lost: two threads read the same value during the "
            f"{p.window * 1000:g} ms window and both wrote it back plus one. The pink band marks the "
            "first lost update; every pink ring is a write that was overwritten. Tick use_lock."
        )
    else:
        notice = (
            f"No update was lost this time ({expected} made): no thread happened to read the "
            "counter between another's read and write. Run it again, or widen the window."
        )
    return Result(f"counter is {actual}, expected {expected}: {lost} updates lost", values, notice=notice)


def check(p: RaceParams, result: Result) -> str | None:
    """Explore mode's measure: an update lost."""
    lost = result.values.get("lost_updates")
    if "stopped" in result.values or not isinstance(lost, int) or lost <= 0:
        return None
    return f"lost update: counter is {result.values['actual']}, expected {result.values['expected']}"


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
    code=(main, outcome),
    check=check,
)
