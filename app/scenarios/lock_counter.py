"""The tutorial's lock example: a shared counter, increment() and decrement() under a Lock."""

from __future__ import annotations

from pydantic import Field

from app.scenarios.base import Params, Result, Scenario
from app.traced import threading, time


class CounterParams(Params):
    pairs: int = Field(
        2, ge=1, le=16, description="K: how many incrementing and how many decrementing threads"
    )
    iterations: int = Field(
        5, ge=1, le=10_000, description="M: how many times each thread changes the counter"
    )
    hold: float = Field(
        0.002, ge=0, le=0.05, description="Seconds each thread keeps the lock: makes the waits visible"
    )


def main(p: CounterParams) -> Result:
    counter = 0
    lock = threading.Lock()

    def increment() -> None:
        nonlocal counter
        for _ in range(p.iterations):
            with lock:
                counter += 1
                time.sleep(p.hold)

    def decrement() -> None:
        nonlocal counter
        for _ in range(p.iterations):
            with lock:
                counter -= 1
                time.sleep(p.hold)

    threads = [threading.Thread(target=increment) for _ in range(p.pairs)]
    threads += [threading.Thread(target=decrement) for _ in range(p.pairs)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    expected = 0
    return Result(
        f"final counter {counter}, expected {expected}",
        {"counter": counter, "expected": expected, "updates": 2 * p.pairs * p.iterations},
    )


SCENARIO = Scenario(
    slug="lock-counter",
    title="Lock counter",
    group="Threads",
    notice=(
        "Only one thread at a time holds the lock (the bar over its lane); the others "
        "wait, drawn in red, until an arrow shows who handed the lock over. Every "
        "update survives: the final counter equals the expected value."
    ),
    params=CounterParams,
    main=main,
    order=20,
)
