"""The tutorial's lock example: a shared counter, increment() and decrement() under a
Lock; and the same program without the lock, to see whether updates get lost."""

from __future__ import annotations

import contextlib

from pydantic import Field

from app.scenarios.base import Params, Result, Scenario, stop_reason
from app.timeline import JSON
from app.traced import threading, time


class CounterParams(Params):
    pairs: int = Field(
        2, ge=1, le=16, description="K: how many incrementing and how many decrementing threads"
    )
    iterations: int = Field(
        5,
        ge=1,
        le=500_000,
        description="M: how many times each thread changes the counter (without the lock, try 200000)",
    )
    hold: float = Field(
        0.002,
        ge=0,
        le=0.05,
        description="Seconds each thread rests after a change (inside the lock, if it takes it): "
        "makes the waits visible; 0 for the most thread switches",
    )
    use_lock: bool = Field(True, description="Take the lock around each change, as the tutorial does")


def main(p: CounterParams) -> Result:
    counter = 0
    lock = threading.Lock()
    guard = lock if p.use_lock else contextlib.nullcontext()
    changes: dict[str, int] = {}  # each thread's own count of the changes it made: no race on these

    def increment() -> None:
        nonlocal counter
        me = threading.current_thread().name
        for _ in range(p.iterations):
            with guard:
                counter += 1
                changes[me] = changes.get(me, 0) + 1
                if p.hold:
                    time.sleep(p.hold)

    def decrement() -> None:
        nonlocal counter
        me = threading.current_thread().name
        for _ in range(p.iterations):
            with guard:
                counter -= 1
                changes[me] = changes.get(me, 0) - 1
                if p.hold:
                    time.sleep(p.hold)

    threads = [threading.Thread(target=increment, name=f"increment-{i + 1}") for i in range(p.pairs)]
    threads += [threading.Thread(target=decrement, name=f"decrement-{i + 1}") for i in range(p.pairs)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return outcome(p, counter, changes)


def outcome(p: CounterParams, counter: int, changes: dict[str, int]) -> Result:
    """What happened, in numbers: the expected value is what the changes that were
    really made add up to, so a stopped run is judged on what it did."""
    made = sum(abs(n) for n in changes.values())
    expected = sum(changes.values())
    off = counter - expected
    values: dict[str, JSON] = {
        "counter": counter,
        "expected": expected,
        "updates": made,
        "use_lock": p.use_lock,
        "off_by": off,
    }
    if (reason := stop_reason()) is not None:
        values["stopped"] = reason
        return Result(
            f"stopped after {made:,} of {2 * p.pairs * p.iterations:,} updates: "
            f"counter {counter}, and those updates add up to {expected}",
            values,
            notice="The run was stopped part way: only the updates made before the stop are counted.",
        )
    summary = f"final counter {counter}, expected {expected}"
    if p.use_lock:
        notice = (
            f"{2 * p.pairs} threads made {made:,} updates, one at a time under the lock: the bar "
            "over a lane is the lock held, red is waiting for it, the arrows show who handed it "
            f"over. Nothing was lost: {counter} = {expected}."
        )
    elif off:
        summary += f": off by {abs(off)}, so at least {abs(off)} updates were lost"
        notice = (
            f"Without the lock, {abs(off)} of {made:,} updates were lost: a thread was switched "
            "out between reading the counter and writing it back, and another's update was "
            "overwritten."
        )
    else:
        summary += f": none of the {made:,} unlocked updates was lost here"
        few = " (With so few, try 200000 iterations and hold 0.)" if made < 100_000 else ""
        notice = (
            f"{made:,} updates without the lock, and none was lost on this interpreter.{few} "
            "CPython 3.11 switches threads only at certain points (a loop's jump back, a "
            "call), never inside `counter += 1` here; nothing promises that (a free-threaded "
            "Python loses updates readily), so it is still a race. The race lesson puts a "
            "pause between the read and the write, and updates are lost every time."
        )
    return Result(summary, values, notice=notice)


def check(p: CounterParams, result: Result) -> str | None:
    """Explore mode's measure: the counter is not what the changes add up to."""
    off = result.values.get("off_by")
    if "stopped" in result.values or not isinstance(off, int) or off == 0:
        return None
    return f"lost update: counter is {result.values['counter']}, expected {result.values['expected']}"


SCENARIO = Scenario(
    slug="lock-counter",
    title="Lock counter",
    group="Threads",
    notice=(
        "Only one thread at a time holds the lock (the bar over its lane); the others "
        "wait, drawn in red, until an arrow shows who handed the lock over. Every "
        "update survives: the final counter equals the expected value. Untick use_lock "
        "and raise the iterations to see whether this interpreter loses updates."
    ),
    params=CounterParams,
    main=main,
    order=20,
    code=(main, outcome),
    check=check,
)
